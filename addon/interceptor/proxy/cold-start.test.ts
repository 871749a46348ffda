// Cold start through real sockets: held requests, readiness from EndpointSlices (a real FileStore
// re-read on change), the timeout rules, 502 vs 504, fallback, placeholder, static routes, bounded
// holding, retry on a refused first connection, and push activation on /queue/watch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import {
  endpointSlice,
  interceptorRoute,
  request,
  service,
  startBackend,
  startTestInterceptor,
  type Backend,
  refusingPort,
  quietLogger,
  watchQueue,
  type Obj,
} from '../testing/harness.ts';
import { idleDelayMs } from '../queue/watch.ts';

let backend: Backend;
let fallbackBackend: Backend;
let hits = 0;

before(async () => {
  backend = await startBackend((req, res) => {
    hits++;
    if (req.url?.startsWith('/slow-headers')) {
      setTimeout(() => res.end('late'), 2000).unref();
      return;
    }
    if (req.url?.startsWith('/reset')) {
      req.socket.destroy();
      return;
    }
    res.end(`backend:${req.url}`);
  });
  fallbackBackend = await startBackend((req, res) => res.end(`fallback:${req.url}`));
});
after(async () => {
  await backend.close();
  await fallbackBackend.close();
});

const svc = service('app', [{ name: 'http', port: 80 }]);
const notReady = (): Obj => endpointSlice('app', [{ ip: '127.0.0.1', ready: false }], backend.port);
const ready = (): Obj => endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port);
const route = (spec: Obj = {}): Obj =>
  interceptorRoute('app', {
    target: { service: 'app', portName: 'http' },
    rules: [{ hosts: ['app.test'] }],
    ...spec,
  });
const host = { host: 'app.test' };

test('a request is counted, held until the EndpointSlice turns ready, then answered with X-KEDA-HTTP-Cold-Start: true', async () => {
  const objs = [route(), svc];
  const ic = await startTestInterceptor([...objs, notReady()]);
  try {
    const pending = request(ic.url('/hello'), { headers: host });
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(ic.running.queue.get('default/app')?.Concurrency, 1, 'held requests are counted');
    await ic.update([...objs, ready()]);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'backend:/hello');
    assert.equal(r.headers['x-keda-http-cold-start'], 'true');
    const warm = await request(ic.url('/'), { headers: host });
    assert.equal(warm.headers['x-keda-http-cold-start'], 'false');
    assert.equal(ic.running.queue.get('default/app')?.Concurrency, 0);
    assert.equal(ic.running.queue.get('default/app')?.RequestCount, 2);
  } finally {
    await ic.close();
  }
});

test('a client that gives up while held leaves nothing waiting; the rest are all released', async () => {
  const objs = [route(), svc];
  const ic = await startTestInterceptor([...objs, notReady()]);
  try {
    const held = [1, 2, 3].map((i) => request(ic.url(`/held-${i}`), { headers: host }));
    const gone = http.get(ic.url('/gone'), { headers: host });
    gone.on('error', () => {});
    const waiting = async (n: number): Promise<void> => {
      for (let i = 0; i < 100 && ic.running.ready.waiting !== n; i++)
        await new Promise((r) => setTimeout(r, 20));
      assert.equal(ic.running.ready.waiting, n);
    };
    await waiting(4);
    gone.destroy();
    await waiting(3);
    assert.equal(
      ic.running.queue.get('default/app')?.Concurrency,
      3,
      'the one that left is no longer counted',
    );
    await ic.update([...objs, ready()]);
    const answers = await Promise.all(held);
    assert.deepEqual(
      answers.map((r) => [r.status, r.body]),
      [1, 2, 3].map((i) => [200, `backend:/held-${i}`]),
    );
    assert.equal(ic.running.ready.waiting, 0);
  } finally {
    await ic.close();
  }
});

