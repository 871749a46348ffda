// Wire-level suite: a gRPC client built from KEDA's protocol facts (testing/keda-client.ts: its own
// copy of externalscaler.proto, written from the field table, not loaded from the server) calls every
// RPC for the three kinds of trigger metadata and checks what KEDA would see. The numbers come
// from the real aggregation code fed with recorded /queue answers; the objects from a real
// FileStore; the server is the real one on 127.0.0.1, port 0.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { KedaClient, routeRef, type Ref } from '../testing/keda-client.ts';
import { createLogger } from '../../shared/log.ts';
import { createRegistry } from '../../shared/metrics.ts';
import { FileStore } from '../../shared/store/file-store.ts';
import { QueueClient } from '../interceptors/queue-client.ts';
import { createScalerMetrics } from '../metrics.ts';
import { Pinger } from '../pinger.ts';
import { decodeQueueBody } from '../../shared/queue-codec/queue-body.ts';
import { rateSettingsFromStore, scalerView } from '../scaler-view.ts';
import { ActiveStreams } from './active-streams.ts';
import { startGrpcServer, type ScalerGrpcServer } from './server.ts';
import { prepareIsActive } from './trigger-metrics.ts';

const objects = `
apiVersion: http.keda.sh/v1beta1
kind: InterceptorRoute
metadata: {name: conc, namespace: default}
spec: {target: {service: app, port: 80}, scalingMetric: {concurrency: {targetValue: 10}}}
---
apiVersion: http.keda.sh/v1beta1
kind: InterceptorRoute
metadata: {name: rate, namespace: default}
spec: {target: {service: app, port: 80}, scalingMetric: {requestRate: {targetValue: 5, window: 10s, granularity: 1s}}}
---
apiVersion: http.keda.sh/v1beta1
kind: InterceptorRoute
metadata: {name: both, namespace: default}
spec:
  target: {service: app, port: 80}
  scalingMetric: {concurrency: {targetValue: 4}, requestRate: {targetValue: 2.5}}
---
apiVersion: http.keda.sh/v1beta1
kind: InterceptorRoute
metadata: {name: idle, namespace: default}
spec: {target: {service: app, port: 80}, scalingMetric: {concurrency: {targetValue: 1}}}
---
apiVersion: http.keda.sh/v1beta1
kind: InterceptorRoute
metadata: {name: nometric, namespace: default}
spec: {target: {service: app, port: 80}}
---
apiVersion: http.keda.sh/v1beta1
kind: InterceptorRoute
metadata: {name: typo, namespace: default}
spec: {target: {service: app, port: 80}, scalingMetric: {concurrency: {targetValue: ten}}}
---
apiVersion: http.keda.sh/v1alpha1
kind: HTTPScaledObject
metadata: {name: app, namespace: default}
spec: {scaleTargetRef: {name: app, service: app, port: 80}, targetPendingRequests: 50}
---
apiVersion: http.keda.sh/v1alpha1
kind: HTTPScaledObject
metadata: {name: rateso, namespace: default}
spec:
  scaleTargetRef: {name: app, service: app, port: 80}
  scalingMetric: {requestRate: {targetValue: 7, window: 1m, granularity: 1s}}
---
apiVersion: http.keda.sh/v1alpha1
kind: HTTPScaledObject
metadata: {name: my_app, namespace: team}
spec:
  scaleTargetRef: {name: app, service: app, port: 80}
  scalingMetric: {concurrency: {targetValue: 3}}
`;

