// Graceful drain under load, through real sockets: readiness flips to 503 first, requests are still
// served during the shutdown delay, in-flight requests finish, WebSockets are closed after the HTTP
// requests, the admin server answers until the end, and no request held for a cold start is left
// without an answer when the connections close.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { once } from 'node:events';
import { WebSocketServer, WebSocket } from 'ws';
import { eventually } from '../../../tests/harness/eventually.ts';
import {
  endpointSlice,
  interceptorRoute,
  request,
  service,
  startBackend,
  startTestInterceptor,
} from '../testing/harness.ts';

test('SIGTERM sequence: readiness 503, serve through the delay, finish in-flight requests, then close', async () => {
  const backend = await startBackend((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow-done'), 1200);
    else res.end('ok');
  });
  const wss = new WebSocketServer({ server: backend.server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
  const ic = await startTestInterceptor(
    [
      interceptorRoute('app', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] }),
      service('app', [{ name: 'http', port: 80 }]),
      endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port),
    ],
    { KEDA_HTTP_SHUTDOWN_DELAY: '400ms', KEDA_HTTP_DRAIN_TIMEOUT: '5s' },
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const outcomes = { ok: 0, refused: 0, failed: [] as string[], closeHeader: 0 };
  let stopLoad = false;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = http.get(ic.url('/'), { headers: { host: 'app.test' }, agent }, (res) => {
        if (res.headers.connection === 'close') outcomes.closeHeader++;
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) outcomes.ok++;
          else outcomes.failed.push(`status ${res.statusCode}`);
          resolve();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        // Refused at connect time = the listener is closed; a load balancer sends these elsewhere.
        if (err.code === 'ECONNREFUSED') outcomes.refused++;
        else outcomes.failed.push(err.code ?? err.message);
        resolve();
      });
    });
  const load = (async () => {
    const workers = Array.from({ length: 4 }, async () => {
      while (!stopLoad) await one();
    });
    await Promise.all(workers);
  })();

  try {
    await new Promise((r) => setTimeout(r, 150));
    const slow = request(ic.url('/slow'), { headers: { host: 'app.test' } });
    const ws = new WebSocket(`ws://127.0.0.1:${ic.running.proxyPort}/`, { headers: { host: 'app.test' } });
    await once(ws, 'open');
    const wsClosed = once(ws, 'close');
    await new Promise((r) => setTimeout(r, 50));

    const t0 = performance.now();
    const shutdown = ic.running.shutdown();
    const ready = await request(ic.admin('/readyz'));
    assert.equal(ready.status, 503, 'readiness flips at once');
    assert.equal(ready.body, 'Service Unavailable');
    const during = await request(ic.url('/'), { headers: { host: 'app.test' } });
    assert.equal(during.status, 200, 'still serving during the shutdown delay');
    assert.equal(during.headers.connection, 'close');
    // The load balancer notices the 503 readiness within the shutdown delay and stops sending new
    // requests here (in a cluster: the endpoint leaves the EndpointSlice). What was sent must succeed.
    await new Promise((r) => setTimeout(r, 150));
    stopLoad = true;

    const slowRes = await slow;
    assert.equal(slowRes.status, 200, 'an in-flight request finishes');
    assert.equal(slowRes.body, 'slow-done');
    await wsClosed;
    // The WebSocket was closed only after the HTTP requests had drained.
    assert.ok(performance.now() - t0 >= 1000);
    await shutdown;
    stopLoad = true;
    await load;
    assert.deepEqual(outcomes.failed, [], 'no request failed');
    assert.equal(outcomes.refused, 0, 'no request was refused');
    assert.ok(outcomes.ok > 10, `served ${outcomes.ok}`);
    assert.ok(outcomes.closeHeader > 0, 'HTTP/1 responses carried Connection: close while draining');
  } finally {
    stopLoad = true;
    agent.destroy();
    await ic.close();
    wss.close();
    await backend.close();
  }
});

test('the drain timeout bounds the wait for a request that never finishes', async () => {
  const backend = await startBackend(() => {
    /* never answers */
  });
  const ic = await startTestInterceptor(
    [
      interceptorRoute('app', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] }),
      service('app', [{ name: 'http', port: 80 }]),
      endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port),
    ],
    { KEDA_HTTP_SHUTDOWN_DELAY: '0s', KEDA_HTTP_DRAIN_TIMEOUT: '300ms' },
  );
  try {
    const stuck = request(ic.url('/'), { headers: { host: 'app.test' } }).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    await ic.running.shutdown();
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 290 && elapsed < 1500, `shutdown took ${elapsed.toFixed(0)} ms`);
    assert.ok((await stuck) instanceof Error);
  } finally {
    await ic.close();
    await backend.close();
  }
});