test('while requests are held and the interceptor is idle, the young generation is scavenged (the release does not pay for it)', async () => {
  const objs = [route(), svc];
  const lines: string[] = [];
  const ic = await startTestInterceptor([...objs, notReady()], {}, quietLogger(lines));
  try {
    const scavenged = (): string[] => lines.filter((l) => l.includes('scavenged while idle'));
    // Live young objects, as a burst of held requests leaves behind (this process is the interceptor's).
    let young: { i: number; s: string }[] | undefined = [];
    for (let i = 0; i < 200_000; i++) young.push({ i, s: `held-${i}` });
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(scavenged(), [], 'nothing held: no scavenge is forced');
    // Caught: if the assertions below fail, close() hangs these up.
    const held = [1, 2, 3].map((i) =>
      request(ic.url(`/held-${i}`), { headers: host }).catch((err: Error) => ({ status: err.message })),
    );
    for (let i = 0; i < 200_000; i++) young.push({ i, s: `held-${i}` });
    for (let i = 0; i < 100 && scavenged().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const line = JSON.parse(scavenged()[0] ?? '{}') as { held?: number; newSpaceMiB?: number };
    assert.equal(line.held, 3);
    assert.ok((line.newSpaceMiB ?? 0) >= 4, `a young generation worth a pause (${line.newSpaceMiB} MiB)`);
    assert.equal(young.length, 400_000);
    young = undefined;
    await ic.update([...objs, ready()]);
    assert.deepEqual(
      (await Promise.all(held)).map((r) => r.status),
      [200, 200, 200],
    );
  } finally {
    await ic.close();
  }
});

test('a request or WebSocket upgrade arriving while held requests are still being released waits behind them (FIFO)', async () => {
  const arrivals: string[] = [];
  let sendLate: (() => void) | undefined;
  const ordered = await startBackend((req, res) => {
    arrivals.push(req.url ?? '');
    if (arrivals.length === 1) sendLate?.();
    res.end('ok');
  });
  // The upgrade has a connection of its own, so its turn shows in what is still waiting when it arrives.
  let waitingAtUpgrade = -1;
  ordered.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
    waitingAtUpgrade = ic.running.ready.waiting;
    socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  });
  const slice = (isReady: boolean): Obj =>
    endpointSlice('app', [{ ip: '127.0.0.1', ready: isReady }], ordered.port);
  const objs = [route(), svc];
  // One backend connection: the backend then sees requests in the order the interceptor sends them.
  const ic = await startTestInterceptor([...objs, slice(false)], { KEDA_HTTP_MAX_CONNS_PER_HOST: '1' });
  try {
    const heldCount = 400; // released 64 per event-loop turn: seven turns
    const held = Array.from({ length: heldCount }, (_, i) =>
      request(ic.url(`/held-${i}`), { headers: host }),
    );
    for (let i = 0; i < 250 && ic.running.ready.waiting < heldCount; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(ic.running.ready.waiting, heldCount);
    // Connected before the flip; their requests leave the moment the first held one reaches the backend.
    const late = await Promise.all(
      [0, 1, 2, 3].map(
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect(Number(new URL(ic.url('/')).port), '127.0.0.1', () => resolve(s));
            s.once('error', reject);
          }),
      ),
    );
    let leftWhenSent = -1;
    const lateAnswers = late.map(
      (s) =>
        new Promise<string>((resolve) => {
          let got = '';
          s.on('data', (c: Buffer) => (got += c.toString('latin1')));
          s.once('close', () => resolve(got));
        }),
    );
    sendLate = () => {
      leftWhenSent = ic.running.ready.waiting;
      late.forEach((s, k) =>
        s.write(
          k === 3
            ? 'GET /late-ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'
            : `GET /late-${k} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`,
        ),
      );
    };
    await ic.update([...objs, slice(true)]);
    const [upgraded, ...plain] = [...(await Promise.all(lateAnswers))].reverse();
    assert.match(upgraded ?? '', /^HTTP\/1\.1 101 /);
    assert.equal(
      waitingAtUpgrade,
      0,
      'the upgrade reached the backend only once every held request was released',
    );
    for (const a of plain) {
      assert.match(a, /^HTTP\/1\.1 200 /);
      assert.match(
        a,
        /\r\nx-keda-http-cold-start: false\r\n/i,
        'a late arrival did not wait for a cold start',
      );
    }
    for (const r of await Promise.all(held)) assert.equal(r.status, 200);
    assert.ok(
      leftWhenSent >= 64,
      `late requests sent while the release was under way (${leftWhenSent} left)`,
    );
    const lastHeld = Math.max(...arrivals.flatMap((u, i) => (u.startsWith('/held-') ? [i] : [])));
    const firstLate = arrivals.findIndex((u) => u.startsWith('/late-'));
    assert.ok(
      firstLate > lastHeld,
      `late requests reach the backend after every held one (first late at ${firstLate}, last held at ${lastHeld})`,
    );
    assert.equal(ic.running.ready.waiting, 0);
  } finally {
    await ic.close();
    await ordered.close();
  }
});