const quiet = createLogger({ component: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
let dir: string;
let store: FileStore;
let pinger: Pinger;
let server: ScalerGrpcServer;
let keda: KedaClient;
const closers: (() => Promise<void> | void)[] = [];

const ref = (namespace: string, name: string, scalerMetadata: Record<string, string>): Ref => ({
  name,
  namespace,
  scalerMetadata,
});
const route = (name: string): Ref => routeRef('default', name);
const so = (ns: string, name: string): Ref => ref(ns, name, { httpScaledObject: name });

const A = '127.0.0.2:9090';
const B = '127.0.0.3:9090';
const poll = (pod: string, body: string) => ({ pod, counts: decodeQueueBody(body), startedAtMs: 0 });

function newPinger(): Pinger {
  return new Pinger({
    store,
    endpoints: { namespace: 'keda', service: 'admin', port: 9090 },
    client: new QueueClient({ timeoutMs: 100 }),
    tickMs: 60_000, // never ticks here; a fed round stays fresh for two "ticks"
    stalePodMs: 5_000,
    metrics: createScalerMetrics(createRegistry({ defaultMetrics: false })),
    log: quiet,
    rateSettingsFor: rateSettingsFromStore(store),
  });
}

/** The real server on 127.0.0.1:0; its streams evaluate IsActive through the real handlers. */
async function startServer(
  p: Pinger,
): Promise<{ server: ScalerGrpcServer; keda: KedaClient; streams: ActiveStreams }> {
  const view = scalerView(store, p);
  const streams = new ActiveStreams({
    prepare: (r) => prepareIsActive(view, r),
    heartbeatMs: 60_000,
    log: quiet,
  });
  const srv = await startGrpcServer({ view, streams, log: quiet, port: 0, host: '127.0.0.1' });
  const client = new KedaClient(`127.0.0.1:${srv.port}`);
  closers.push(async () => {
    client.close();
    streams.stop();
    await srv.stop(100);
  });
  return { server: srv, keda: client, streams };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scaler-wire-'));
  await writeFile(join(dir, 'objects.yaml'), objects);
  store = new FileStore(join(dir, 'objects.yaml'), quiet);
  await store.synced;
  pinger = newPinger();
  ({ server, keda } = await startServer(pinger));

  // Two rounds of recorded answers from two interceptor pods, one second apart. Each route's
  // rate window is read from its object, so KEDA's first GetMetrics keeps this history.
  const t1 = Date.now();
  const t0 = t1 - 1_000;
  pinger.applyPoll(
    [A, B],
    [
      poll(
        A,
        '{"default/app":{"Concurrency":0,"RequestCount":0},"default/both":{"Concurrency":0,"RequestCount":10},"default/conc":{"Concurrency":0,"RequestCount":0},"default/idle":{"Concurrency":0,"RequestCount":0},"default/rate":{"Concurrency":0,"RequestCount":100},"default/rateso":{"Concurrency":0,"RequestCount":0}}\n',
      ),
      poll(
        B,
        '{"default/conc":{"Concurrency":0,"RequestCount":0},"default/rate":{"Concurrency":0,"RequestCount":7},"team/my_app":{"Concurrency":0,"RequestCount":0}}\n',
      ),
    ],
    t0,
  );
  pinger.applyPoll(
    [A, B],
    [
      poll(
        A,
        '{"default/app":{"Concurrency":2,"RequestCount":2},"default/both":{"Concurrency":1,"RequestCount":13},"default/conc":{"Concurrency":2,"RequestCount":9},"default/idle":{"Concurrency":0,"RequestCount":0},"default/rate":{"Concurrency":0,"RequestCount":104},"default/rateso":{"Concurrency":0,"RequestCount":5}}\n',
      ),
      poll(
        B,
        '{"default/conc":{"Concurrency":1,"RequestCount":4},"default/rate":{"Concurrency":1,"RequestCount":8},"team/my_app":{"Concurrency":5,"RequestCount":5}}\n',
      ),
    ],
    t1,
  );
});

after(async () => {
  for (const c of closers) await c();
  await store?.stop();
});

test('interceptorRoute: float targets named http_<route>_concurrency / _rate, in that order', async () => {
  assert.deepEqual(await keda.metricSpecs(route('conc')), [
    { metricName: 'http_conc_concurrency', targetSize: '0', targetSizeFloat: 10 },
  ]);
  assert.deepEqual(await keda.metricSpecs(route('rate')), [
    { metricName: 'http_rate_rate', targetSize: '0', targetSizeFloat: 5 },
  ]);
  assert.deepEqual(await keda.metricSpecs(route('both')), [
    { metricName: 'http_both_concurrency', targetSize: '0', targetSizeFloat: 4 },
    { metricName: 'http_both_rate', targetSize: '0', targetSizeFloat: 2.5 },
  ]);
});

test('interceptorRoute: float values, concurrency summed over pods, rate per granularity, filtered by name', async () => {
  assert.deepEqual(await keda.metrics(route('conc'), 'http_conc_concurrency'), [
    { metricName: 'http_conc_concurrency', metricValue: '0', metricValueFloat: 3 },
  ]);
  // Deltas: pod A 104-100=4, pod B 8-7=1 -> 5 requests in the second bucket, 0 in the first:
  // 2.5 requests per second over the two buckets written so far.
  assert.deepEqual(await keda.metrics(route('rate')), [
    { metricName: 'http_rate_rate', metricValue: '0', metricValueFloat: 2.5 },
  ]);
  assert.deepEqual(await keda.metrics(route('both')), [
    { metricName: 'http_both_concurrency', metricValue: '0', metricValueFloat: 1 },
    { metricName: 'http_both_rate', metricValue: '0', metricValueFloat: 1.5 },
  ]);
  const onlyRate = await keda.metrics(route('both'), 'http_both_rate');
  assert.deepEqual(
    onlyRate.map((v) => v.metricName),
    ['http_both_rate'],
  );
  assert.deepEqual(
    await keda.metrics(route('both'), 'http_other_rate'),
    [],
    'an unknown name is an empty list',
  );
});

test('interceptorRoute: IsActive is any value above 0; a route without metrics is an error', async () => {
  assert.equal(await keda.isActive(route('conc')), true);
  assert.equal(await keda.isActive(route('rate')), true);
  assert.equal(await keda.isActive(route('idle')), false);
  await assert.rejects(keda.isActive(route('nometric')), {
    code: grpc.status.UNKNOWN,
    details: 'no metric values in response',
  });
});

test('a missing route or object is gRPC Unknown with the Kubernetes NotFound words', async () => {
  await assert.rejects(keda.metricSpecs(route('nope')), {
    code: grpc.status.UNKNOWN,
    details: 'interceptorroutes.http.keda.sh "nope" not found',
  });
  await assert.rejects(keda.metrics(ref('default', 'x', { httpScaledObject: 'nope' })), {
    code: grpc.status.UNKNOWN,
    details: 'httpscaledobjects.http.keda.sh "nope" not found',
  });
  await assert.rejects(keda.isActive(ref('default', 'x', { scalerAddress: 'a:1' })), {
    code: grpc.status.UNKNOWN,
    details: 'unable to get HTTPScaledObject reference',
  });
});

test('a 1 MB name in the trigger metadata comes back cut to a bounded length, marked as cut', async () => {
  const huge = 'n'.repeat(1_000_000);
  const calls: [string, () => Promise<unknown>][] = [
    ['GetMetricSpec interceptorRoute', () => keda.metricSpecs(route(huge))],
    ['GetMetrics httpScaledObject', () => keda.metrics(ref('default', 'x', { httpScaledObject: huge }))],
    ['IsActive interceptorRoute', () => keda.isActive(route(huge))],
    [
      'GetMetricSpec interceptorTargetPendingRequests',
      () => keda.metricSpecs(ref('keda', 'x', { interceptorTargetPendingRequests: huge })),
    ],
  ];
  for (const [what, call] of calls) {
    await assert.rejects(call(), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNKNOWN, what);
      assert.ok(err.details.length < 1_000, `${what}: ${err.details.length} characters`);
      assert.match(
        err.details,
        /^(interceptorroutes|httpscaledobjects)\.http\.keda\.sh "n+…\(\+\d+ more characters\)" not found$|^strconv\.ParseInt: parsing "n+…\(\+\d+ more characters\): invalid syntax$/,
        what,
      );
      return true;
    });
  }
});

