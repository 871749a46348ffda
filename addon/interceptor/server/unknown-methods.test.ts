// HTTP/1.1 methods outside node:http's parser's list (any valid token: RFC 9110 section 9.1),
// through real sockets against a real interceptor, plain and TLS: they reach the backend with their
// method and body like any request, on connections that mix them with known methods, keep-alive and
// pipelined; invalid tokens still get 400 and nothing is forwarded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import {
  endpointSlice,
  interceptorRoute,
  rawRequest,
  service,
  startTestInterceptor,
  type TestInterceptor,
} from '../testing/harness.ts';

const tlsDir = new URL('../testing/tls/', import.meta.url).pathname;
const ca = readFileSync(`${tlsDir}ca.crt`);

interface Seen {
  method: string;
  path: string;
  body: string;
}

/**
 * An echo backend on raw sockets (a Node server would itself refuse the methods under test): it
 * parses each request (Content-Length or chunked body, keep-alive) and answers
 * "<method> <path> body=<body>", after `delayMs`.
 */
function echoBackend(seen: Seen[], delayMs = 0): (socket: net.Socket) => void {
  return (socket) => {
    let buf = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd === -1) return;
        const lines = buf.toString('latin1', 0, headEnd).split('\r\n');
        const [method = '', path = ''] = (lines[0] ?? '').split(' ');
        const header = (name: string): string | undefined =>
          lines
            .slice(1)
            .find((l) => l.toLowerCase().startsWith(`${name}:`))
            ?.slice(name.length + 1)
            .trim();
        let at = headEnd + 4;
        let body = '';
        if (header('transfer-encoding')?.toLowerCase() === 'chunked') {
          for (;;) {
            const eol = buf.indexOf('\r\n', at);
            if (eol === -1) return;
            const size = parseInt(buf.toString('latin1', at, eol), 16);
            if (buf.length < eol + 2 + size + 2) return;
            if (size === 0) {
              at = eol + 4;
              break;
            }
            body += buf.toString('latin1', eol + 2, eol + 2 + size);
            at = eol + 2 + size + 2;
          }
        } else {
          const n = Number(header('content-length') ?? 0);
          if (buf.length < at + n) return;
          body = buf.toString('latin1', at, at + n);
          at += n;
        }
        buf = buf.subarray(at);
        seen.push({ method, path, body });
        const answer = `${method} ${path} body=${body}`;
        const response = `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(answer)}\r\n\r\n${answer}`;
        if (delayMs === 0) socket.write(response);
        else setTimeout(() => socket.write(response), delayMs);
      }
    });
  };
}

const seenPlain: Seen[] = [];
const seenTls: Seen[] = [];
let plainBackend: net.Server;
let tlsBackend: tls.Server;
let ic: TestInterceptor;

before(async () => {
  plainBackend = net.createServer(echoBackend(seenPlain));
  tlsBackend = tls.createServer(
    { cert: readFileSync(`${tlsDir}tls.crt`), key: readFileSync(`${tlsDir}tls.key`) },
    echoBackend(seenTls),
  );
  await new Promise<void>((r) => plainBackend.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => tlsBackend.listen(0, '127.0.0.1', r));
  ic = await startTestInterceptor(
    [
      interceptorRoute('a', { target: { service: 'a', port: 80 }, rules: [{ hosts: ['a.test'] }] }),
      service('a', [{ name: 'http', port: 80 }]),
      endpointSlice('a', [{ ip: '127.0.0.1' }], (plainBackend.address() as net.AddressInfo).port),
      interceptorRoute('app', {
        target: { service: 'app', port: 443 },
        rules: [{ hosts: ['default.test'] }],
      }),
      service('app', [{ name: 'https', port: 443 }]),
      endpointSlice('app', [{ ip: '127.0.0.1' }], (tlsBackend.address() as net.AddressInfo).port, 'https'),
    ],
    {
      KEDA_HTTP_PROXY_TLS_ENABLED: 'true',
      KEDA_HTTP_PROXY_TLS_PORT: '0',
      KEDA_HTTP_PROXY_TLS_CERT_PATH: `${tlsDir}tls.crt`,
      KEDA_HTTP_PROXY_TLS_KEY_PATH: `${tlsDir}tls.key`,
    },
  );
});
after(async () => {
  await ic.close();
  plainBackend.close();
  tlsBackend.close();
});