test('KEDA_HTTP_ENABLE_COLD_START_HEADER=false drops the header', async () => {
  const ic = await startTestInterceptor([route(), svc, ready()], {
    KEDA_HTTP_ENABLE_COLD_START_HEADER: 'false',
  });
  try {
    const r = await request(ic.url('/'), { headers: host });
    assert.equal(r.headers['x-keda-http-cold-start'], undefined);
  } finally {
    await ic.close();
  }
});

test('readiness timeout expires: 504 Gateway Timeout, no earlier than the timeout', async () => {
  const ic = await startTestInterceptor([route({ timeouts: { readiness: '300ms' } }), svc, notReady()]);
  try {
    const t0 = performance.now();
    const r = await request(ic.url('/'), { headers: host });
    const elapsed = performance.now() - t0;
    assert.equal(r.status, 504);
    assert.equal(r.body, 'Gateway Timeout\n');
    assert.ok(elapsed >= 290 && elapsed < 1500, `elapsed ${elapsed}`);
  } finally {
    await ic.close();
  }
});

test('the request deadline (env) bounds the wait: 504; a route "0s" readiness still leaves the deadline', async () => {
  const ic = await startTestInterceptor([route({ timeouts: { readiness: '0s' } }), svc, notReady()], {
    KEDA_HTTP_REQUEST_TIMEOUT: '300ms',
    KEDA_HTTP_READINESS_TIMEOUT: '50ms',
  });
  try {
    const t0 = performance.now();
    const r = await request(ic.url('/'), { headers: host });
    assert.equal(r.status, 504);
    assert.ok(performance.now() - t0 >= 290, 'the route 0s readiness beat the 50ms env value');
  } finally {
    await ic.close();
  }
});

test('response-header timeout: 504; a connection reset by the backend: 502', async () => {
  const ic = await startTestInterceptor([route({ timeouts: { responseHeader: '200ms' } }), svc, ready()]);
  try {
    const slow = await request(ic.url('/slow-headers'), { headers: host });
    assert.equal(slow.status, 504);
    assert.equal(
      slow.headers['x-keda-http-cold-start'],
      'false',
      'the cold-start header is on upstream errors too',
    );
    const reset = await request(ic.url('/reset'), { headers: host });
    assert.equal(reset.status, 502);
    assert.equal(reset.body, 'Bad Gateway\n');
  } finally {
    await ic.close();
  }
});

test('fallback: after the readiness timeout the request goes to the fallback Service, without the cold-start header', async () => {
  const ic = await startTestInterceptor([
    route({
      timeouts: { readiness: '200ms' },
      coldStart: { fallback: { service: { name: 'fb', port: 90 } } },
    }),
    svc,
    notReady(),
    service('fb', [{ name: 'http', port: 90 }]),
    endpointSlice('fb', [{ ip: '127.0.0.1' }], fallbackBackend.port),
  ]);
  try {
    const r = await request(ic.url('/x'), { headers: host });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'fallback:/x');
    assert.equal(r.headers['x-keda-http-cold-start'], undefined);
    assert.equal(ic.running.queue.get('default/app')?.RequestCount, 1, 'counted against the primary route');
  } finally {
    await ic.close();
  }
});

test('fallback with an expired request deadline: 504', async () => {
  const ic = await startTestInterceptor([
    route({
      timeouts: { readiness: '500ms', request: '200ms' },
      coldStart: { fallback: { service: { name: 'fb', port: 90 } } },
    }),
    svc,
    notReady(),
    service('fb', [{ name: 'http', port: 90 }]),
    endpointSlice('fb', [{ ip: '127.0.0.1' }], fallbackBackend.port),
  ]);
  try {
    const r = await request(ic.url('/x'), { headers: host });
    assert.equal(r.status, 504);
  } finally {
    await ic.close();
  }
});

