import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, EnvReader } from '../config.ts';
import { readTelemetryConfig } from './config.ts';

function read(env: Record<string, string>) {
  const e = new EnvReader(env);
  const config = readTelemetryConfig(e, { serviceName: 'svc' });
  e.done();
  return config;
}

function problems(env: Record<string, string>): readonly string[] {
  try {
    read(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

test('off by default, with the service name given', () => {
  const c = read({});
  assert.deepEqual(c, {
    serviceName: 'svc',
    resourceAttributes: {},
    traces: { enabled: false },
    metrics: { enabled: false },
  });
});

test('traces: upstream default protocol is console, case-insensitive, sampler defaults', () => {
  assert.deepEqual(read({ OTEL_EXPORTER_OTLP_TRACES_ENABLED: 'true' }).traces, {
    enabled: true,
    protocol: 'console',
    sampler: 'parentbased_always_on',
    samplerRatio: 1,
    batchDelayMs: 5000,
  });
  const t = read({
    OTEL_EXPORTER_OTLP_TRACES_ENABLED: 'true',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'HTTP/PROTOBUF',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
    OTEL_EXPORTER_OTLP_HEADERS: 'a=1,b=x%20y',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'b=2',
    OTEL_TRACES_SAMPLER: 'traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
    OTEL_BSP_SCHEDULE_DELAY: '200',
  }).traces;
  assert.deepEqual(t, {
    enabled: true,
    protocol: 'http/protobuf',
    sampler: 'traceidratio',
    samplerRatio: 0.25,
    batchDelayMs: 200,
    otlp: { url: 'http://collector:4318/v1/traces', headers: { a: '1', b: '2' }, timeoutMs: 10_000 },
  });
});

test('endpoints: the signal endpoint is used as given; gRPC gets no path', () => {
  const env = { OTEL_EXPORTER_OTLP_TRACES_ENABLED: 'true', OTEL_EXPORTER_OTLP_METRICS_ENABLED: 'true' };
  const c = read({
    ...env,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc',
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://m.example:9999/custom',
    OTEL_METRIC_EXPORT_INTERVAL: '5000',
  });
  assert.equal(c.traces.enabled && c.traces.otlp?.url, 'http://localhost:4317');
  assert.deepEqual(c.metrics, {
    enabled: true,
    protocol: 'http/protobuf',
    intervalMs: 5000,
    otlp: { url: 'https://m.example:9999/custom', headers: {}, timeoutMs: 10_000 },
  });
});

test('service name and resource attributes', () => {
  const c = read({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,deployment.environment=prod' });
  assert.equal(c.serviceName, 'from-attrs');
  assert.deepEqual(c.resourceAttributes, { 'deployment.environment': 'prod' });
  assert.equal(
    read({ OTEL_SERVICE_NAME: 'named', OTEL_RESOURCE_ATTRIBUTES: 'service.name=x' }).serviceName,
    'named',
  );
});

test('bad configuration names the variable', () => {
  const on = { OTEL_EXPORTER_OTLP_TRACES_ENABLED: 'true', OTEL_EXPORTER_OTLP_METRICS_ENABLED: 'true' };
  const cases: [Record<string, string>, string][] = [
    [{ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'zipkin' }, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="zipkin"'],
    [
      { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' },
      'OTEL_EXPORTER_OTLP_ENDPOINT="collector:4317"',
    ],
    [{ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'ftp://x' }, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="ftp://x"'],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'udp' }, 'OTEL_EXPORTER_OTLP_PROTOCOL="udp"'],
    [{ OTEL_TRACES_SAMPLER_ARG: '2' }, 'OTEL_TRACES_SAMPLER_ARG="2"'],
    [{ OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER="sometimes"'],
    [{ OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }, 'OTEL_EXPORTER_OTLP_HEADERS'],
    [{ OTEL_METRIC_EXPORT_INTERVAL: 'soon' }, 'OTEL_METRIC_EXPORT_INTERVAL="soon"'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENABLED: 'yes' }, 'OTEL_EXPORTER_OTLP_TRACES_ENABLED="yes"'],
  ];
  for (const [env, expected] of cases) {
    const found = problems({ ...on, ...env });
    assert.ok(
      found.some((p) => p.startsWith(expected)),
      `${JSON.stringify(env)}: ${JSON.stringify(found)}`,
    );
  }
});

test('a malformed endpoint is ignored while its signal is off', () => {
  assert.equal(read({ OTEL_EXPORTER_OTLP_ENDPOINT: 'nonsense' }).traces.enabled, false);
});
