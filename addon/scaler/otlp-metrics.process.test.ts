// OTLP metrics of a real `keda-http scaler` process, received by a real OpenTelemetry Collector
// (tests/harness/otel-collector.ts): upstream's meter and pinger instruments with the values of the
// scaler's polling (one interceptor answering, one pod refusing), over OTLP/HTTP and OTLP/gRPC;
// and a bad OTEL_* setting stops the process at start-up, naming the variable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCollector, type Collector, type Metric } from '../../tests/harness/otel-collector.ts';
import { refusingPort } from '../interceptor/testing/harness.ts';
import { serviceVersion } from '../shared/telemetry/resource.ts';
import {
  interceptorSlices,
  scalerEnv,
  startInterceptorProcess,
  startScalerProcess,
  writeObjects,
  type InterceptorProcess,
  type ScalerProcess,
} from './testing/processes.ts';

const cli = fileURLToPath(new URL('../../bin/keda-http.ts', import.meta.url));

let collector: Collector;
let dir: string;
let scalerFile: string;
let interceptor: InterceptorProcess;
const scalers: ScalerProcess[] = [];

before(async () => {
  collector = await startCollector();
  dir = await mkdtemp(join(tmpdir(), 'scaler-otlp-'));
  const interceptorFile = join(dir, 'interceptor.yaml');
  await writeObjects(interceptorFile, []);
  interceptor = await startInterceptorProcess(interceptorFile);
  scalerFile = join(dir, 'scaler.yaml');
  // Two listed pods: one interceptor that answers, one address where nothing listens.
  await writeObjects(scalerFile, interceptorSlices([interceptor.adminPort, await refusingPort()]));
});

after(async () => {
  await Promise.all([...scalers.map((s) => s.kill()), interceptor?.kill()]);
  await collector?.stop();
  await rm(dir, { recursive: true, force: true });
});

function latest(run: string, name: string): Metric | undefined {
  return collector
    .metrics()
    .filter((m) => m.resource['test.run'] === run && m.name === name)
    .at(-1);
}

const protocols = [
  { protocol: 'http/protobuf', endpoint: () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.httpEndpoint }) },
  { protocol: 'grpc', endpoint: () => ({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: collector.grpcEndpoint }) },
];

for (const { protocol, endpoint } of protocols) {
  test(`over OTLP ${protocol}, the collector receives upstream's pinger metrics with the polling's values`, async () => {
    const run = `scaler-${protocol}`;
    const scaler = await startScalerProcess(scalerFile, {
      KEDA_HTTP_QUEUE_TICK_DURATION: '200ms',
      KEDA_HTTP_SCALER_QUEUE_FETCH_TIMEOUT: '100ms',
      OTEL_EXPORTER_OTLP_METRICS_ENABLED: 'true',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: protocol,
      ...endpoint(),
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_RESOURCE_ATTRIBUTES: `test.run=${run}`,
    });
    scalers.push(scaler);

    // A few ticks in: the pinger has polled both pods more than once.
    const duration = await collector.waitFor(() => {
      const m = latest(run, 'scaler.pinger.fetch.duration');
      return (m?.points[0]?.count ?? 0) >= 3 && m;
    });
    assert.equal(duration.type, 'histogram');
    assert.equal(duration.unit, 's');
    assert.equal(duration.scope.name, 'keda-external-scaler');
    assert.equal(duration.resource['service.name'], 'keda-http-external-scaler');
    assert.equal(duration.resource['service.version'], serviceVersion);
    assert.equal(duration.points.length, 1);
    assert.deepEqual(duration.points[0]?.attributes, {});
    assert.deepEqual(
      duration.points[0]?.explicitBounds,
      [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5],
    );

    const endpoints = latest(run, 'scaler.pinger.endpoints');
    assert.equal(endpoints?.type, 'gauge');
    assert.deepEqual(
      endpoints?.points.map((p) => p.value),
      [2],
    );
    const unreachable = latest(run, 'scaler.pinger.unreachable_pods');
    assert.equal(unreachable?.type, 'gauge');
    assert.deepEqual(
      unreachable?.points.map((p) => p.value),
      [1],
    );
    // One pod answered every tick: no tick failed as a whole.
    const errors = latest(run, 'scaler.pinger.fetch.errors');
    assert.equal(errors?.type, 'sum');
    assert.equal(errors?.monotonic, true);
    assert.deepEqual(
      errors?.points.map((p) => p.value),
      [0],
    );
    assert.equal(await scaler.terminate(), 0);
  });
}

for (const [variable, value, expected] of [
  [
    'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL',
    'carrier-pigeon',
    /OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="carrier-pigeon"/,
  ],
  [
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'http//collector',
    /OTEL_EXPORTER_OTLP_ENDPOINT="http\/\/collector" is not valid/,
  ],
] as const) {
  test(`a bad ${variable} stops the scaler at start-up with a message naming it`, () => {
    const result = spawnSync(process.execPath, [cli, 'scaler', '--from-file', scalerFile], {
      env: {
        ...process.env,
        ...scalerEnv({ OTEL_EXPORTER_OTLP_METRICS_ENABLED: 'true', [variable]: value }),
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(result.status, 1, `exit ${result.status} ${result.signal}; stderr: ${result.stderr}`);
    assert.match(result.stderr, expected);
    assert.doesNotMatch(result.stdout, /scaler started/);
  });
}