test('a hand-written object with a bad target says where the problem is', async () => {
  await assert.rejects(keda.metricSpecs(route('typo')), {
    code: grpc.status.INVALID_ARGUMENT,
    details:
      'InterceptorRoute default/typo: spec.scalingMetric.concurrency.targetValue must be a number, got "ten"',
  });
});

test('httpScaledObject: one int metric http-<ns>_002F<name>, target by precedence, ceil of the rate', async () => {
  assert.deepEqual(await keda.metricSpecs(so('default', 'app')), [
    { metricName: 'http-default_002Fapp', targetSize: '50', targetSizeFloat: 0 },
  ]);
  assert.deepEqual(await keda.metricSpecs(so('default', 'rateso')), [
    { metricName: 'http-default_002Frateso', targetSize: '7', targetSizeFloat: 0 },
  ]);
  assert.deepEqual(await keda.metricSpecs(so('team', 'my_app')), [
    { metricName: 'http-team_002Fmy_005Fapp', targetSize: '3', targetSizeFloat: 0 },
  ]);
  assert.deepEqual(await keda.metrics(so('default', 'app'), 'ignored'), [
    { metricName: 'http-default_002Fapp', metricValue: '2', metricValueFloat: 0 },
  ]);
  // 5 requests over 2 one-second buckets = 2.5 -> ceil 3, as an int.
  assert.deepEqual(await keda.metrics(so('default', 'rateso')), [
    { metricName: 'http-default_002Frateso', metricValue: '3', metricValueFloat: 0 },
  ]);
  assert.equal(await keda.isActive(so('team', 'my_app')), true);
});

