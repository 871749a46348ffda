// Aggregation across several real interceptor processes (`keda-http interceptor --from-file`)
// polled by a real scaler process (`keda-http scaler --from-file`), asked through a KEDA-shaped
// gRPC client: deltas, a counter reset, a hung pod, a pod that disappears, rate decay, health
// going NOT_SERVING and back, and push activation. Everything on loopback; ports chosen by the
// processes. The scaler ticks every 200 ms here to keep the suite short.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { KedaClient, routeRef, type Ref } from './testing/keda-client.ts';
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

const routes = [
  heldRoute('30s'),
  {
    apiVersion: 'http.keda.sh/v1beta1',
    kind: 'InterceptorRoute',
    metadata: { name: 'count', namespace: 'default' },
    // A placeholder answers at once and is counted. One bucket of a day: the rate is then
    // exactly the number of requests seen since the scaler's first look, easy to assert.
    spec: {
      target: { service: 'app', port: 80 },
      rules: [{ hosts: ['count.test'] }],
      coldStart: { placeholder: { response: { statusCode: 503, body: 'warming' } } },
      scalingMetric: { requestRate: { targetValue: 1, window: '24h', granularity: '24h' } },
    },
  },
  {
    apiVersion: 'http.keda.sh/v1beta1',
    kind: 'InterceptorRoute',
    metadata: { name: 'decay', namespace: 'default' },
    spec: {
      target: { service: 'app', port: 80 },
      rules: [{ hosts: ['decay.test'] }],
      coldStart: { placeholder: { response: { statusCode: 503 } } },
      scalingMetric: { requestRate: { targetValue: 1, window: '2s', granularity: '1s' } },
    },
  },
  appService,
];

const scalerEnv = {
  KEDA_HTTP_QUEUE_TICK_DURATION: '200ms',
  KEDA_HTTP_SCALER_QUEUE_FETCH_TIMEOUT: '100ms',
  KEDA_HTTP_SCALER_STALE_POD_TIMEOUT: '1s',
};

let dir: string;
let interceptorFile: string;
let scalerFile: string;
const pods: InterceptorProcess[] = [];
let scaler: ScalerProcess;
let keda: KedaClient;
const held: AbortController[] = [];
const extra: { kill(): Promise<void> }[] = [];

async function send(pod: InterceptorProcess, host: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await request(`http://127.0.0.1:${pod.proxyPort}/`, { headers: { host } });
    await res.body.dump();
    assert.equal(res.statusCode, 503, 'the placeholder answered');
  }
}

/** Starts a request the interceptor holds (no ready backend); abort() ends it. */
function hold(pod: InterceptorProcess): AbortController {
  const ac = new AbortController();
  held.push(ac);
  request(`http://127.0.0.1:${pod.proxyPort}/`, { headers: { host: 'held.test' }, signal: ac.signal }).then(
    (res) => res.body.dump(),
    () => {},
  );
  return ac;
}

async function releaseAll(): Promise<void> {
  for (const ac of held.splice(0)) ac.abort();
}

