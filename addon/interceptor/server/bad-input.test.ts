// Bad input on the proxy port, over raw sockets: every case gets a clean 4xx and nothing reaches the
// backend. Node's strict llhttp parser (never the lenient one) does the rejecting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  endpointSlice,
  interceptorRoute,
  rawRequest,
  service,
  startBackend,
  startTestInterceptor,
  type Backend,
  type TestInterceptor,
} from '../testing/harness.ts';

let backend: Backend;
let ic: TestInterceptor;
let hits = 0;

before(async () => {
  backend = await startBackend((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => res.end('reached'));
  });
  ic = await startTestInterceptor(
    [
      interceptorRoute('app', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] }),
      service('app', [{ name: 'http', port: 80 }]),
      endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port),
    ],
    {},
    undefined,
    { readHeaderTimeoutMs: 400 },
  );
});
after(async () => {
  await ic.close();
  await backend.close();
});

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}

async function expectRejected(data: string | Buffer, status: number): Promise<void> {
  const before = hits;
  const raw = await rawRequest(ic.running.proxyPort, data, 1500);
  assert.equal(statusOf(raw), status, `response was: ${JSON.stringify(raw.slice(0, 120))}`);
  assert.match(raw, /Connection: close/i);
  assert.equal(hits, before, 'the backend must not see a rejected request');
}

test('a well-formed request does reach the backend (the control case)', async () => {
  const raw = await rawRequest(
    ic.running.proxyPort,
    'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n',
  );
  assert.equal(statusOf(raw), 200);
  assert.match(raw, /reached$/);
});

test('malformed request line: 400', async () => {
  await expectRejected('GARBAGE\r\n\r\n', 400);
  await expectRejected('GET /\x01path HTTP/1.1\r\nHost: app.test\r\n\r\n', 400);
});

/** Sends `data` as a connection's first bytes; resolves with what came back once the server closed it. */
function untilClosed(data: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(ic.running.proxyPort, '127.0.0.1', () => s.write(data));
    const open = setTimeout(() => s.destroy(new Error('the server left the connection open')), 1500);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    s.on('close', () => {
      clearTimeout(open);
      resolve(Buffer.concat(chunks));
    });
  });
}

test('a first line naming another protocol than HTTP/1.x, or a broken HTTP/2 preface, is closed unanswered', async () => {
  const before = hits;
  for (const first of [
    'INVALID CONNECTION PREFACE\r\n\r\n', // h2spec's invalid preface
    'PRI * HTTP/2.0\r\n\r\nGARBAGE GARBAGE GARBAGE\r\n',
    'PRI * HTTP/2.0\r\nHost: app.test\r\n\r\n',
    'GET / HTTP/9.9\r\nHost: app.test\r\n\r\n',
  ]) {
    const answer = await untilClosed(first);
    assert.equal(
      answer.length,
      0,
      `${JSON.stringify(first)} was answered ${JSON.stringify(answer.toString('latin1'))}`,
    );
  }
  // The whole preface, then no SETTINGS frame: HTTP/2's own connection error (GOAWAY), then close.
  const afterPreface = await untilClosed('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\ngarbage garbage garbage garbage');
  const frames: { type: number; payload: Buffer }[] = [];
  for (let at = 0; at + 9 <= afterPreface.length; at += 9 + afterPreface.readUIntBE(at, 3)) {
    const length = afterPreface.readUIntBE(at, 3);
    frames.push({
      type: afterPreface[at + 3] ?? -1,
      payload: afterPreface.subarray(at + 9, at + 9 + length),
    });
  }
  const goaway = frames.find((f) => f.type === 0x7);
  assert.ok(goaway, `frames of types ${frames.map((f) => f.type).join(',')}, no GOAWAY`);
  assert.equal(goaway.payload.readUInt32BE(4), 0x1, 'PROTOCOL_ERROR');
  assert.equal(hits, before, 'nothing reached the backend');
});

test('malformed header lines: 400', async () => {
  await expectRejected('GET / HTTP/1.1\r\nHost: app.test\r\nBad Header: x\r\n\r\n', 400);
  await expectRejected('GET / HTTP/1.1\r\nHost: app.test\r\nX-Folded: a\r\n b\r\n\r\n', 400);
  await expectRejected('GET / HTTP/1.1\r\nHost: app.test\r\nX-Nul: a\x00b\r\n\r\n', 400);
});

test("oversized request head (over 1 MiB, Go's limit): 431", async () => {
  await expectRejected(
    `GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: ${'a'.repeat((1 << 20) + 8192)}\r\n\r\n`,
    431,
  );
});

test('oversized request line: 431', async () => {
  await expectRejected(`GET /${'a'.repeat((1 << 20) + 8192)} HTTP/1.1\r\nHost: app.test\r\n\r\n`, 431);
});

test('request smuggling: Content-Length with Transfer-Encoding, or conflicting Content-Lengths: 400', async () => {
  await expectRejected(
    'POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    400,
  );
  await expectRejected(
    'POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
    400,
  );
  await expectRejected(
    'POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: gzip, chunked, identity\r\n\r\n',
    400,
  );
  await expectRejected('POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: -1\r\n\r\n', 400);
});

test('a slow client that never finishes its request head gets 408 and is disconnected', async () => {
  const before = hits;
  const t0 = performance.now();
  const raw = await new Promise<string>((resolve, reject) => {
    let got = '';
    const s = net.connect(ic.running.proxyPort, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: app.te'));
    s.on('data', (c: Buffer) => (got += c.toString()));
    s.on('close', () => resolve(got));
    s.on('error', reject);
    setTimeout(() => s.destroy(), 5000).unref();
  });
  const elapsed = performance.now() - t0;
  assert.equal(statusOf(raw), 408);
  assert.ok(elapsed < 3000, `disconnected after ${elapsed.toFixed(0)} ms`);
  assert.equal(hits, before);
});

test('a connection that sends nothing at all is closed after the header deadline', async () => {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(ic.running.proxyPort, '127.0.0.1');
    s.on('close', () => resolve());
    s.on('error', reject);
    setTimeout(() => s.destroy(new Error('still open')), 5000).unref();
  });
  assert.ok(performance.now() - t0 < 3000);
});

test('TLS bytes on the plain port: 400, not a crash', async () => {
  await expectRejected(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]), 400);
});
