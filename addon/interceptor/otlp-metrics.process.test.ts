// OTLP metrics of a real `keda-http interceptor` process, received by a real OpenTelemetry
// Collector (tests/harness/otel-collector.ts): upstream's meter and instrument names, the values
// and labels of the requests sent, over OTLP/HTTP (protobuf and JSON) and OTLP/gRPC; the last
// values exported on SIGTERM; a collector that is down costs a log line, not a request; and a bad
// OTEL_* setting stops the process at start-up, naming the variable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCollector, type Collector, type Metric } from '../../tests/harness/otel-collector.ts';
import {
  startInterceptorProcess,
  writeObjects,
  type InterceptorProcess,
} from '../scaler/testing/processes.ts';
import { serviceVersion } from '../shared/telemetry/resource.ts';
import { durationBuckets } from './metrics.ts';
import {
  endpointSlice,
  interceptorRoute,
  refusingPort,
  request,
  service,
  startBackend,
  type Backend,
} from './testing/harness.ts';

const cli = fileURLToPath(new URL('../../bin/keda-http.ts', import.meta.url));

let collector: Collector;
let backend: Backend;
let dir: string;
let objectsFile: string;
const running: InterceptorProcess[] = [];

before(async () => {
  collector = await startCollector();
  backend = await startBackend((_req, res) => res.end('ok'));
  dir = await mkdtemp(join(tmpdir(), 'interceptor-otlp-'));
  objectsFile = join(dir, 'objects.yaml');
  await writeObjects(objectsFile, [
    interceptorRoute('app', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] }),
    service('app', [{ name: 'http', port: 80 }]),
    endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port),
  ]);
});

after(async () => {
  await Promise.all(running.map((p) => p.kill()));
  await collector?.stop();
  await backend?.close();
  await rm(dir, { recursive: true, force: true });
});

async function startInterceptor(env: Record<string, string>): Promise<InterceptorProcess> {
  const p = await startInterceptorProcess(objectsFile, {
    env: { KEDA_HTTP_SHUTDOWN_DELAY: '0s', OTEL_EXPORTER_OTLP_METRICS_ENABLED: 'true', ...env },
  });
  running.push(p);
  return p;
}

/** The last export of `name` from the run tagged test.run=`run` (cumulative: it holds the totals). */
function latest(run: string, name: string): Metric | undefined {
  return collector
    .metrics()
    .filter((m) => m.resource['test.run'] === run && m.name === name)
    .at(-1);
}

const appLabels = { route_name: 'app', route_namespace: 'default' };

const protocols = [
  { protocol: 'http/protobuf', endpoint: () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.httpEndpoint }) },
  { protocol: 'grpc', endpoint: () => ({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: collector.grpcEndpoint }) },
  // A signal's own endpoint is used as given: the path is part of it.
  {
    protocol: 'http/json',
    endpoint: () => ({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${collector.httpEndpoint}/v1/metrics` }),
  },
];

for (const { protocol, endpoint } of protocols) {
  test(`over OTLP ${protocol}, the collector receives upstream's request metrics with the requests' values and labels`, async () => {
    const run = `interceptor-${protocol}`;
    const interceptor = await startInterceptor({
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol,
      ...endpoint(),
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_RESOURCE_ATTRIBUTES: `test.run=${run},deployment.environment=test`,
    });
    const url = `http://127.0.0.1:${interceptor.proxyPort}/`;
    for (let i = 0; i < 3; i++)
      assert.equal((await request(url, { headers: { host: 'app.test' } })).status, 200);
    const post = await request(url, { method: 'POST', headers: { host: 'app.test' }, body: 'x' });
    assert.equal(post.status, 200);
    for (let i = 0; i < 2; i++)
      assert.equal((await request(url, { headers: { host: 'nowhere.test' } })).status, 404);

    const count = await collector.waitFor(() => {
      const m = latest(run, 'interceptor.request.count');
      const total = m?.points.reduce((sum, p) => sum + (p.value ?? 0), 0);
      return total === 6 && m;
    });
    assert.equal(count.type, 'sum');
    assert.equal(count.monotonic, true);
    assert.equal(count.temporality, 'CUMULATIVE');
    assert.equal(count.description, 'Total requests processed by the interceptor proxy');
    assert.deepEqual(count.scope.name, 'keda-interceptor-proxy');
    assert.equal(count.resource['service.name'], 'keda-http-interceptor');
    assert.equal(count.resource['service.version'], serviceVersion);
    assert.equal(count.resource['deployment.environment'], 'test');
    const byLabels = (m: Metric): Record<string, unknown>[] =>
      m.points
        .map((p) => ({ ...p.attributes, value: p.value, count: p.count }))
        .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
    // The status code is an integer attribute, as upstream records it; unmatched requests have empty route labels.
    assert.deepEqual(byLabels(count), [
      { code: 200, method: 'GET', ...appLabels, value: 3, count: undefined },
      { code: 200, method: 'POST', ...appLabels, value: 1, count: undefined },
      { code: 404, method: 'GET', route_name: '', route_namespace: '', value: 2, count: undefined },
    ]);

    const duration = latest(run, 'interceptor.request.duration');
    assert.ok(duration, 'interceptor.request.duration was exported');
    assert.equal(duration.type, 'histogram');
    assert.equal(duration.unit, 's');
    assert.deepEqual(
      byLabels(duration).map((p) => [p['code'], p['method'], p['route_name'], p['count']]),
      [
        [200, 'GET', 'app', 3],
        [200, 'POST', 'app', 1],
        [404, 'GET', '', 2],
      ],
    );
    for (const p of duration.points) {
      assert.deepEqual(p.explicitBounds, durationBuckets);
      assert.equal(
        p.bucketCounts?.reduce((a, b) => a + b, 0),
        p.count,
      );
      assert.ok((p.sum ?? -1) >= 0 && (p.sum ?? 0) < 10, `sum ${p.sum}`);
    }

    const concurrency = latest(run, 'interceptor.request.concurrency');
    assert.ok(concurrency, 'interceptor.request.concurrency was exported');
    assert.equal(concurrency.type, 'sum');
    assert.equal(concurrency.monotonic, false);
    assert.deepEqual(byLabels(concurrency), [{ ...appLabels, value: 0, count: undefined }]);

    // The Node runtime metrics /metrics also serves are not instruments upstream exports.
    const names = new Set(
      collector
        .metrics()
        .filter((m) => m.resource['test.run'] === run)
        .map((m) => m.name),
    );
    assert.ok(
      ![...names].some((n) => n.startsWith('process') || n.startsWith('nodejs')),
      [...names].join(', '),
    );
    assert.equal(await interceptor.terminate(), 0);
  });
}

