// KEDA_HTTP_REQUEST_BODY_TIMEOUT on HTTP/2 streams, through real h2c and h2 (TLS) clients against a
// real interceptor: a stream whose body stalls gets 408 (or, once its response has started, a
// reset), its backend request is aborted and its count released.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import {
  endpointSlice,
  interceptorRoute,
  service,
  startBackend,
  startTestInterceptor,
  type Backend,
  type TestInterceptor,
} from '../testing/harness.ts';

const tlsDir = new URL('../testing/tls/', import.meta.url).pathname;
const ca = readFileSync(`${tlsDir}ca.crt`);

/** What a backend saw of each request: its path, and whether it ended complete or aborted. */
const outcomes = new Map<string, 'complete' | 'aborted'>();

/**
 * /wait-body answers once the whole body has arrived; /answer-first sends its response head and a
 * first chunk at once, then waits for the body; /slow-reader waits a second before reading.
 */
const handler: http.RequestListener = (req, res) => {
  const path = req.url ?? '';
  // /slow-reader reads nothing for its first second: the interceptor is pushed back, not stalled.
  if (path.startsWith('/slow-reader')) setTimeout(() => req.resume(), 1000);
  else req.resume();
  req.on('end', () => {
    outcomes.set(path, 'complete');
    res.end('done');
  });
  req.on('close', () => {
    if (!req.complete) outcomes.set(path, 'aborted');
  });
  if (path.startsWith('/answer-first')) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('started');
  }
};

let plainBackend: Backend;
let tlsBackend: Backend;
let ic: TestInterceptor;

before(async () => {
  plainBackend = await startBackend(handler);
  tlsBackend = await startBackend(
    handler,
    https.createServer({ cert: readFileSync(`${tlsDir}tls.crt`), key: readFileSync(`${tlsDir}tls.key`) }),
  );
  ic = await startTestInterceptor(
    [
      interceptorRoute('a', { target: { service: 'a', port: 80 }, rules: [{ hosts: ['a.test'] }] }),
      service('a', [{ name: 'http', port: 80 }]),
      endpointSlice('a', [{ ip: '127.0.0.1' }], plainBackend.port),
      interceptorRoute('app', {
        target: { service: 'app', port: 443 },
        rules: [{ hosts: ['default.test'] }],
      }),
      service('app', [{ name: 'https', port: 443 }]),
      endpointSlice('app', [{ ip: '127.0.0.1' }], tlsBackend.port, 'https'),
    ],
    {
      KEDA_HTTP_REQUEST_BODY_TIMEOUT: '300ms',
      KEDA_HTTP_PROXY_TLS_ENABLED: 'true',
      KEDA_HTTP_PROXY_TLS_PORT: '0',
      KEDA_HTTP_PROXY_TLS_CERT_PATH: `${tlsDir}tls.crt`,
      KEDA_HTTP_PROXY_TLS_KEY_PATH: `${tlsDir}tls.key`,
    },
  );
});
after(async () => {
  await ic.close();
  await plainBackend.close();
  await tlsBackend.close();
});

interface StreamResult {
  status: number | undefined;
  body: string;
  rstCode: number | undefined;
  /** Milliseconds from sending the first body bytes to the response head, and to the stream's close. */
  headAfterMs: number | undefined;
  closedAfterMs: number;
}

/** Opens a POST announcing 100 bytes, sends 10 of them, then nothing; reports how the stream ends. */
async function stalledPost(
  session: http2.ClientHttp2Session,
  authority: string,
  path: string,
): Promise<StreamResult> {
  const s = session.request({
    ':method': 'POST',
    ':path': path,
    ':authority': authority,
    'content-length': '100',
  });
  s.on('error', () => {});
  const t0 = performance.now();
  s.write('only-a-bit');
  const result: StreamResult = {
    status: undefined,
    body: '',
    rstCode: undefined,
    headAfterMs: undefined,
    closedAfterMs: 0,
  };
  s.on('response', (h) => {
    result.status = Number(h[':status']);
    result.headAfterMs = performance.now() - t0;
  });
  s.setEncoding('utf8');
  s.on('data', (c: string) => (result.body += c));
  const closed = once(s, 'close');
  const timeout = new Promise((r) => setTimeout(r, 3000));
  await Promise.race([closed, timeout]);
  result.closedAfterMs = performance.now() - t0;
  result.rstCode = s.closed ? s.rstCode : undefined;
  if (!s.closed) s.close(http2.constants.NGHTTP2_CANCEL);
  return result;
}

