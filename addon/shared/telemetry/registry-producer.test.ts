// The Prometheus -> OpenTelemetry conversion of the OTLP metrics export, on a real prom-client
// registry: types, integer values and attributes, per-bucket histogram counts, what is left out,
// and the start time of cumulative series, renewed when a series restarts from zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hrTimeToNanoseconds } from '@opentelemetry/core';
import { ValueType } from '@opentelemetry/api';
import { DataPointType, type Histogram as OtelHistogram } from '@opentelemetry/sdk-metrics';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RegistryMetricProducer, type InstrumentTable } from './registry-producer.ts';

const table: InstrumentTable = {
  requests_total: {
    name: 'requests',
    kind: 'counter',
    description: 'requests',
    integer: true,
    integerAttributes: ['code'],
  },
  inflight: { name: 'inflight', kind: 'upDownCounter', description: 'in flight', integer: true },
  temperature: { name: 'temperature', kind: 'gauge', description: 'degrees' },
  latency_seconds: { name: 'latency', kind: 'histogram', description: 'latency', unit: 's' },
};

function setup() {
  const registry = new Registry();
  const m = {
    requests: new Counter({
      name: 'requests_total',
      help: 'h',
      labelNames: ['code', 'route'],
      registers: [registry],
    }),
    inflight: new Gauge({ name: 'inflight', help: 'h', registers: [registry] }),
    temperature: new Gauge({ name: 'temperature', help: 'h', registers: [registry] }),
    latency: new Histogram({
      name: 'latency_seconds',
      help: 'h',
      buckets: [0.1, 1],
      labelNames: ['route'],
      registers: [registry],
    }),
    // Registered but not in the table: not exported.
    other: new Counter({ name: 'other_total', help: 'h', registers: [registry] }),
  };
  const errors: unknown[] = [];
  const producer = new RegistryMetricProducer({
    registry,
    table,
    meterName: 'test-meter',
    onError: (e) => errors.push(e),
  });
  return { registry, m, producer, errors };
}

async function collect(producer: RegistryMetricProducer) {
  const { resourceMetrics, errors } = await producer.collect();
  assert.deepEqual(errors, []);
  const [scope] = resourceMetrics.scopeMetrics;
  assert.equal(scope?.scope.name, 'test-meter');
  return Object.fromEntries((scope?.metrics ?? []).map((md) => [md.descriptor.name, md]));
}

test('counters, up-down counters, gauges and histograms keep their values, labels and kinds; unlisted metrics are left out', async () => {
  const { m, producer, errors } = setup();
  m.requests.inc({ code: '200', route: 'a' }, 3);
  m.requests.inc({ code: '503', route: 'a' });
  m.inflight.set(2);
  m.temperature.set(21.5);
  for (const v of [0.05, 0.5, 0.7, 3]) m.latency.observe({ route: 'a' }, v);
  m.other.inc();

  const got = await collect(producer);
  assert.deepEqual(Object.keys(got).sort(), ['inflight', 'latency', 'requests', 'temperature']);

  const requests = got.requests;
  assert.ok(requests?.dataPointType === DataPointType.SUM);
  assert.equal(requests.isMonotonic, true);
  assert.equal(requests.descriptor.valueType, ValueType.INT);
  assert.deepEqual(
    requests.dataPoints.map((p) => [p.attributes, p.value]),
    [
      [{ code: 200, route: 'a' }, 3],
      [{ code: 503, route: 'a' }, 1],
    ],
  );

  const inflight = got.inflight;
  assert.ok(inflight?.dataPointType === DataPointType.SUM);
  assert.equal(inflight.isMonotonic, false);
  assert.deepEqual(
    inflight.dataPoints.map((p) => p.value),
    [2],
  );

  const temperature = got.temperature;
  assert.ok(temperature?.dataPointType === DataPointType.GAUGE);
  assert.equal(temperature.descriptor.valueType, ValueType.DOUBLE);
  assert.deepEqual(
    temperature.dataPoints.map((p) => p.value),
    [21.5],
  );

  const latency = got.latency;
  assert.ok(latency?.dataPointType === DataPointType.HISTOGRAM);
  assert.equal(latency.descriptor.unit, 's');
  assert.equal(latency.dataPoints.length, 1);
  const h = latency.dataPoints[0]?.value as OtelHistogram;
  assert.deepEqual(latency.dataPoints[0]?.attributes, { route: 'a' });
  // Per bucket, not cumulative: (..0.1] one, (0.1..1] two, (1..) one.
  assert.deepEqual(h.buckets, { boundaries: [0.1, 1], counts: [1, 2, 1] });
  assert.equal(h.count, 4);
  assert.ok(Math.abs((h.sum ?? 0) - 4.25) < 1e-9);
  assert.deepEqual(errors, []);
});

test('a cumulative series keeps its start time while it grows, and gets a new one when it restarts from zero', async () => {
  const { m, producer } = setup();
  m.requests.inc({ code: '200', route: 'a' }, 5);
  const first = (await collect(producer)).requests?.dataPoints[0];
  await new Promise((r) => setTimeout(r, 5));
  m.requests.inc({ code: '200', route: 'a' });
  const second = await collect(producer);
  const grown = second.requests?.dataPoints[0];
  assert.ok(first && grown);
  assert.deepEqual(grown.startTime, first.startTime);
  assert.equal(grown.value, 6);
  const secondEnd = hrTimeToNanoseconds(grown.endTime);

  // A route dropped and seen again (the interceptor's retainRoutes): it counts from zero.
  m.requests.reset();
  await new Promise((r) => setTimeout(r, 5));
  m.requests.inc({ code: '200', route: 'a' });
  const restarted = (await collect(producer)).requests?.dataPoints[0];
  assert.ok(restarted);
  assert.equal(restarted.value, 1);
  // Its new start is the previous export, when it did not count this request yet.
  assert.equal(hrTimeToNanoseconds(restarted.startTime), secondEnd);
  assert.ok(hrTimeToNanoseconds(restarted.startTime) > hrTimeToNanoseconds(first.startTime));
});

test('a metric that fails to read is reported, and the others are still exported', async () => {
  const { registry, errors } = setup();
  new Gauge({
    name: 'broken',
    help: 'h',
    registers: [registry],
    collect() {
      throw new Error('cannot read');
    },
  });
  const broken = new RegistryMetricProducer({
    registry,
    table: { ...table, broken: { name: 'broken', kind: 'gauge', description: 'd' } },
    meterName: 'test-meter',
    onError: (e) => errors.push(e),
  });
  const got = await broken.collect();
  assert.deepEqual(got.resourceMetrics.scopeMetrics[0]?.metrics.map((md) => md.descriptor.name).sort(), [
    'inflight',
    'latency',
    'requests',
    'temperature',
  ]);
  assert.match(String(errors[0]), /cannot read/);
});