/** One client connection driven step by step: write, then wait until what came back satisfies a test. */
class Client {
  readonly socket: net.Socket;
  received = '';
  closed = false;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => (this.received += c.toString('latin1')));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static async plain(): Promise<Client> {
    const s = net.connect(ic.running.proxyPort, '127.0.0.1');
    await once(s, 'connect');
    return new Client(s);
  }

  static async tls(): Promise<Client> {
    const s = tls.connect({
      port: ic.running.tlsPort ?? 0,
      host: '127.0.0.1',
      servername: 'default.test',
      ca,
      ALPNProtocols: ['http/1.1'],
    });
    await once(s, 'secureConnect');
    return new Client(s);
  }

  /** Waits until `count` responses have fully arrived (or the connection closed, or 3 s passed). */
  async responses(count: number): Promise<string[]> {
    const end = performance.now() + 3000;
    let parsed = parseResponses(this.received);
    while (parsed.length < count && !this.closed && performance.now() < end) {
      await new Promise((r) => setTimeout(r, 10));
      parsed = parseResponses(this.received);
    }
    return parsed;
  }
}

/** "<status> <body>" for each complete response in `raw` (Content-Length bodies). */
function parseResponses(raw: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (;;) {
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd === -1) return out;
    const head = raw.slice(at, headEnd);
    const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? '?';
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (raw.length < headEnd + 4 + length) return out;
    out.push(`${status} ${raw.slice(headEnd + 4, headEnd + 4 + length)}`);
    at = headEnd + 4 + length;
  }
}

async function closed(c: Client): Promise<boolean> {
  for (let i = 0; i < 100 && !c.closed; i++) await new Promise((r) => setTimeout(r, 10));
  return c.closed;
}

const longToken = `X-${'Custom'.repeat(20)}_Method.v1!#$%&'*+^\`|~`;

