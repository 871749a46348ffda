// The test collector (tests/harness/otel-collector.ts) receives what the OpenTelemetry JS SDK sends
// over OTLP/HTTP and OTLP/gRPC, and its readers give back spans and metrics as they were recorded:
// the ground the telemetry tests of the interceptor and the scaler stand on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { SimpleSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { startCollector, type Collector } from '../harness/otel-collector.ts';

let collector: Collector;

before(async () => {
  collector = await startCollector();
});

after(async () => {
  await collector?.stop();
});

const protocols: { name: string; traces: () => SpanExporter; metrics: () => PushMetricExporter }[] = [
  {
    name: 'http/protobuf',
    traces: () => new ProtoTraceExporter({ url: `${collector.httpEndpoint}/v1/traces` }),
    metrics: () => new ProtoMetricExporter({ url: `${collector.httpEndpoint}/v1/metrics` }),
  },
  {
    name: 'grpc',
    traces: () => new GrpcTraceExporter({ url: collector.grpcEndpoint }),
    metrics: () => new GrpcMetricExporter({ url: collector.grpcEndpoint }),
  },
];

for (const protocol of protocols) {
  test(`a span tree sent over OTLP ${protocol.name} is read back from the collector's file`, async () => {
    const service = `collector-test-traces-${protocol.name}`;
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': service, 'deployment.environment': 'test' }),
      spanProcessors: [new SimpleSpanProcessor({ exporter: protocol.traces() })],
    });
    const tracer = provider.getTracer('collector-test', '1.2.3');
    const parent = tracer.startSpan('parent', { kind: SpanKind.SERVER, attributes: { 'http.route': '/a' } });
    const child = tracer.startSpan(
      'child',
      { kind: SpanKind.CLIENT, attributes: { attempt: 2, cached: false } },
      trace.setSpan(context.active(), parent),
    );
    child.addEvent('retry', { reason: 'refused' });
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'gave up' });
    child.end();
    parent.end();
    await provider.forceFlush();
    await provider.shutdown();

    const spans = await collector.waitFor(() => {
      const mine = collector.spans().filter((s) => s.resource['service.name'] === service);
      return mine.length === 2 && mine;
    });
    const got = Object.fromEntries(spans.map((s) => [s.name, s]));
    const [p, c] = [got.parent, got.child];
    assert.ok(p && c, `spans: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(p.traceId, parent.spanContext().traceId);
    assert.equal(p.spanId, parent.spanContext().spanId);
    assert.equal(p.parentSpanId, '');
    assert.equal(p.kind, 'SERVER');
    assert.deepEqual(p.attributes, { 'http.route': '/a' });
    assert.equal(c.traceId, p.traceId);
    assert.equal(c.parentSpanId, p.spanId);
    assert.equal(c.kind, 'CLIENT');
    assert.deepEqual(c.attributes, { attempt: 2, cached: false });
    assert.deepEqual(
      c.events.map((e) => [e.name, e.attributes]),
      [['retry', { reason: 'refused' }]],
    );
    assert.deepEqual(c.status, { code: 'ERROR', message: 'gave up' });
    assert.ok(p.startTimeUnixNano > 0n && p.endTimeUnixNano >= p.startTimeUnixNano);
    assert.equal(p.resource['deployment.environment'], 'test');
    assert.deepEqual(p.scope, { name: 'collector-test', version: '1.2.3' });
  });

  test(`a counter and a histogram sent over OTLP ${protocol.name} are read back from the collector's file`, async () => {
    const service = `collector-test-metrics-${protocol.name}`;
    const provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      // Exports only when flushed: the test decides when.
      readers: [
        new PeriodicExportingMetricReader({ exporter: protocol.metrics(), exportIntervalMillis: 3_600_000 }),
      ],
    });
    const meter = provider.getMeter('collector-test');
    const counter = meter.createCounter('test.requests', { description: 'requests seen' });
    const histogram = meter.createHistogram('test.duration', { unit: 's' });
    counter.add(2, { code: 200 });
    counter.add(1, { code: 200 });
    counter.add(4, { code: 503 });
    histogram.record(0.25, { method: 'GET' });
    histogram.record(0.75, { method: 'GET' });
    await provider.forceFlush();
    await provider.shutdown();

    const metrics = await collector.waitFor(() => {
      const mine = collector.metrics().filter((m) => m.resource['service.name'] === service);
      return mine.length >= 2 && mine;
    });
    const requests = metrics.find((m) => m.name === 'test.requests');
    assert.ok(requests, `metrics: ${metrics.map((m) => m.name).join(', ')}`);
    assert.equal(requests.type, 'sum');
    assert.equal(requests.monotonic, true);
    assert.equal(requests.temporality, 'CUMULATIVE');
    assert.equal(requests.description, 'requests seen');
    assert.deepEqual(requests.points.map((p) => [p.attributes.code, p.value]).sort(), [
      [200, 3],
      [503, 4],
    ]);
    const duration = metrics.find((m) => m.name === 'test.duration');
    assert.ok(duration);
    assert.equal(duration.type, 'histogram');
    assert.equal(duration.unit, 's');
    assert.equal(duration.points.length, 1);
    assert.deepEqual(duration.points[0]?.attributes, { method: 'GET' });
    assert.equal(duration.points[0]?.count, 2);
    assert.equal(duration.points[0]?.sum, 1);
    assert.equal(
      duration.points[0]?.bucketCounts?.reduce((a, b) => a + b, 0),
      2,
    );
  });
}
