// Clients that break the rules, through real sockets against a real interceptor: what reaches a
// backend, and what the client gets back, must be unambiguous in every case.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import {
  endpointSlice,
  interceptorRoute,
  rawRequest,
  request,
  service,
  startBackend,
  startTestInterceptor,
  type Backend,
  type Obj,
  type TestInterceptor,
} from '../testing/harness.ts';

interface Seen {
  method: string;
  url: string;
  host: string | undefined;
}

let a: Backend;
let b: Backend;
const seenA: Seen[] = [];
const seenB: Seen[] = [];
let ic: TestInterceptor;

function recorder(seen: Seen[], name: string): http.RequestListener {
  return (req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host });
    req.resume();
    req.on('end', () => res.end(`${name}:${req.method} ${req.url} host=${req.headers.host ?? '-'}`));
  };
}

const objects = (): Obj[] => [
  interceptorRoute('a', { target: { service: 'a', port: 80 }, rules: [{ hosts: ['a.test'] }] }),
  service('a', [{ name: 'http', port: 80 }]),
  interceptorRoute('b', { target: { service: 'b', port: 80 }, rules: [{ hosts: ['b.test'] }] }),
  service('b', [{ name: 'http', port: 80 }]),
];

before(async () => {
  // Backend "a" has no upgrade listener: Node answers an Upgrade request there as an ordinary one
  // and keeps the connection open for the next request, as many real backends do.
  a = await startBackend(recorder(seenA, 'a'));
  b = await startBackend(recorder(seenB, 'b'));
  ic = await startTestInterceptor(
    [
      ...objects(),
      endpointSlice('a', [{ ip: '127.0.0.1' }], a.port),
      endpointSlice('b', [{ ip: '127.0.0.1' }], b.port),
    ],
    { KEDA_HTTP_REQUEST_BODY_TIMEOUT: '300ms' },
  );
});
after(async () => {
  await ic.close();
  await a.close();
  await b.close();
});

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
}

/** One client connection driven step by step: write, then wait for what comes back. */
class RawConnection {
  readonly socket: net.Socket;
  received = '';
  closed = false;
  readonly #ready: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.#ready = once(this.socket, 'connect').then(() => undefined);
    this.socket.on('data', (c: Buffer) => (this.received += c.toString('latin1')));
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('error', () => {});
  }

  async send(data: string | Buffer): Promise<void> {
    await this.#ready;
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** Waits until `done(received)` holds, or `ms` pass. */
  async until(done: (got: string) => boolean, ms = 2000): Promise<string> {
    const end = performance.now() + ms;
    while (!done(this.received) && !this.closed && performance.now() < end)
      await new Promise((r) => setTimeout(r, 10));
    return this.received;
  }
}

