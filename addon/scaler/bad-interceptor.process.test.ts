// A real scaler process polling a real interceptor process and a misbehaving "interceptor" (a local
// HTTP server in this test that sends what we choose on /queue and /queue/watch). What one pod
// sends must never stall the scaler: the bad pod counts as failing, the good pod's numbers still
// reach KEDA, and the probes answer. Everything on loopback; ports chosen by the processes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { encodeQueueCounts } from '../shared/queue-codec/queue-body.ts';
import { KedaClient, routeRef } from './testing/keda-client.ts';
import {
  appService,
  heldRoute,
  interceptorSlices,
  startInterceptorProcess,
  startScalerProcess,
  writeObjects,
  type InterceptorProcess,
  type ScalerProcess,
} from './testing/processes.ts';

const routes = [heldRoute('60s'), appService];

const maxBytes = 256 * 1024;
const goodBody = encodeQueueCounts([['default/held', { Concurrency: 0, RequestCount: 10 }]]);

/** What the misbehaving pod sends; tests change it. */
const bad = {
  queueBody: goodBody,
  /** /queue/watch: a valid stream, or one line that never ends. */
  endlessWatchLine: false,
  watchConnections: 0,
};

let badServer: http.Server;
let good: InterceptorProcess;
let scaler: ScalerProcess;
let keda: KedaClient;
const heldRequest = new AbortController();

function startBadInterceptor(): Promise<number> {
  badServer = http.createServer((req, res) => {
    if (req.url === '/queue') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(bad.queueBody);
      return;
    }
    if (req.url === '/queue/watch') {
      bad.watchConnections++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (!bad.endlessWatchLine) {
        res.write(`event: snapshot\ndata: ${goodBody.trimEnd()}\n\n`);
        return;
      }
      // "data: xxxxx..." without a newline, for as long as the scaler keeps reading.
      res.write('event: active\ndata: ');
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      pump();
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) =>
    badServer.listen(0, '127.0.0.1', () => resolve((badServer.address() as AddressInfo).port)),
  );
}

async function eventually<T>(
  what: string,
  get: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | string = 'never read';
  for (;;) {
    try {
      last = await get();
      if (ok(last)) return last;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)} after ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const concurrency = async (): Promise<number> =>
  (await keda.metrics(routeRef('default', 'held')))[0]?.metricValueFloat ?? Number.NaN;

async function scalerMetric(name: string): Promise<number> {
  const res = await request(`http://127.0.0.1:${scaler.metricsPort}/metrics`);
  const text = await res.body.text();
  return Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${name} `))
      ?.split(' ')[1],
  );
}

/** For `ms`, every check must pass: GetMetrics gives the good pod's 1, /livez answers at once. */
async function staysHealthy(ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const t0 = performance.now();
    const [value, livez] = await Promise.all([
      concurrency(),
      request(`http://127.0.0.1:${scaler.metricsPort}/livez`).then(async (r) => {
        await r.body.dump();
        return r.statusCode;
      }),
    ]);
    const took = performance.now() - t0;
    assert.equal(value, 1, 'the good pod still counts, and nothing else does');
    assert.equal(livez, 200);
    assert.ok(took < 1_000, `GetMetrics and /livez took ${took.toFixed(0)}ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const warnings = (text: RegExp): Record<string, unknown>[] =>
  scaler.logs.filter((l) => l['level'] === 'warn' && text.test(JSON.stringify(l)));

before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'scaler-bad-interceptor-'));
  const interceptorFile = join(dir, 'interceptor-objects.yaml');
  const scalerFile = join(dir, 'scaler-objects.yaml');
  await writeObjects(interceptorFile, routes);
  good = await startInterceptorProcess(interceptorFile);
  const badPort = await startBadInterceptor();
  await writeObjects(scalerFile, [...routes, ...interceptorSlices([good.adminPort, badPort])]);
  scaler = await startScalerProcess(scalerFile, {
    KEDA_HTTP_QUEUE_TICK_DURATION: '300ms',
    KEDA_HTTP_SCALER_QUEUE_FETCH_TIMEOUT: '250ms',
    // The bad pod's last good answer (0) would count for this long; long enough to outlast a test.
    KEDA_HTTP_SCALER_STALE_POD_TIMEOUT: '60s',
    KEDA_HTTP_SCALER_QUEUE_MAX_BYTES: String(maxBytes),
  });
  keda = new KedaClient(`127.0.0.1:${scaler.grpcPort}`);
  request(`http://127.0.0.1:${good.proxyPort}/`, {
    headers: { host: 'held.test' },
    signal: heldRequest.signal,
  }).then(
    (res) => res.body.dump(),
    () => {},
  );
  await eventually('the good pod holds one request', concurrency, (v) => v === 1);
});