test('placeholder: answered at once (503 default), counted, and it wins over a fallback', async () => {
  const ic = await startTestInterceptor([
    route({
      coldStart: {
        placeholder: { response: { body: '<html>starting</html>', headers: { Refresh: '3' } } },
        fallback: { service: { name: 'fb', port: 90 } },
      },
    }),
    svc,
    notReady(),
    service('fb', [{ name: 'http', port: 90 }]),
    endpointSlice('fb', [{ ip: '127.0.0.1' }], fallbackBackend.port),
  ]);
  try {
    const r = await request(ic.url('/'), { headers: host });
    assert.equal(r.status, 503);
    assert.equal(r.body, '<html>starting</html>');
    assert.equal(r.headers['refresh'], '3');
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(ic.running.queue.get('default/app')?.RequestCount, 1);
  } finally {
    await ic.close();
  }
});

test('placeholder by content negotiation: an HTML page that refreshes for browsers, 503 + Retry-After for APIs', async () => {
  const ic = await startTestInterceptor(
    [route({ coldStart: { placeholder: { response: {}, contentNegotiation: true } } }), svc, notReady()],
    { KEDA_HTTP_RETRY_AFTER_SECONDS: '4' },
  );
  try {
    const browser = await request(ic.url('/'), {
      headers: { ...host, accept: 'text/html,application/xhtml+xml' },
    });
    assert.equal(browser.status, 503);
    assert.match(browser.headers['content-type'] ?? '', /text\/html/);
    assert.match(browser.body, /<meta http-equiv="refresh" content="4">/);
    const api = await request(ic.url('/'), { headers: { ...host, accept: 'application/json' } });
    assert.equal(api.status, 503);
    assert.equal(api.headers['retry-after'], '4');
  } finally {
    await ic.close();
  }
});

test('static routes: Always answers; WhenUnavailable forwards when ready; neither is counted; ConfigMap bodies need the label', async () => {
  const cm = (labelled: boolean): Obj => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'pages',
      namespace: 'default',
      ...(labelled ? { labels: { 'http.keda.sh/response-body': 'true' } } : {}),
    },
    data: { 'index.html': '<h1>down</h1>', 'status.json': '{"ok":false}' },
  });
  const r = route({
    staticRoutes: [
      { rules: [{ paths: [{ value: '/healthz' }] }], response: { body: 'healthy' }, responseMode: 'Always' },
      { rules: [{ paths: [{ value: '/status.json' }] }], response: { bodyFromConfigMap: { name: 'pages' } } },
      {
        rules: [{ paths: [{ value: '/' }] }],
        response: { statusCode: 503, bodyFromConfigMap: { name: 'pages', key: 'index.html' } },
      },
    ],
  });
  const ic = await startTestInterceptor([r, svc, notReady(), cm(true)]);
  try {
    const h = await request(ic.url('/healthz'), { headers: host });
    assert.equal(h.status, 200);
    assert.equal(h.body, 'healthy');
    assert.equal(h.headers['content-type'], 'text/plain; charset=utf-8');
    const s = await request(ic.url('/status.json'), { headers: host });
    assert.equal(s.body, '{"ok":false}');
    assert.equal(s.headers['content-type'], 'application/json');
    const down = await request(ic.url('/anything'), { headers: host });
    assert.equal(down.status, 503);
    assert.equal(down.body, '<h1>down</h1>');
    assert.equal(ic.running.queue.get('default/app')?.RequestCount, 0, 'static routes are not counted');

    await ic.update([r, svc, ready(), cm(false)]);
    const forwarded = await request(ic.url('/anything'), { headers: host });
    assert.equal(forwarded.body, 'backend:/anything');
    assert.equal(forwarded.headers['x-keda-http-cold-start'], undefined);
    await ic.update([r, svc, notReady(), cm(false)]);
    const unlabelled = await request(ic.url('/anything'), { headers: host });
    assert.equal(unlabelled.status, 500);
    assert.equal(ic.running.queue.get('default/app')?.RequestCount, 0);
  } finally {
    await ic.close();
  }
});