test('interceptorTargetPendingRequests: the interceptors scale on all concurrency', async () => {
  const self = ref('keda', 'keda-add-ons-http-interceptor', { interceptorTargetPendingRequests: '200' });
  assert.deepEqual(await keda.metricSpecs(self), [
    { metricName: 'http-keda_002Fkeda-add-ons-http-interceptor', targetSize: '200', targetSizeFloat: 0 },
  ]);
  // 2 (app) + 1 (both) + 3 (conc) + 1 (rate) + 5 (my_app)
  assert.deepEqual(await keda.metrics(self), [
    { metricName: 'http-keda_002Fkeda-add-ons-http-interceptor', metricValue: '12', metricValueFloat: 0 },
  ]);
  assert.equal(await keda.isActive(self), true);
  await assert.rejects(keda.metricSpecs(ref('keda', 'i', { interceptorTargetPendingRequests: 'lots' })), {
    code: grpc.status.UNKNOWN,
    details: 'strconv.ParseInt: parsing "lots": invalid syntax',
  });
  await assert.rejects(
    keda.metricSpecs(ref('keda', 'i', { interceptorTargetPendingRequests: '9223372036854775808' })),
    {
      code: grpc.status.UNKNOWN,
      details: 'strconv.ParseInt: parsing "9223372036854775808": value out of range',
    },
  );
  // Upstream parses the target only for the spec; the value is served whatever it says.
  const values = await keda.metrics(ref('keda', 'i', { interceptorTargetPendingRequests: 'lots' }));
  assert.equal(values[0]?.metricValue, '12');
});