test('methods node:http does not know reach the backend with their method and body', async () => {
  seenPlain.length = 0;
  for (const method of ['FOO', 'BREW', 'MKWORKSPACE', 'BASELINE-CONTROL', 'get', longToken]) {
    const raw = await rawRequest(
      ic.running.proxyPort,
      `${method} /m?q=1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
    );
    assert.deepEqual(parseResponses(raw), [`200 ${method} /m?q=1 body=hello`], raw);
  }
  // Known ones are untouched; PURGE and MKCALENDAR are in Node's list.
  for (const method of ['PURGE', 'MKCALENDAR']) {
    const raw = await rawRequest(
      ic.running.proxyPort,
      `${method} /k HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n`,
    );
    assert.deepEqual(parseResponses(raw), [`200 ${method} /k body=`], raw);
  }
  assert.deepEqual(
    seenPlain.map((s) => s.method),
    ['FOO', 'BREW', 'MKWORKSPACE', 'BASELINE-CONTROL', 'get', longToken, 'PURGE', 'MKCALENDAR'],
  );
  assert.ok(
    seenPlain.every((s) => !JSON.stringify(s).includes('x-keda-http-method')),
    'the method header never leaves',
  );
});

test('RTSP method names that llhttp refuses on HTTP/1.x lines (PLAY, DESCRIBE) are forwarded too', async () => {
  seenPlain.length = 0;
  for (const method of ['PLAY', 'DESCRIBE', 'SET_PARAMETER']) {
    const raw = await rawRequest(
      ic.running.proxyPort,
      `${method} /r HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n`,
    );
    assert.deepEqual(parseResponses(raw), [`200 ${method} /r body=`], raw);
  }
});

test('a chunked body with an unknown method is framed and forwarded', async () => {
  const raw = await rawRequest(
    ic.running.proxyPort,
    'FOO /chunked HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
  );
  assert.deepEqual(parseResponses(raw), ['200 FOO /chunked body=abcde'], raw);
});

test('keep-alive: one connection mixing known and unknown methods, one request at a time', async () => {
  seenPlain.length = 0;
  const c = await Client.plain();
  const sequence = ['GET', 'FOO', 'POST', 'BAR', 'BAR', 'PURGE', 'GET'];
  for (const [i, method] of sequence.entries()) {
    c.socket.write(`${method} /${i} HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\n\r\nb${i}`);
    const got = await c.responses(i + 1);
    assert.equal(got[i], `200 ${method} /${i} body=b${i}`, JSON.stringify(got));
  }
  assert.equal(c.closed, false, 'the connection stays open');
  c.socket.destroy();
  assert.deepEqual(
    seenPlain.map((s) => `${s.method} ${s.path} ${s.body}`),
    sequence.map((m, i) => `${m} /${i} b${i}`),
  );
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ic.running.queue.get('default/a')?.Concurrency, 0);
});

test('pipelined: known and unknown methods, with and without bodies, in one write', async () => {
  seenPlain.length = 0;
  const c = await Client.plain();
  c.socket.write(
    'GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n' +
      'POST /2 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nxyz' +
      'FOO /3 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\n\r\nGET ' +
      'GET /4 HTTP/1.1\r\nHost: a.test\r\n\r\n' +
      'UNLOCKX /5 HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nq\r\n0\r\n\r\n' +
      'BAR /6 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
  );
  const got = await c.responses(6);
  assert.deepEqual(got, [
    '200 GET /1 body=',
    '200 POST /2 body=xyz',
    '200 FOO /3 body=GET ',
    '200 GET /4 body=',
    '200 UNLOCKX /5 body=q',
    '200 BAR /6 body=',
  ]);
  // Pipelined requests are forwarded side by side (their responses still leave in order).
  assert.deepEqual(seenPlain.map((s) => s.method).sort(), ['BAR', 'FOO', 'GET', 'GET', 'POST', 'UNLOCKX']);
});

test('a pipelined unknown method right after a Content-Length body that ends in token bytes', async () => {
  seenPlain.length = 0;
  const c = await Client.plain();
  c.socket.write(
    'POST /1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc' +
      'FOO /2 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(await c.responses(2), ['200 POST /1 body=abc', '200 FOO /2 body=']);
});

test('invalid method tokens get 400 and nothing is forwarded', async () => {
  seenPlain.length = 0;
  for (const method of ['A(B', 'FO"O', 'BA[R]', 'FOO{}']) {
    const raw = await rawRequest(
      ic.running.proxyPort,
      `${method} / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\n\r\n`,
    );
    assert.match(raw, /^HTTP\/1\.1 400 /, `${method}: ${raw}`);
  }
  // A space inside the "method" makes the line malformed.
  const spaced = await rawRequest(ic.running.proxyPort, 'FOO BAR / HTTP/1.1\r\nHost: a.test\r\n\r\n');
  assert.match(spaced, /^HTTP\/1\.1 400 /, spaced);
  // An invalid token after a served unknown one on the same connection.
  const c = await Client.plain();
  c.socket.write('FOO /ok HTTP/1.1\r\nHost: a.test\r\n\r\n');
  assert.deepEqual(await c.responses(1), ['200 FOO /ok body=']);
  c.socket.write('B(AD /no HTTP/1.1\r\nHost: a.test\r\n\r\n');
  const got = await c.responses(2);
  assert.match(got[1] ?? '', /^400 /, JSON.stringify(got));
  assert.ok(await closed(c), 'the connection is closed after the 400');
  assert.deepEqual(
    seenPlain.map((s) => s.method),
    ['FOO'],
  );
});

test('TLS listener: unknown methods are forwarded, keep-alive mixed with known ones', async () => {
  seenTls.length = 0;
  const c = await Client.tls();
  const sequence = ['FOO', 'GET', 'BREW', 'POST'];
  for (const [i, method] of sequence.entries()) {
    c.socket.write(`${method} /t${i} HTTP/1.1\r\nHost: default.test\r\nContent-Length: 1\r\n\r\n${i}`);
    const got = await c.responses(i + 1);
    assert.equal(got[i], `200 ${method} /t${i} body=${i}`, JSON.stringify(got));
  }
  c.socket.destroy();
  assert.deepEqual(
    seenTls.map((s) => s.method),
    sequence,
  );
  const bad = await Client.tls();
  bad.socket.write('A(B / HTTP/1.1\r\nHost: default.test\r\n\r\n');
  const got = await bad.responses(1);
  assert.match(got[0] ?? '', /^400 /);
  assert.equal(seenTls.length, sequence.length, 'nothing forwarded');
  bad.socket.destroy();
});

test('a request line inside the body of an unknown method stays body: nothing smuggled past routing', async () => {
  seenPlain.length = 0;
  const inner = 'BAR /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n';
  const c = await Client.plain();
  c.socket.write(
    `FOO /outer HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${inner.length}\r\n\r\n${inner}` +
      'GET /next HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n',
  );
  assert.deepEqual(await c.responses(2), [`200 FOO /outer body=${inner}`, '200 GET /next body=']);
  assert.deepEqual(seenPlain.map((s) => s.path).sort(), ['/next', '/outer']);
});

test('an unknown method on a cold route is counted and held like any request, then forwarded with its body', async () => {
  const seen: Seen[] = [];
  const backend = net.createServer(echoBackend(seen));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const objects = (ready: boolean): ReturnType<typeof service>[] => [
    interceptorRoute('cold', { target: { service: 'cold', port: 80 }, rules: [{ hosts: ['cold.test'] }] }),
    service('cold', [{ name: 'http', port: 80 }]),
    endpointSlice('cold', [{ ip: '127.0.0.1', ready }], (backend.address() as net.AddressInfo).port),
  ];
  const cold = await startTestInterceptor(objects(false));
  try {
    const s = net.connect(cold.running.proxyPort, '127.0.0.1');
    await once(s, 'connect');
    const c = new Client(s);
    c.socket.write('BREW /pot HTTP/1.1\r\nHost: cold.test\r\nContent-Length: 3\r\n\r\ntea');
    for (let i = 0; i < 100 && cold.running.ready.waiting !== 1; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(cold.running.ready.waiting, 1, 'held');
    const counter = cold.running.queue.get('default/cold');
    assert.deepEqual([counter?.Concurrency, counter?.RequestCount], [1, 1], 'counted');
    assert.equal(seen.length, 0);
    await cold.update(objects(true));
    const got = await c.responses(1);
    assert.deepEqual(got, ['200 BREW /pot body=tea']);
    assert.match(c.received, /\r\nx-keda-http-cold-start: true\r\n/i);
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(cold.running.queue.get('default/cold')?.Concurrency, 0);
    assert.equal(cold.running.servers.activeRequests, 0);
    const metrics = await fetch(`http://127.0.0.1:${cold.running.metricsPort}/metrics`).then((r) => r.text());
    assert.match(metrics, /interceptor_request_count_total\{code="200",method="_OTHER",route_name="cold"/);
  } finally {
    await cold.close();
    backend.close();
  }
});

test('an unknown method pipelined behind a held request waits for its answer, then goes through', async () => {
  const seen: Seen[] = [];
  const backend = net.createServer(echoBackend(seen));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const objects = (ready: boolean): ReturnType<typeof service>[] => [
    interceptorRoute('cold', { target: { service: 'cold', port: 80 }, rules: [{ hosts: ['cold.test'] }] }),
    service('cold', [{ name: 'http', port: 80 }]),
    endpointSlice('cold', [{ ip: '127.0.0.1', ready }], (backend.address() as net.AddressInfo).port),
  ];
  const cold = await startTestInterceptor(objects(false));
  try {
    const s = net.connect(cold.running.proxyPort, '127.0.0.1');
    await once(s, 'connect');
    const c = new Client(s);
    c.socket.write(
      'GET /first HTTP/1.1\r\nHost: cold.test\r\n\r\nBREW /second HTTP/1.1\r\nHost: cold.test\r\nContent-Length: 1\r\n\r\nx',
    );
    for (let i = 0; i < 100 && cold.running.ready.waiting !== 1; i++)
      await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(cold.running.ready.waiting, 1, 'the GET is held');
    await cold.update(objects(true));
    assert.deepEqual(await c.responses(2), ['200 GET /first body=', '200 BREW /second body=x']);
    assert.deepEqual(
      seen.map((r) => r.method),
      ['GET', 'BREW'],
    );
    c.socket.destroy();
  } finally {
    await cold.close();
    backend.close();
  }
});

test('a WebSocket Upgrade after an unknown method on the same connection still becomes a tunnel', async () => {
  // A raw backend: 200 to ordinary requests, 101 to an Upgrade, then echoes what follows.
  const backend = net.createServer((s) => {
    let buf = '';
    let tunnel = false;
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      if (tunnel) return void s.write(`echo:${c.toString('latin1')}`);
      buf += c.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        if (/\r\nupgrade: websocket/i.test(head)) {
          tunnel = true;
          s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
          return;
        }
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const ws = await startTestInterceptor([
    interceptorRoute('a', { target: { service: 'a', port: 80 }, rules: [{ hosts: ['a.test'] }] }),
    service('a', [{ name: 'http', port: 80 }]),
    endpointSlice('a', [{ ip: '127.0.0.1' }], (backend.address() as net.AddressInfo).port),
  ]);
  try {
    const s = net.connect(ws.running.proxyPort, '127.0.0.1');
    await once(s, 'connect');
    const c = new Client(s);
    c.socket.write('FOO /x HTTP/1.1\r\nHost: a.test\r\n\r\n');
    assert.deepEqual(await c.responses(1), ['200 ok']);
    c.socket.write('GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    for (let i = 0; i < 100 && !c.received.includes(' 101 '); i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.match(c.received, /HTTP\/1\.1 101 Switching Protocols/);
    c.socket.write('hello');
    for (let i = 0; i < 100 && !c.received.endsWith('echo:hello'); i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.ok(c.received.endsWith('echo:hello'), c.received);
    assert.equal(ws.running.servers.upgradedConnections, 1);
    c.socket.destroy();
  } finally {
    await ws.close();
    backend.close();
  }
});

test('the drain waits for an unknown method in flight on a taken-over connection', async () => {
  const seen: Seen[] = [];
  const slow = net.createServer(echoBackend(seen, 500));
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const draining = await startTestInterceptor([
    interceptorRoute('a', { target: { service: 'a', port: 80 }, rules: [{ hosts: ['a.test'] }] }),
    service('a', [{ name: 'http', port: 80 }]),
    endpointSlice('a', [{ ip: '127.0.0.1' }], (slow.address() as net.AddressInfo).port),
  ]);
  try {
    const s = net.connect(draining.running.proxyPort, '127.0.0.1');
    await once(s, 'connect');
    const c = new Client(s);
    c.socket.write('GET /first HTTP/1.1\r\nHost: a.test\r\n\r\n');
    assert.deepEqual(await c.responses(1), ['200 GET /first body=']);
    c.socket.write('FOO /slow HTTP/1.1\r\nHost: a.test\r\n\r\n');
    for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    const shutdown = draining.running.shutdown();
    const got = await c.responses(2);
    await shutdown;
    assert.deepEqual(got, ['200 GET /first body=', '200 FOO /slow body='], 'answered, not cut off');
    assert.ok(await closed(c), 'then the drain closes the connection');
  } finally {
    await draining.close();
    slow.close();
  }
});

// Last: the switches are per process, and this interceptor turns one off.
test('switched off (KEDA_HTTP_INTERNALS_METHOD_FALLBACK=false): 400 as node:http answers it, nothing forwarded', async () => {
  const off = await startTestInterceptor(
    [
      interceptorRoute('a', { target: { service: 'a', port: 80 }, rules: [{ hosts: ['a.test'] }] }),
      service('a', [{ name: 'http', port: 80 }]),
      endpointSlice('a', [{ ip: '127.0.0.1' }], (plainBackend.address() as net.AddressInfo).port),
    ],
    { KEDA_HTTP_INTERNALS_METHOD_FALLBACK: 'false' },
  );
  try {
    seenPlain.length = 0;
    const raw = await rawRequest(off.running.proxyPort, 'FOO / HTTP/1.1\r\nHost: a.test\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /, raw);
    assert.equal(seenPlain.length, 0);
  } finally {
    await off.close();
  }
});