test('bounded holding: past the per-route limit (route field) and the global limit, 503 + Retry-After at once', async () => {
  const ic = await startTestInterceptor(
    [
      route({ coldStart: { maxPendingRequests: 2 } }),
      interceptorRoute('other', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['other.test'] }] }),
      svc,
      notReady(),
    ],
    { KEDA_HTTP_MAX_PENDING_REQUESTS: '3' },
  );
  try {
    const held = [request(ic.url('/1'), { headers: host }), request(ic.url('/2'), { headers: host })];
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    const over = await request(ic.url('/3'), { headers: host });
    assert.equal(over.status, 503);
    assert.equal(over.headers['retry-after'], '5');
    assert.ok(performance.now() - t0 < 200);
    const o1 = request(ic.url('/'), { headers: { host: 'other.test' } });
    await new Promise((r) => setTimeout(r, 100));
    const globalOver = await request(ic.url('/'), { headers: { host: 'other.test' } });
    assert.equal(globalOver.status, 503, 'the global limit (3) is reached by 2 + 1 held requests');
    await ic.update([route({ coldStart: { maxPendingRequests: 2 } }), svc, ready()]);
    for (const r of await Promise.all(held)) assert.equal(r.status, 200);
    // Already matched before its route left the table: it is still served once the target is ready.
    assert.equal((await o1).status, 200);
  } finally {
    await ic.close();
  }
});

test('WebSocket upgrades held for a cold start count towards the hold limits: over one, 503 + Retry-After', async () => {
  const ws = await startBackend((_req, res) => res.end('not an upgrade'));
  ws.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) =>
    socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
  );
  const slice = (isReady: boolean): Obj =>
    endpointSlice('app', [{ ip: '127.0.0.1', ready: isReady }], ws.port);
  const objs = [route({ coldStart: { maxPendingRequests: 1 } }), svc];
  const ic = await startTestInterceptor([...objs, slice(false)]);
  /** Sends an upgrade on its own connection; resolves with all it got back once the connection ends. */
  const upgrade = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = net.connect(Number(new URL(ic.url('/')).port), '127.0.0.1', () =>
        s.write('GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
      );
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString('latin1')));
      s.once('close', () => resolve(got));
      s.once('error', reject);
    });
  try {
    const held = upgrade();
    for (let i = 0; i < 100 && ic.running.ready.waiting !== 1; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(ic.running.ready.waiting, 1);
    const over = await upgrade();
    assert.match(over, /^HTTP\/1\.1 503 /);
    assert.match(over, /\r\nRetry-After: 5\r\n/i, 'the same answer as a request over the limit gets');
    assert.match(over, /too many requests waiting for default\/app to start \(route limit reached\)/);
    const overHttp = await request(ic.url('/'), { headers: host });
    assert.equal(overHttp.status, 503, 'requests and upgrades share the limit');
    const pending = await request(`http://127.0.0.1:${ic.running.metricsPort}/metrics`);
    assert.match(
      pending.body,
      /interceptor_pending_requests\{route_name="app",route_namespace="default"\} 1/,
    );
    await ic.update([...objs, slice(true)]);
    assert.match(await held, /^HTTP\/1\.1 101 /);
    const after = await request(`http://127.0.0.1:${ic.running.metricsPort}/metrics`);
    assert.match(after.body, /interceptor_pending_requests\{route_name="app",route_namespace="default"\} 0/);
    assert.match(
      after.body,
      /interceptor_cold_start_wait_seconds_count\{route_name="app",route_namespace="default",outcome="ready"\} 1/,
    );
  } finally {
    await ic.close();
    await ws.close();
  }
});

test('a refused connection to a just-ready endpoint is retried on the next endpoint: no 502', async () => {
  const deadPort = await refusingPort(); // ECONNREFUSED
  const slices = [
    endpointSlice('app', [{ ip: '127.0.0.1' }], deadPort, 'http', 'default', 'app-a'),
    endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port, 'http', 'default', 'app-b'),
  ];
  const ic = await startTestInterceptor([route(), svc, ...slices]);
  try {
    for (let i = 0; i < 10; i++) {
      const r = await request(ic.url(`/r${i}`), { headers: host });
      assert.equal(r.status, 200, `request ${i}`);
    }
  } finally {
    await ic.close();
  }
});

