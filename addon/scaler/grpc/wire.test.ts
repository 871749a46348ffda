// Wire-level suite: a gRPC client built from KEDA's protocol facts (its own copy of
// externalscaler.proto, written from the field table, not loaded from this project) calls every
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
import { createLogger } from '../../shared/log.ts';
import { createRegistry } from '../../shared/metrics.ts';
import { FileStore } from '../../shared/store/file-store.ts';
import { QueueClient } from '../interceptors/queue-client.ts';
import { createScalerMetrics } from '../metrics.ts';
import { Pinger } from '../pinger.ts';
import { parseQueueCounts } from '../queue/queue-counts.ts';
import { rateSettingsFromStore, scalerView } from '../scaler-view.ts';
import { ActiveStreams } from './active-streams.ts';
import { startGrpcServer, type ScalerGrpcServer } from './server.ts';

const clientProto = `
syntax = "proto3";
package externalscaler;
service ExternalScaler {
  rpc IsActive(ScaledObjectRef) returns (IsActiveResponse) {}
  rpc StreamIsActive(ScaledObjectRef) returns (stream IsActiveResponse) {}
  rpc GetMetricSpec(ScaledObjectRef) returns (GetMetricSpecResponse) {}
  rpc GetMetrics(GetMetricsRequest) returns (GetMetricsResponse) {}
}
message ScaledObjectRef { string name = 1; string namespace = 2; map<string, string> scalerMetadata = 3; }
message IsActiveResponse { bool result = 1; }
message GetMetricSpecResponse { repeated MetricSpec metricSpecs = 1; }
message MetricSpec { string metricName = 1; int64 targetSize = 2; double targetSizeFloat = 3; }
message GetMetricsRequest { ScaledObjectRef scaledObjectRef = 1; string metricName = 2; }
message GetMetricsResponse { repeated MetricValue metricValues = 1; }
message MetricValue { string metricName = 1; int64 metricValue = 2; double metricValueFloat = 3; }
`;

const healthProto = `
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; } ServingStatus status = 1; }
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
`;

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

type Ref = { name: string; namespace: string; scalerMetadata: Record<string, string> };
type Call<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => void;
interface WireSpec {
  metricName: string;
  targetSize: string;
  targetSizeFloat: number;
}
interface WireValue {
  metricName: string;
  metricValue: string;
  metricValueFloat: number;
}
interface Client extends grpc.Client {
  IsActive: Call<Ref, { result: boolean }>;
  GetMetricSpec: Call<Ref, { metricSpecs: WireSpec[] }>;
  GetMetrics: Call<{ scaledObjectRef: Ref; metricName: string }, { metricValues: WireValue[] }>;
  StreamIsActive(req: Ref): grpc.ClientReadableStream<{ result: boolean }>;
}

const quiet = createLogger({ component: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
let dir: string;
let store: FileStore;
let pinger: Pinger;
let server: ScalerGrpcServer;
let client: Client;
let healthClient: grpc.Client & { Check: Call<{ service: string }, { status: string }> };
const closers: (() => Promise<void> | void)[] = [];

async function loadClientPackage(name: string, text: string): Promise<grpc.GrpcObject> {
  const file = join(dir, name);
  await writeFile(file, text);
  const def = protoLoader.loadSync(file, { keepCase: true, longs: String, enums: String, defaults: true });
  return grpc.loadPackageDefinition(def);
}

function call<Req, Res>(fn: Call<Req, Res>, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));
}

function ref(namespace: string, name: string, scalerMetadata: Record<string, string>): Ref {
  return { name, namespace, scalerMetadata };
}
const route = (name: string): Ref =>
  ref('default', `so-${name}`, { interceptorRoute: name, scalerAddress: 'x:9090' });

const A = '127.0.0.2:9090';
const B = '127.0.0.3:9090';
const poll = (pod: string, body: string) => ({ pod, counts: parseQueueCounts(body), startedAtMs: 0 });