test('an Upgrade the backend answers with 200 is relayed as an ordinary response; the connection never becomes a tunnel', async () => {
  seenA.length = 0;
  seenB.length = 0;
  const c = new RawConnection(ic.running.proxyPort);
  await c.send(
    'GET /chat HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  const first = await c.until((got) => /a:GET \/chat host=a\.test$/.test(got));
  assert.equal(statusOf(first), 200, first);
  assert.match(first, /a:GET \/chat host=a\.test$/);
  // The same connection now asks for another host: it must be routed (to b) or refused, never
  // copied as raw bytes to a's backend.
  await c.send('GET /second HTTP/1.1\r\nHost: b.test\r\n\r\n');
  await c.until((got) => got.includes('b:GET /second'), 500);
  c.socket.destroy();
  assert.deepEqual(
    seenA.map((s) => s.url),
    ['/chat'],
    'the second request did not reach the first backend',
  );
  assert.ok(
    c.closed || seenB.some((s) => s.url === '/second'),
    'the second request is either routed to b or the connection was closed',
  );
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(ic.running.queue.get('default/a')?.Concurrency, 0, `closed=${c.closed}`);
});

test('bytes pipelined behind an Upgrade wait for the 101: after any other answer they never reach the backend', async () => {
  // A raw backend: it records every byte, where a Node backend would drop what follows an Upgrade.
  let received = '';
  const raw = net.createServer((s) => {
    s.on('data', (c: Buffer) => {
      const first = received === '';
      received += c.toString('latin1');
      if (first) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno');
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const pipelined = await startTestInterceptor([
    ...objects(),
    endpointSlice('a', [{ ip: '127.0.0.1' }], (raw.address() as net.AddressInfo).port),
  ]);
  try {
    const c = new RawConnection(pipelined.running.proxyPort);
    await c.send(
      'GET /chat HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n' +
        'GET /smuggled HTTP/1.1\r\nHost: b.test\r\n\r\n',
    );
    const got = await c.until((r) => r.endsWith('no'));
    assert.equal(statusOf(got), 200, got);
    await c.until(() => false, 300);
    c.socket.destroy();
    assert.match(received, /^GET \/chat HTTP\/1\.1\r\n/);
    assert.doesNotMatch(received, /smuggled/);
  } finally {
    await pipelined.close();
    raw.close();
  }
});

test('two Host headers: 400, nothing forwarded', async () => {
  seenA.length = 0;
  seenB.length = 0;
  const raw = await rawRequest(
    ic.running.proxyPort,
    'GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n',
  );
  assert.equal(statusOf(raw), 400, raw);
  assert.equal(seenA.length + seenB.length, 0);
});

test('HTTP/1.1 without Host: 400, nothing forwarded; HTTP/1.0 without Host is routed as usual', async () => {
  seenA.length = 0;
  seenB.length = 0;
  const raw = await rawRequest(ic.running.proxyPort, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n');
  assert.equal(statusOf(raw), 400, raw);
  assert.equal(seenA.length + seenB.length, 0);
  const old = await rawRequest(ic.running.proxyPort, 'GET / HTTP/1.0\r\n\r\n');
  assert.match(old, /^HTTP\/1\.[01] 404 /, 'no route for an empty host, but no 400 either');
});

test('a hop-by-hop token never removes Host: "Connection: host" still sends the Host', async () => {
  seenA.length = 0;
  const raw = await rawRequest(
    ic.running.proxyPort,
    'GET /conn-host HTTP/1.1\r\nHost: a.test\r\nConnection: host, close\r\n\r\n',
  );
  assert.equal(statusOf(raw), 200, raw);
  assert.deepEqual(seenA, [{ method: 'GET', url: '/conn-host', host: 'a.test' }]);
});

test('an absolute-form target routes by its own authority, which the backend gets as Host, in origin form', async () => {
  seenA.length = 0;
  seenB.length = 0;
  const raw = await rawRequest(
    ic.running.proxyPort,
    'GET http://a.test/x?y=1 HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n',
  );
  assert.equal(statusOf(raw), 200, raw);
  assert.deepEqual(seenA, [{ method: 'GET', url: '/x?y=1', host: 'a.test' }]);
  assert.equal(seenB.length, 0);
});

test('HTTP/2: :authority decides the route and is the Host the backend sees; a host header does not override it', async () => {
  seenA.length = 0;
  seenB.length = 0;
  const client = http2.connect(ic.url('/'));
  try {
    const s = client.request({ ':path': '/h2', ':authority': 'a.test', host: 'b.test' });
    let body = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (body += c));
    const [headers] = (await once(s, 'response')) as [http2.IncomingHttpHeaders];
    await once(s, 'end');
    assert.equal(headers[':status'], 200, body);
    assert.equal(body, 'a:GET /h2 host=a.test');
    assert.equal(seenB.length, 0);
  } finally {
    client.close();
  }
});

test('a request body that stalls ends with 408 after KEDA_HTTP_REQUEST_BODY_TIMEOUT', async () => {
  const c = new RawConnection(ic.running.proxyPort);
  const t0 = performance.now();
  await c.send('POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 100\r\n\r\nonly-a-bit');
  const got = await c.until((r) => r.length > 0, 3000);
  const elapsed = performance.now() - t0;
  assert.equal(statusOf(got), 408, got);
  assert.match(got, /\r\nConnection: close\r\n/i);
  assert.ok(elapsed >= 250 && elapsed < 2000, `answered after ${elapsed.toFixed(0)} ms`);
  await c.until(() => false, 500);
  assert.ok(c.closed, 'the connection is closed after the 408');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ic.running.queue.get('default/a')?.Concurrency, 0);
});

test('a body that keeps arriving slowly, each pause shorter than the timeout, is not cut off', async () => {
  const c = new RawConnection(ic.running.proxyPort);
  await c.send('POST /trickle HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\n');
  for (const ch of 'abcde') {
    await new Promise((r) => setTimeout(r, 150));
    await c.send(ch);
  }
  const got = await c.until((r) => r.includes('a:POST /trickle'), 2000);
  assert.equal(statusOf(got), 200, got);
});

test('OPTIONS * is answered as Go answers it (200, no body) and reaches no backend', async () => {
  seenA.length = 0;
  const raw = await rawRequest(
    ic.running.proxyPort,
    'OPTIONS * HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
  );
  assert.equal(statusOf(raw), 200, raw);
  assert.match(raw, /\r\nContent-Length: 0\r\n/i);
  assert.equal(seenA.length, 0);
});

test('WebDAV and other registered method tokens are forwarded as they are; over HTTP/2 any token is', async () => {
  seenA.length = 0;
  for (const method of ['PROPFIND', 'MKCOL', 'REPORT', 'QUERY']) {
    const raw = await rawRequest(
      ic.running.proxyPort,
      `${method} /dav HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(statusOf(raw), 200, `${method}: ${raw}`);
  }
  // HTTP/2 has no method registry: a custom token reaches the pipeline and must be forwarded
  // (HTTP/1.1 ones outside Node's parser's list: server/unknown-methods.test.ts). The backend here
  // is a raw socket, since a Node backend would refuse the token itself.
  const lines: string[] = [];
  const raw = net.createServer((s) =>
    s.once('data', (c: Buffer) => {
      lines.push(c.toString('latin1').split('\r\n', 1)[0] ?? '');
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    }),
  );
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  const custom = await startTestInterceptor([
    ...objects(),
    endpointSlice('a', [{ ip: '127.0.0.1' }], (raw.address() as net.AddressInfo).port),
  ]);
  const client = http2.connect(custom.url('/'));
  try {
    const s = client.request({ ':method': 'FROBNICATE', ':path': '/custom', ':authority': 'a.test' });
    s.end();
    s.resume();
    const [headers] = (await once(s, 'response')) as [http2.IncomingHttpHeaders];
    await once(s, 'end');
    assert.equal(headers[':status'], 200);
    assert.deepEqual(lines, ['FROBNICATE /custom HTTP/1.1']);
  } finally {
    client.close();
    await custom.close();
    raw.close();
  }
  assert.deepEqual(
    seenA.map((s) => s.method),
    ['PROPFIND', 'MKCOL', 'REPORT', 'QUERY'],
  );
});

test('a transfer coding other than chunked: 501, nothing forwarded', async () => {
  seenA.length = 0;
  for (const te of ['gzip, chunked', 'deflate,chunked']) {
    const raw = await rawRequest(
      ic.running.proxyPort,
      `POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: ${te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    );
    assert.equal(statusOf(raw), 501, `${te}: ${raw}`);
    assert.match(raw, /\r\nConnection: close\r\n/i);
  }
  const twoLines = await rawRequest(
    ic.running.proxyPort,
    'POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  );
  assert.equal(statusOf(twoLines), 501, twoLines);
  assert.equal(seenA.length, 0);
  const chunked = await request(ic.url('/plain-chunked'), {
    method: 'POST',
    headers: { host: 'a.test', 'transfer-encoding': 'chunked' },
    body: 'abc',
  });
  assert.equal(chunked.status, 200, 'plain chunked still goes through');
});

test('a held request whose client leaves mid-body is released at once: hold slot, count, pending gauge, drain', async () => {
  const cold = await startTestInterceptor([
    ...objects(),
    endpointSlice('a', [{ ip: '127.0.0.1', ready: false }], a.port),
  ]);
  try {
    const metrics = async (): Promise<string> =>
      (await request(`http://127.0.0.1:${cold.running.metricsPort}/metrics`)).body;
    const c = new RawConnection(cold.running.proxyPort);
    await c.send(
      `POST /big HTTP/1.1\r\nHost: a.test\r\nContent-Type: application/octet-stream\r\nContent-Length: ${4 << 20}\r\n\r\n`,
    );
    // 256 KiB of the 4 MiB body, well past the socket's and the request's buffers.
    for (let i = 0; i < 16; i++) await c.send(Buffer.alloc(16 << 10, 120));
    for (let i = 0; i < 100 && cold.running.ready.waiting !== 1; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(cold.running.ready.waiting, 1, 'the request is held');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(cold.running.queue.get('default/a')?.Concurrency, 1);
    assert.match(
      await metrics(),
      /interceptor_pending_requests\{route_name="a",route_namespace="default"\} 1/,
    );

    c.socket.destroy();
    const t0 = performance.now();
    const waiting = (): number => cold.running.ready.waiting;
    // There is no readiness timeout here: without noticing the departure, the wait never ends.
    for (let i = 0; i < 200 && waiting() !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    const released = performance.now() - t0;
    assert.equal(waiting(), 0, 'no longer waiting for the cold start');
    assert.ok(released < 2000, `released after ${released.toFixed(0)} ms`);
    assert.equal(cold.running.queue.get('default/a')?.Concurrency, 0);
    assert.equal(cold.running.servers.activeRequests, 0, 'nothing left for a drain to wait for');
    const after = await metrics();
    assert.match(after, /interceptor_pending_requests\{route_name="a",route_namespace="default"\} 0/);
    assert.match(
      after,
      /interceptor_cold_start_wait_seconds_count\{route_name="a",route_namespace="default",outcome="client_closed"\} 1/,
    );
  } finally {
    await cold.close();
  }
});

test('HTTP/2: a held request whose client resets its stream mid-body is released at once', async () => {
  const cold = await startTestInterceptor([
    ...objects(),
    endpointSlice('a', [{ ip: '127.0.0.1', ready: false }], a.port),
  ]);
  const client = http2.connect(cold.url('/'));
  client.on('error', () => {});
  try {
    const s = client.request({
      ':method': 'POST',
      ':path': '/big',
      ':authority': 'a.test',
      'content-length': String(4 << 20),
    });
    s.on('error', () => {});
    s.write(Buffer.alloc(256 << 10, 120));
    const waiting = (): number => cold.running.ready.waiting;
    for (let i = 0; i < 100 && waiting() !== 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(waiting(), 1, 'the request is held');
    s.close(http2.constants.NGHTTP2_CANCEL);
    for (let i = 0; i < 40 && waiting() !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(waiting(), 0);
    assert.equal(cold.running.queue.get('default/a')?.Concurrency, 0);
    assert.equal(cold.running.servers.activeRequests, 0);
  } finally {
    client.destroy();
    await cold.close();
  }
});