test('a deadline that ends the retries of a refused connection answers 502, not 504', async () => {
  const deadPort = await refusingPort(); // ECONNREFUSED
  const ic = await startTestInterceptor([
    route({ timeouts: { request: '200ms' } }),
    svc,
    endpointSlice('app', [{ ip: '127.0.0.1' }], deadPort),
  ]);
  try {
    const pending = request(ic.url('/'), { headers: host });
    // Mid-way through the retries, hold this process (and the in-process interceptor) past the
    // deadline, so that the deadline and a pending retry come due together, as on a busy machine.
    await new Promise((r) => setTimeout(r, 100));
    const until = performance.now() + 200;
    while (performance.now() < until) {
      /* busy */
    }
    const r = await pending;
    assert.equal(r.status, 502);
  } finally {
    await ic.close();
  }
});

test('a single endpoint that starts listening shortly after turning ready is reached by retrying', async () => {
  const late = http.createServer((_req, res) => res.end('late-but-fine'));
  await new Promise<void>((r) => late.listen(0, '127.0.0.1', r));
  const port = (late.address() as net.AddressInfo).port;
  await new Promise<void>((r) => late.close(() => r()));
  const ic = await startTestInterceptor([
    route({ timeouts: { request: '3s' } }),
    svc,
    endpointSlice('app', [{ ip: '127.0.0.1' }], port),
  ]);
  try {
    const pending = request(ic.url('/'), { headers: host });
    setTimeout(() => late.listen(port, '127.0.0.1'), 300);
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'late-but-fine');
  } finally {
    late.close();
    await ic.close();
  }
});

test('/queue/watch: snapshot on connect, "active" the moment a held request arrives, "idle" once it has stayed at 0', async () => {
  const ic = await startTestInterceptor([route(), svc, notReady()], {
    KEDA_HTTP_QUEUE_WATCH_HEARTBEAT: '200ms',
  });
  const watch = await watchQueue(ic.admin('/queue/watch'));
  const events = watch.events;
  try {
    assert.equal(watch.response.statusCode, 200);
    assert.equal(watch.response.headers['content-type'], 'text/event-stream');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(events[0]?.event, 'snapshot');
    assert.equal(events[0]?.data, '{"default/app":{"Concurrency":0,"RequestCount":0}}');
    const sentAt = performance.now();
    const pending = request(ic.url('/'), { headers: host });
    await new Promise((r) => setTimeout(r, 100));
    const active = events.find((e) => e.event === 'active');
    assert.ok(active, JSON.stringify(events));
    assert.deepEqual(JSON.parse(active.data), { key: 'default/app', Concurrency: 1, RequestCount: 1 });
    assert.ok(active.at - sentAt < 80, `active after ${(active.at - sentAt).toFixed(1)} ms`);
    await ic.update([route(), svc, ready()]);
    assert.equal((await pending).status, 200);
    const doneAt = performance.now();
    // idle is not urgent: it comes once the route has stayed at 0 for the idle delay.
    await new Promise((r) => setTimeout(r, idleDelayMs * 1.25 + 300));
    const idle = events.find((e) => e.event === 'idle');
    assert.ok(
      idle && idle.at - doneAt >= idleDelayMs - 20,
      `idle after ${((idle?.at ?? 0) - doneAt).toFixed(0)} ms`,
    );
    assert.deepEqual(JSON.parse(idle?.data ?? '{}'), { key: 'default/app', Concurrency: 0, RequestCount: 1 });
    assert.ok(
      events.some((e) => e.event === 'comment' && e.data === ': heartbeat'),
      'heartbeat comment',
    );
  } finally {
    watch.close();
    await ic.close();
  }
});

test('a portName missing from the Service gives 500 and reaches no backend', async () => {
  const ic = await startTestInterceptor([
    interceptorRoute('app', {
      target: { service: 'app', portName: 'nope' },
      rules: [{ hosts: ['app.test'] }],
    }),
    svc,
    ready(),
  ]);
  try {
    const before = hits;
    const r = await request(ic.url('/'), { headers: host });
    assert.equal(r.status, 500);
    assert.equal(hits, before);
  } finally {
    await ic.close();
  }
});