test('SIGTERM exports the final values before the process exits, whatever the interval', async () => {
  const run = 'interceptor-sigterm';
  const interceptor = await startInterceptor({
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: collector.grpcEndpoint,
    // An hour: the only export in this test is the one on shutdown.
    OTEL_METRIC_EXPORT_INTERVAL: '3600000',
    OTEL_RESOURCE_ATTRIBUTES: `test.run=${run}`,
  });
  const url = `http://127.0.0.1:${interceptor.proxyPort}/`;
  for (let i = 0; i < 4; i++)
    assert.equal((await request(url, { headers: { host: 'app.test' } })).status, 200);
  assert.equal(latest(run, 'interceptor.request.count'), undefined);
  assert.equal(await interceptor.terminate(), 0);
  const count = await collector.waitFor(() => latest(run, 'interceptor.request.count'));
  assert.deepEqual(
    count.points.map((p) => [p.attributes.code, p.value]),
    [[200, 4]],
  );
});

test('with the collector down, requests are served and the failed exports are logged once, not every interval', async () => {
  const down = await refusingPort();
  const interceptor = await startInterceptor({
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${down}`,
    OTEL_METRIC_EXPORT_INTERVAL: '100',
    // The exporter retries a refused export until this timeout before it reports the failure.
    OTEL_EXPORTER_OTLP_TIMEOUT: '500',
  });
  const url = `http://127.0.0.1:${interceptor.proxyPort}/`;
  await interceptor.waitForLog((l) => String(l['message']).startsWith('OTLP metrics export failed'), 10_000);
  // Ten more intervals at least, each failing; requests are answered all along.
  const until = Date.now() + 1_000;
  while (Date.now() < until)
    assert.equal((await request(url, { headers: { host: 'app.test' } })).status, 200);
  const failures = interceptor.logs.filter((l) =>
    String(l['message']).startsWith('OTLP metrics export failed'),
  );
  assert.equal(failures.length, 1, JSON.stringify(failures));
  assert.equal(failures[0]?.['endpoint'], `http://127.0.0.1:${down}/v1/metrics`);
  assert.equal(failures[0]?.['level'], 'warn');
  // The final export on SIGTERM fails too, within the timeout, and the process still exits cleanly.
  const t0 = performance.now();
  assert.equal(await interceptor.terminate(), 0);
  assert.ok(performance.now() - t0 < 5_000, `terminate took ${Math.round(performance.now() - t0)}ms`);
});

for (const [variable, value, expected] of [
  [
    'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
    'carrier-pigeon',
    /OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="carrier-pigeon"/,
  ],
  [
    'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
    'collector:4318',
    /OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="collector:4318" is not valid/,
  ],
  ['OTEL_METRIC_EXPORT_INTERVAL', 'soon', /OTEL_METRIC_EXPORT_INTERVAL/],
] as const) {
  test(`a bad ${variable} stops the interceptor at start-up with a message naming it`, () => {
    const result = spawnSync(process.execPath, [cli, 'interceptor', '--from-file', objectsFile], {
      env: {
        ...process.env,
        KEDA_HTTP_PROXY_PORT: '0',
        KEDA_HTTP_ADMIN_PORT: '0',
        OTEL_PROM_EXPORTER_ENABLED: 'false',
        OTEL_EXPORTER_OTLP_METRICS_ENABLED: 'true',
        [variable]: value,
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(result.status, 1, `exit ${result.status} ${result.signal}; stderr: ${result.stderr}`);
    assert.match(result.stderr, expected);
    assert.doesNotMatch(result.stdout, /interceptor started/);
  });
}