test('StreamIsActive sends the current answer at once and then on change, without polling', async () => {
  const { keda: client, streams } = await startServer(pinger);
  const stream = client.streamIsActive(route('idle'));
  const received: boolean[] = [];
  let wake: (() => void) | undefined;
  stream.on('data', (m: { result: boolean }) => {
    received.push(m.result);
    wake?.();
  });
  stream.on('error', () => {});
  const next = (n: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${received.length} messages: ${received}`)),
        2_000,
      );
      wake = () => {
        if (received.length >= n) {
          clearTimeout(timer);
          resolve();
        }
      };
      wake();
    });
  await next(1);
  assert.deepEqual(received, [false]);
  // An interceptor's change stream reports the route's first pending request.
  const t = performance.now();
  pinger.applyEvent(A, 'default/idle', 1, 1);
  streams.notifyKey('default/idle');
  await next(2);
  assert.deepEqual(received, [false, true]);
  assert.ok(performance.now() - t < 200, 'sent on change, not on a timer');
  // Re-evaluating with nothing changed sends nothing.
  streams.notifyAll();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(received.length, 2);
  // The route's last request finished: an event does not send false (light load flaps 0 -> 1 -> 0
  // with every request); the next poll tick does.
  pinger.applyEvent(A, 'default/idle', 0, 1);
  streams.notifyKey('default/idle');
  for (let i = 2; i < 100; i++) {
    pinger.applyEvent(A, 'default/idle', 1, i);
    streams.notifyKey('default/idle');
    pinger.applyEvent(A, 'default/idle', 0, i);
    streams.notifyKey('default/idle');
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(received, [false, true], 'no message for 99 requests that came and went');
  streams.notifyAll();
  await next(3);
  assert.deepEqual(received, [false, true, false]);
  // And the next first request is announced at once again.
  pinger.applyEvent(A, 'default/idle', 1, 100);
  streams.notifyKey('default/idle');
  await next(4);
  assert.deepEqual(received, [false, true, false, true]);
  stream.cancel();

  // A route that does not exist ends the stream with upstream's error.
  const bad = client.streamIsActive(route('nope'));
  const err = await new Promise<grpc.ServiceError>((resolve) => bad.on('error', resolve));
  assert.equal(err.code, grpc.status.UNKNOWN);
  assert.equal(err.details, 'interceptorroutes.http.keda.sh "nope" not found');
});

test('numbers nobody has confirmed are refused (UNAVAILABLE), specs still answer', async () => {
  const { keda: stale } = await startServer(newPinger());
  assert.equal((await stale.metricSpecs(route('conc'))).length, 1);
  await assert.rejects(
    stale.metrics(route('conc')),
    (err: grpc.ServiceError) =>
      err.code === grpc.status.UNAVAILABLE && /no interceptor has answered yet/.test(err.details),
  );
  await assert.rejects(stale.isActive(route('conc')), { code: grpc.status.UNAVAILABLE });
});

test('health answers for liveness and readiness, and "" is SERVING', async () => {
  assert.equal(await keda.healthStatus(''), 'SERVING');
  assert.equal(await keda.healthStatus('readiness'), 'UNKNOWN');
  server.setHealth('SERVING');
  assert.equal(await keda.healthStatus('liveness'), 'SERVING');
  assert.equal(await keda.healthStatus('readiness'), 'SERVING');
  server.setHealth('NOT_SERVING');
  assert.equal(await keda.healthStatus('readiness'), 'NOT_SERVING');
});

type ReflectionReply = { list_services_response?: { service: { name: string }[] } };

test('server reflection lists the external scaler, health and reflection services', async () => {
  const def = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', {
    keepCase: true,
    includeDirs: [join(import.meta.dirname, '../../../node_modules/@grpc/reflection/build/proto')],
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
  };
  const rc = new pkg.grpc.reflection.v1.ServerReflection(
    `127.0.0.1:${server.port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as grpc.Client & {
    ServerReflectionInfo(): grpc.ClientDuplexStream<object, ReflectionReply>;
  };
  const duplex = rc.ServerReflectionInfo();
  const reply = new Promise<string[]>((resolve, reject) => {
    duplex.on('data', (m: ReflectionReply) =>
      resolve((m.list_services_response?.service ?? []).map((s) => s.name)),
    );
    duplex.on('error', reject);
  });
  duplex.write({ list_services: '' });
  const names = await reply;
  duplex.end();
  rc.close();
  for (const n of [
    'externalscaler.ExternalScaler',
    'grpc.health.v1.Health',
    'grpc.reflection.v1.ServerReflection',
    'grpc.reflection.v1alpha.ServerReflection',
  ]) {
    assert.ok(names.includes(n), `${n} in ${names}`);
  }
});

test("StreamMetricSpec (KEDA main only) is UNIMPLEMENTED, which KEDA reads as 'pull instead'", async () => {
  const call = keda.raw.makeServerStreamRequest(
    '/externalscaler.ExternalScaler/StreamMetricSpec',
    () => Buffer.alloc(0), // an empty ScaledObjectRef
    (b: Buffer) => b,
    {},
  );
  const err = await new Promise<grpc.ServiceError>((resolve) => {
    call.on('error', resolve);
    call.on('data', () => {});
  });
  assert.equal(err.code, grpc.status.UNIMPLEMENTED);
});