/** One HTTP/2 request on an open session: status, Retry-After and body, or the stream's error code. */
function h2Request(session: http2.ClientHttp2Session, host: string): Promise<string> {
  return new Promise((resolve) => {
    const s = session.request({ ':path': '/', ':authority': host });
    let status = 0;
    let retryAfter: string | undefined;
    let body = '';
    s.on('response', (h) => {
      status = Number(h[':status']);
      retryAfter = h['retry-after'] as string | undefined;
    });
    s.setEncoding('utf8');
    s.on('data', (c: string) => (body += c));
    s.on('end', () => resolve(`${status} retry-after=${retryAfter} ${body.trim()}`));
    s.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
  });
}

function h1Request(url: string, host: string): Promise<string> {
  return request(url, { headers: { host } }).then(
    (r) => `${r.status} retry-after=${r.headers['retry-after']} ${r.body.trim()}`,
    (err: NodeJS.ErrnoException) => `error ${err.code ?? err.message}`,
  );
}

test('SIGTERM: every held request, and every request held during the shutdown delay, is answered before its connection closes', async () => {
  const backend = await startBackend((_req, res) => res.end('served'));
  const objects = (warmingReady: boolean) => [
    interceptorRoute('cold', { target: { service: 'cold', port: 80 }, rules: [{ hosts: ['cold.test'] }] }),
    service('cold', [{ name: 'http', port: 80 }]),
    endpointSlice('cold', [{ ip: '127.0.0.1', ready: false }], backend.port),
    interceptorRoute('warming', {
      target: { service: 'warming', port: 80 },
      rules: [{ hosts: ['warming.test'] }],
    }),
    service('warming', [{ name: 'http', port: 80 }]),
    endpointSlice('warming', [{ ip: '127.0.0.1', ready: warmingReady }], backend.port),
  ];
  const delayMs = 400;
  const drainMs = 2000;
  const ic = await startTestInterceptor(objects(false), {
    KEDA_HTTP_SHUTDOWN_DELAY: `${delayMs}ms`,
    KEDA_HTTP_DRAIN_TIMEOUT: `${drainMs}ms`,
    KEDA_HTTP_RETRY_AFTER_SECONDS: '7',
  });
  const session = http2.connect(`http://127.0.0.1:${ic.running.proxyPort}`);
  session.on('error', () => undefined);
  const held = (): number =>
    (ic.running.queue.get('default/cold')?.Concurrency ?? 0) +
    (ic.running.queue.get('default/warming')?.Concurrency ?? 0);
  try {
    const before = [
      h1Request(ic.url('/'), 'cold.test'),
      h1Request(ic.url('/'), 'cold.test'),
      h2Request(session, 'cold.test'),
      h2Request(session, 'cold.test'),
    ];
    const warming = [h1Request(ic.url('/'), 'warming.test'), h2Request(session, 'warming.test')];
    await eventually('6 held requests', () => (held() === 6 ? true : undefined), { intervalMs: 20 });

    const t0 = performance.now();
    const shutdown = ic.running.shutdown();
    await new Promise((r) => setTimeout(r, delayMs / 2));
    // Sent during the shutdown delay, on a new connection and on the open HTTP/2 session.
    const during = [h1Request(ic.url('/'), 'cold.test'), h2Request(session, 'cold.test')];
    await eventually('8 held requests', () => (held() === 8 ? true : undefined), { intervalMs: 20 });
    // One app becomes ready while the interceptor drains: its held requests are served.
    await new Promise((r) => setTimeout(r, delayMs));
    await ic.update(objects(true));

    const cold = await Promise.all([...before, ...during]);
    const answeredMs = performance.now() - t0;
    assert.deepEqual(
      cold,
      cold.map(() => '503 retry-after=7 Service Unavailable'),
      'held requests whose app never became ready',
    );
    assert.deepEqual(await Promise.all(warming), [
      '200 retry-after=undefined served',
      '200 retry-after=undefined served',
    ]);
    assert.ok(answeredMs < delayMs + drainMs, `answered ${answeredMs.toFixed(0)} ms after SIGTERM`);
    await shutdown;
  } finally {
    session.destroy();
    await ic.close();
    await backend.close();
  }
});