async function eventually<T>(
  what: string,
  get: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 4_000,
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

const value = async (ref: Ref, name = ''): Promise<number> => {
  const values = await keda.metrics(ref, name);
  return values[0]?.metricValueFloat ?? Number.NaN;
};
const concurrency = (): Promise<number> => value(routeRef('default', 'held'));
const counted = (): Promise<number> => value(routeRef('default', 'count'));
const interceptorsRef: Ref = {
  name: 'keda-add-ons-http-interceptor',
  namespace: 'keda',
  scalerMetadata: { interceptorTargetPendingRequests: '200' },
};

async function scalerMetric(name: string): Promise<number> {
  const res = await request(`http://127.0.0.1:${scaler.metricsPort}/metrics`);
  const text = await res.body.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

async function httpStatus(path: string): Promise<number> {
  const res = await request(`http://127.0.0.1:${scaler.metricsPort}${path}`);
  await res.body.dump();
  return res.statusCode;
}

async function listInterceptors(list: readonly InterceptorProcess[]): Promise<void> {
  await writeObjects(scalerFile, [...routes, ...interceptorSlices(list.map((p) => p.adminPort))]);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scaler-process-'));
  interceptorFile = join(dir, 'interceptor-objects.yaml');
  scalerFile = join(dir, 'scaler-objects.yaml');
  await writeObjects(interceptorFile, routes);
  pods.push(...(await Promise.all([1, 2, 3].map(() => startInterceptorProcess(interceptorFile)))));
  await listInterceptors(pods);
  scaler = await startScalerProcess(scalerFile, scalerEnv);
  keda = new KedaClient(`127.0.0.1:${scaler.grpcPort}`);
  await eventually(
    'first poll',
    () => keda.healthStatus('readiness'),
    (s) => s === 'SERVING',
  );
});

after(async () => {
  await releaseAll();
  keda?.close();
  await Promise.all([...pods, ...extra].map((p) => p.kill()));
  await scaler?.kill();
});

test('concurrency is summed and every request counted once across three interceptors', async () => {
  const [i1, i2, i3] = pods as [InterceptorProcess, InterceptorProcess, InterceptorProcess];
  await send(i1, 'count.test', 3);
  await send(i2, 'count.test', 2);
  await eventually('count rate', counted, (v) => v === 5);
  await new Promise((r) => setTimeout(r, 600)); // three more ticks add nothing
  assert.equal(await counted(), 5);

  hold(i1);
  hold(i3);
  hold(i3);
  await eventually('held concurrency', concurrency, (v) => v === 3);
  assert.deepEqual(await keda.metrics(interceptorsRef), [
    { metricName: 'http-keda_002Fkeda-add-ons-http-interceptor', metricValue: '3', metricValueFloat: 0 },
  ]);
  assert.equal(await keda.isActive(routeRef('default', 'held')), true);
  await releaseAll();
  await eventually('released', concurrency, (v) => v === 0);
  assert.equal(await keda.isActive(routeRef('default', 'held')), false);
});

test("a restarted interceptor's counter starts again from 0 and counts as new requests", async () => {
  const before = await counted();
  const old = pods[1] as InterceptorProcess;
  await old.kill();
  const restarted = await startInterceptorProcess(interceptorFile, {
    adminPort: old.adminPort,
    proxyPort: old.proxyPort,
  });
  pods[1] = restarted;
  await send(restarted, 'count.test', 1); // RequestCount 1 < the 2 it had: a reset, delta 1
  await eventually('count after reset', counted, (v) => v === before + 1);
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(await counted(), before + 1);
});

test('a hung interceptor is trusted for the bound, then stops counting; polling and health carry on', async () => {
  const i1 = pods[0] as InterceptorProcess;
  hold(i1);
  await eventually('held on i1', concurrency, (v) => v === 1);
  i1.child.kill('SIGSTOP');
  try {
    // Upstream had no fetch timeout: one hung pod stalled every tick and health failed.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await concurrency(), 1, 'last known value, within the 1s bound');
    assert.equal(await keda.healthStatus('readiness'), 'SERVING');
    assert.equal(await scalerMetric('scaler_pinger_unreachable_pods'), 1);
    await eventually('bound passed', concurrency, (v) => v === 0, 2_000);
    assert.equal(await keda.healthStatus('liveness'), 'SERVING');
  } finally {
    i1.child.kill('SIGCONT');
  }
  await eventually('i1 answers again', concurrency, (v) => v === 1);
  await releaseAll();
  await eventually('released', concurrency, (v) => v === 0);
});

test('a pod that leaves the EndpointSlice stops counting at once; a killed listed pod after the bound', async () => {
  const [i1, i2, i3] = pods as [InterceptorProcess, InterceptorProcess, InterceptorProcess];
  hold(i3);
  hold(i2);
  await eventually('held on i2 and i3', concurrency, (v) => v === 2);
  await listInterceptors([i1, i2]);
  await eventually('i3 unlisted', concurrency, (v) => v === 1, 1_000);
  assert.equal(await scalerMetric('scaler_pinger_endpoints'), 2);

  await i2.kill(); // still listed, never answers again
  assert.equal(await concurrency(), 1, 'its last value is trusted for now');
  await eventually('dead pod expired', concurrency, (v) => v === 0, 2_000);
  await releaseAll();
  // Bring a fresh i2 back so later tests have two pods.
  pods[1] = await startInterceptorProcess(interceptorFile);
  await listInterceptors([i1, pods[1]]);
  await eventually(
    'two endpoints',
    () => scalerMetric('scaler_pinger_endpoints'),
    (n) => n === 2,
  );
});

test('the request rate decays to 0 once traffic stops', async () => {
  const i1 = pods[0] as InterceptorProcess;
  const decay = routeRef('default', 'decay');
  await send(i1, 'decay.test', 6);
  const peak = await eventually(
    'rate rises',
    () => value(decay),
    (v) => v > 0,
  );
  assert.ok(peak <= 6, `at most 6 requests per 1s bucket, got ${peak}`);
  await eventually(
    'rate decays',
    () => value(decay),
    (v) => v === 0,
    4_000,
  );
  assert.equal(await keda.isActive(decay), false);
});

test('health goes NOT_SERVING when the interceptors go away and SERVING when they return', async () => {
  await listInterceptors([]);
  await eventually(
    'readiness down',
    () => keda.healthStatus('readiness'),
    (s) => s === 'NOT_SERVING',
  );
  assert.equal(await keda.healthStatus('liveness'), 'NOT_SERVING');
  // No scaling decision from stale numbers: once they are older than two ticks, KEDA gets an error.
  const refused = await eventually(
    'metrics refused',
    () =>
      keda.metrics(routeRef('default', 'held')).then(
        () => 'answered',
        (err: Error) => err.message,
      ),
    (m) => m !== 'answered',
  );
  assert.match(refused, /UNAVAILABLE: the interceptors' counts are \d+ms old/);
  assert.equal(await httpStatus('/readyz'), 503, 'the HTTP probe agrees');
  assert.equal(await httpStatus('/livez'), 200);
  await listInterceptors(pods.slice(0, 2));
  await eventually(
    'readiness up',
    () => keda.healthStatus('readiness'),
    (s) => s === 'SERVING',
  );
  assert.equal(await keda.healthStatus('liveness'), 'SERVING');
  assert.equal(await httpStatus('/readyz'), 200);
  assert.equal(await concurrency(), 0);
});

test('StreamIsActive says true within milliseconds of the first request, without waiting for a poll', async () => {
  // A second scaler that polls only every 3s: anything faster than that came from the push path.
  const slow = await startScalerProcess(scalerFile, { ...scalerEnv, KEDA_HTTP_QUEUE_TICK_DURATION: '3s' });
  extra.push(slow);
  const client = new KedaClient(`127.0.0.1:${slow.grpcPort}`);
  try {
    await eventually(
      'slow scaler watching',
      async () => {
        const res = await request(`http://127.0.0.1:${slow.metricsPort}/metrics`);
        const text = await res.body.text();
        return Number(/^scaler_queue_watch_connected (\d+)/m.exec(text)?.[1]);
      },
      (n) => n === 2,
    );
    const stream = client.streamIsActive(routeRef('default', 'held'));
    const messages: { result: boolean; at: number }[] = [];
    stream.on('data', (m: { result: boolean }) => messages.push({ result: m.result, at: performance.now() }));
    stream.on('error', () => {});
    await eventually(
      'first message',
      async () => messages.length,
      (n) => n === 1,
    );
    assert.equal(messages[0]?.result, false);
    const latencies: number[] = [];
    for (const pod of pods.slice(0, 2)) {
      const sent = performance.now();
      const ac = hold(pod);
      const got = await eventually(
        'active',
        async () => messages.at(-1),
        (m) => m?.result === true,
        2_500,
      );
      latencies.push((got?.at ?? Infinity) - sent);
      ac.abort();
      // False is not urgent (KEDA waits for its cooldown): it comes with the next 3 s poll tick.
      await eventually(
        'idle',
        async () => messages.at(-1),
        (m) => m?.result === false,
        4_500,
      );
    }
    assert.ok(
      latencies.every((l) => l < 250),
      `activation latencies ${latencies.map((l) => l.toFixed(1))}ms`,
    );
    // Messages are sent on change (plus a 5s heartbeat), not every 200 ms.
    const count = messages.length;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(messages.length, count);
    stream.cancel();
  } finally {
    client.close();
  }
  assert.equal(await slow.terminate(), 0, 'SIGTERM stops the scaler cleanly');
  assert.ok(slow.logs.some((l) => l['message'] === 'stopped'));
});