async function settled(path: string): Promise<void> {
  for (let i = 0; i < 100 && !outcomes.has(path); i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
}

function connections(): { name: string; connect: () => http2.ClientHttp2Session; authority: string }[] {
  return [
    { name: 'h2c', connect: () => http2.connect(ic.url('/')), authority: 'a.test' },
    {
      name: 'h2 over TLS',
      connect: () =>
        http2.connect(`https://127.0.0.1:${ic.running.tlsPort}`, { ca, servername: 'default.test' }),
      authority: 'default.test',
    },
  ];
}

for (const conn of connections()) {
  test(`${conn.name}: a stream whose body stalls gets 408, its stream is closed, its backend request aborted`, async () => {
    const session = conn.connect();
    session.on('error', () => {});
    try {
      const path = `/wait-body/${conn.name.replaceAll(' ', '-')}`;
      const r = await stalledPost(session, conn.authority, path);
      assert.equal(r.status, 408, JSON.stringify(r));
      assert.equal(r.body, 'Request Timeout\n');
      assert.ok((r.headAfterMs ?? 0) >= 250 && (r.headAfterMs ?? 0) < 2000, JSON.stringify(r));
      assert.ok(r.closedAfterMs < 2500, `the stream is closed after the 408: ${JSON.stringify(r)}`);
      await settled(path);
      assert.equal(outcomes.get(path), 'aborted');
      const key = conn.authority === 'a.test' ? 'default/a' : 'default/app';
      assert.equal(ic.running.queue.get(key)?.Concurrency, 0);
      // The session itself is unharmed: another request on it goes through.
      const ok = session.request({ ':path': '/after', ':authority': conn.authority });
      ok.resume();
      const [h] = (await once(ok, 'response')) as [http2.IncomingHttpHeaders];
      assert.equal(h[':status'], 200);
    } finally {
      session.close();
    }
  });

  test(`${conn.name}: a stream whose body stalls after its response started is reset (CANCEL)`, async () => {
    const session = conn.connect();
    session.on('error', () => {});
    try {
      const path = `/answer-first/${conn.name.replaceAll(' ', '-')}`;
      const r = await stalledPost(session, conn.authority, path);
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.equal(r.body, 'started');
      assert.equal(r.rstCode, http2.constants.NGHTTP2_CANCEL, JSON.stringify(r));
      assert.ok(r.closedAfterMs >= 250 && r.closedAfterMs < 2500, JSON.stringify(r));
      await settled(path);
      assert.equal(outcomes.get(path), 'aborted');
      const key = conn.authority === 'a.test' ? 'default/a' : 'default/app';
      assert.equal(ic.running.queue.get(key)?.Concurrency, 0);
    } finally {
      session.close();
    }
  });
}

test('h2c: a body that keeps arriving, each pause shorter than the timeout, is not cut off', async () => {
  const session = http2.connect(ic.url('/'));
  try {
    const s = session.request({
      ':method': 'POST',
      ':path': '/wait-body/trickle',
      ':authority': 'a.test',
      'content-length': '5',
    });
    let body = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (body += c));
    const response = once(s, 'response');
    for (const ch of 'abcde') {
      await new Promise((r) => setTimeout(r, 150));
      s.write(ch);
    }
    s.end();
    const [h] = (await response) as [http2.IncomingHttpHeaders];
    await once(s, 'end');
    assert.equal(h[':status'], 200);
    assert.equal(body, 'done');
  } finally {
    session.close();
  }
});

test('h2c: a backend that does not read for a while pushes the client back; that is no stall', async () => {
  const session = http2.connect(ic.url('/'));
  try {
    // Far more than the loopback buffers between interceptor and backend hold, so the client's
    // stream is stopped by flow control for most of the backend's pause (3x the timeout).
    const size = 32 << 20;
    const s = session.request({
      ':method': 'POST',
      ':path': '/slow-reader',
      ':authority': 'a.test',
      'content-length': String(size),
    });
    let body = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (body += c));
    const response = once(s, 'response');
    s.end(Buffer.alloc(size, 97));
    const [h] = (await response) as [http2.IncomingHttpHeaders];
    await once(s, 'end');
    assert.equal(h[':status'], 200, body);
    assert.equal(body, 'done');
  } finally {
    session.close();
  }
});