after(async () => {
  heldRequest.abort();
  keda?.close();
  await scaler?.kill();
  await good?.kill();
  badServer?.closeAllConnections();
  badServer?.close();
});

test('a /queue body over the bound, or counts that are not non-negative integers, make that pod fail its poll', async () => {
  const padding: [string, { Concurrency: number; RequestCount: number }][] = [];
  // Each entry takes at least 40 bytes: this is well over the bound.
  for (let i = 0; padding.length * 40 < 2 * maxBytes; i++) {
    padding.push([`pad/route-${i}`, { Concurrency: 0, RequestCount: 0 }]);
  }
  const variants: Record<string, string> = {
    'over the bound': encodeQueueCounts([['default/held', { Concurrency: 5, RequestCount: 10 }], ...padding]),
    '1e308': '{"default/held":{"Concurrency":1e308,"RequestCount":10}}\n',
    'a fraction': '{"default/held":{"Concurrency":1.5,"RequestCount":10}}\n',
    'a negative count': '{"default/held":{"Concurrency":-3,"RequestCount":10}}\n',
    'a string': '{"default/held":{"Concurrency":"7","RequestCount":10}}\n',
  };
  for (const [what, body] of Object.entries(variants)) {
    bad.queueBody = body;
    await eventually(
      `${what}: the bad pod fails its polls`,
      () => scalerMetric('scaler_pinger_unreachable_pods'),
      (n) => n === 1,
    );
    await staysHealthy(600);
    bad.queueBody = goodBody;
    await eventually(
      `${what}: the pod answers again`,
      () => scalerMetric('scaler_pinger_unreachable_pods'),
      (n) => n === 0,
    );
  }
  // Five failures of one pod within seconds: the first is logged, the others fall within the rate
  // limit (what each failure says is queue-client.test.ts's concern).
  const failed = warnings(/interceptor did not answer/);
  assert.ok(failed.length >= 1);
  assert.ok(failed.length <= 2, `${failed.length} warnings for one pod failing five times: rate-limited`);
});

test('a /queue/watch line without end is cut at the bound; polling, GetMetrics and /livez carry on', async () => {
  bad.endlessWatchLine = true;
  const before = bad.watchConnections;
  // Drop the current (well-behaved) stream so the scaler opens one that misbehaves.
  badServer.closeAllConnections();
  await eventually(
    'a misbehaving stream opened',
    async () => bad.watchConnections,
    (n) => n > before,
  );
  await staysHealthy(3_000);
  await eventually(
    'both pods answer their polls',
    () => scalerMetric('scaler_pinger_unreachable_pods'),
    (n) => n === 0,
  );
  const cut = warnings(/queue watch stream that broke its bounds/);
  assert.ok(cut.length >= 1, 'the cut is logged');
  assert.ok(cut.length <= 2, `warned ${cut.length} times in 3s: rate-limited`);
  assert.match(JSON.stringify(cut[0]), new RegExp(`larger than the ${maxBytes}-byte bound`));
  bad.endlessWatchLine = false;
  badServer.closeAllConnections();
});

test('a key sent twice counts once, with its last value', async () => {
  bad.queueBody =
    '{"default/held":{"Concurrency":2,"RequestCount":10},"default/held":{"Concurrency":3,"RequestCount":10}}\n';
  try {
    await eventually('the repeated key', concurrency, (v) => v !== 1);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await concurrency(), 4, "the good pod's 1 and the bad pod's last value, 3");
  } finally {
    bad.queueBody = goodBody;
  }
  await eventually('back to the good pod alone', concurrency, (v) => v === 1);
});