async function startServer(
  p: Pinger,
): Promise<{ server: ScalerGrpcServer; client: Client; streams: ActiveStreams }> {
  const view = scalerView(store, p);
  const s = new ActiveStreams({ evaluate: () => false, heartbeatMs: 60_000, log: quiet });
  const srv = await startGrpcServer({ view, streams: s, log: quiet, port: 0, host: '127.0.0.1' });
  const pkg = await loadClientPackage('externalscaler.proto', clientProto);
  const Ctor = (pkg['externalscaler'] as grpc.GrpcObject)['ExternalScaler'] as grpc.ServiceClientConstructor;
  const c = new Ctor(`127.0.0.1:${srv.port}`, grpc.credentials.createInsecure()) as unknown as Client;
  return { server: srv, client: c, streams: s };
}

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

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scaler-wire-'));
  await writeFile(join(dir, 'objects.yaml'), objects);
  store = new FileStore(join(dir, 'objects.yaml'), quiet);
  await store.synced;
  pinger = newPinger();
  ({ server, client } = await startServer(pinger));
  const hpkg = await loadClientPackage('health.proto', healthProto);
  const HealthCtor = ((hpkg['grpc'] as grpc.GrpcObject)['health'] as grpc.GrpcObject)[
    'v1'
  ] as grpc.GrpcObject;
  healthClient = new (HealthCtor['Health'] as grpc.ServiceClientConstructor)(
    `127.0.0.1:${server.port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as typeof healthClient;

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
  client?.close();
  healthClient?.close();
  await server?.stop(100);
  for (const c of closers) await c();
  await store?.stop();
});

test('interceptorRoute: float targets named http_<route>_concurrency / _rate, in that order', async () => {
  const gs = client.GetMetricSpec.bind(client);
  assert.deepEqual((await call(gs, route('conc'))).metricSpecs, [
    { metricName: 'http_conc_concurrency', targetSize: '0', targetSizeFloat: 10 },
  ]);
  assert.deepEqual((await call(gs, route('rate'))).metricSpecs, [
    { metricName: 'http_rate_rate', targetSize: '0', targetSizeFloat: 5 },
  ]);
  assert.deepEqual((await call(gs, route('both'))).metricSpecs, [
    { metricName: 'http_both_concurrency', targetSize: '0', targetSizeFloat: 4 },
    { metricName: 'http_both_rate', targetSize: '0', targetSizeFloat: 2.5 },
  ]);
});

test('interceptorRoute: float values, concurrency summed over pods, rate per granularity, filtered by name', async () => {
  const gm = client.GetMetrics.bind(client);
  assert.deepEqual(
    (await call(gm, { scaledObjectRef: route('conc'), metricName: 'http_conc_concurrency' })).metricValues,
    [{ metricName: 'http_conc_concurrency', metricValue: '0', metricValueFloat: 3 }],
  );
  // Deltas: pod A 104-100=4, pod B 8-7=1 -> 5 requests in the second bucket, 0 in the first:
  // 2.5 requests per second over the two buckets written so far.
  assert.deepEqual((await call(gm, { scaledObjectRef: route('rate'), metricName: '' })).metricValues, [
    { metricName: 'http_rate_rate', metricValue: '0', metricValueFloat: 2.5 },
  ]);
  const both = await call(gm, { scaledObjectRef: route('both'), metricName: '' });
  assert.deepEqual(both.metricValues, [
    { metricName: 'http_both_concurrency', metricValue: '0', metricValueFloat: 1 },
    { metricName: 'http_both_rate', metricValue: '0', metricValueFloat: 1.5 },
  ]);
  const onlyRate = await call(gm, { scaledObjectRef: route('both'), metricName: 'http_both_rate' });
  assert.deepEqual(
    onlyRate.metricValues.map((v) => v.metricName),
    ['http_both_rate'],
  );
  const unknown = await call(gm, { scaledObjectRef: route('both'), metricName: 'http_other_rate' });
  assert.deepEqual(unknown.metricValues, [], 'an unknown name is an empty list, not an error');
});

test('interceptorRoute: IsActive is any value above 0; a route without metrics is an error', async () => {
  const ia = client.IsActive.bind(client);
  assert.deepEqual(await call(ia, route('conc')), { result: true });
  assert.deepEqual(await call(ia, route('rate')), { result: true });
  assert.deepEqual(await call(ia, route('idle')), { result: false });
  await assert.rejects(call(ia, route('nometric')), {
    code: grpc.status.UNKNOWN,
    details: 'no metric values in response',
  });
});

test('a missing route or object is gRPC Unknown with the Kubernetes NotFound words', async () => {
  await assert.rejects(call(client.GetMetricSpec.bind(client), route('nope')), {
    code: grpc.status.UNKNOWN,
    details: 'interceptorroutes.http.keda.sh "nope" not found',
  });
  await assert.rejects(
    call(client.GetMetrics.bind(client), {
      scaledObjectRef: ref('default', 'x', { httpScaledObject: 'nope' }),
      metricName: '',
    }),
    { code: grpc.status.UNKNOWN, details: 'httpscaledobjects.http.keda.sh "nope" not found' },
  );
  await assert.rejects(call(client.IsActive.bind(client), ref('default', 'x', { scalerAddress: 'a:1' })), {
    code: grpc.status.UNKNOWN,
    details: 'unable to get HTTPScaledObject reference',
  });
});

test('httpScaledObject: one int metric http-<ns>_002F<name>, target by precedence, ceil of the rate', async () => {
  const so = (ns: string, name: string) => ref(ns, name, { httpScaledObject: name });
  const gs = client.GetMetricSpec.bind(client);
  const gm = client.GetMetrics.bind(client);
  assert.deepEqual((await call(gs, so('default', 'app'))).metricSpecs, [
    { metricName: 'http-default_002Fapp', targetSize: '50', targetSizeFloat: 0 },
  ]);
  assert.deepEqual((await call(gs, so('default', 'rateso'))).metricSpecs, [
    { metricName: 'http-default_002Frateso', targetSize: '7', targetSizeFloat: 0 },
  ]);
  assert.deepEqual((await call(gs, so('team', 'my_app'))).metricSpecs, [
    { metricName: 'http-team_002Fmy_005Fapp', targetSize: '3', targetSizeFloat: 0 },
  ]);
  assert.deepEqual(
    (await call(gm, { scaledObjectRef: so('default', 'app'), metricName: 'ignored' })).metricValues,
    [{ metricName: 'http-default_002Fapp', metricValue: '2', metricValueFloat: 0 }],
  );
  // 5 requests over 2 one-second buckets = 2.5 -> ceil 3, as an int.
  assert.deepEqual(
    (await call(gm, { scaledObjectRef: so('default', 'rateso'), metricName: '' })).metricValues,
    [{ metricName: 'http-default_002Frateso', metricValue: '3', metricValueFloat: 0 }],
  );
  assert.deepEqual(await call(client.IsActive.bind(client), so('team', 'my_app')), { result: true });
});

test('interceptorTargetPendingRequests: the interceptors scale on all concurrency', async () => {
  const self = ref('keda', 'keda-add-ons-http-interceptor', { interceptorTargetPendingRequests: '200' });
  assert.deepEqual((await call(client.GetMetricSpec.bind(client), self)).metricSpecs, [
    { metricName: 'http-keda_002Fkeda-add-ons-http-interceptor', targetSize: '200', targetSizeFloat: 0 },
  ]);
  // 2 (app) + 1 (both) + 3 (conc) + 1 (rate) + 5 (my_app)
  assert.deepEqual(
    (await call(client.GetMetrics.bind(client), { scaledObjectRef: self, metricName: '' })).metricValues,
    [{ metricName: 'http-keda_002Fkeda-add-ons-http-interceptor', metricValue: '12', metricValueFloat: 0 }],
  );
  assert.deepEqual(await call(client.IsActive.bind(client), self), { result: true });
  await assert.rejects(
    call(client.GetMetricSpec.bind(client), ref('keda', 'i', { interceptorTargetPendingRequests: 'lots' })),
    (err: grpc.ServiceError) =>
      err.code === grpc.status.UNKNOWN && /"lots" is not a whole number/.test(err.details),
  );
});

test('StreamIsActive sends the current answer at once and then on change, without polling', async () => {
  // A separate server whose streams evaluate through the real handlers.
  const { isActive } = await import('./trigger-metrics.ts');
  const view = scalerView(store, pinger);
  const s = new ActiveStreams({ evaluate: (r) => isActive(view, r), heartbeatMs: 60_000, log: quiet });
  const srv = await startGrpcServer({ view, streams: s, log: quiet, port: 0, host: '127.0.0.1' });
  const pkg = await loadClientPackage('externalscaler.proto', clientProto);
  const Ctor = (pkg['externalscaler'] as grpc.GrpcObject)['ExternalScaler'] as grpc.ServiceClientConstructor;
  const c = new Ctor(`127.0.0.1:${srv.port}`, grpc.credentials.createInsecure()) as unknown as Client;
  closers.push(async () => {
    c.close();
    s.stop();
    await srv.stop(100);
  });

  const stream = c.StreamIsActive(route('idle'));
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
  s.notifyKey('default/idle');
  await next(2);
  assert.deepEqual(received, [false, true]);
  assert.ok(performance.now() - t < 200, 'sent on change, not on a timer');
  // Re-evaluating with nothing changed sends nothing.
  s.notifyAll();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(received.length, 2);
  pinger.applyEvent(A, 'default/idle', 0, 1);
  s.notifyKey('default/idle');
  await next(3);
  assert.deepEqual(received, [false, true, false]);
  stream.cancel();

  // A route that does not exist ends the stream with upstream's error.
  const bad = c.StreamIsActive(route('nope'));
  const err = await new Promise<grpc.ServiceError>((resolve) => bad.on('error', resolve));
  assert.equal(err.code, grpc.status.UNKNOWN);
  assert.equal(err.details, 'interceptorroutes.http.keda.sh "nope" not found');
});

test('numbers nobody has confirmed are refused (UNAVAILABLE), specs still answer', async () => {
  const stale = await startServer(newPinger());
  closers.push(async () => {
    stale.client.close();
    await stale.server.stop(100);
  });
  assert.equal(
    (await call(stale.client.GetMetricSpec.bind(stale.client), route('conc'))).metricSpecs.length,
    1,
  );
  await assert.rejects(
    call(stale.client.GetMetrics.bind(stale.client), { scaledObjectRef: route('conc'), metricName: '' }),
    (err: grpc.ServiceError) =>
      err.code === grpc.status.UNAVAILABLE && /no interceptor has answered yet/.test(err.details),
  );
  await assert.rejects(call(stale.client.IsActive.bind(stale.client), route('conc')), {
    code: grpc.status.UNAVAILABLE,
  });
});

test('health answers for liveness and readiness, and "" is SERVING', async () => {
  const check = healthClient.Check.bind(healthClient);
  assert.deepEqual(await call(check, { service: '' }), { status: 'SERVING' });
  assert.deepEqual(await call(check, { service: 'readiness' }), { status: 'UNKNOWN' });
  server.setHealth('SERVING');
  assert.deepEqual(await call(check, { service: 'liveness' }), { status: 'SERVING' });
  assert.deepEqual(await call(check, { service: 'readiness' }), { status: 'SERVING' });
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
  for (const n of ['externalscaler.ExternalScaler', 'grpc.health.v1.Health'])
    assert.ok(names.includes(n), `${n} in ${names}`);
});
