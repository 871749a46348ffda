// The scaler's spans with the SDK's in-memory exporter: a unary call's span (route, answer, error,
// a caller's traceparent continued), and a StreamIsActive message caused by an activation push.
// tests/integration/tracing-collector.test.ts checks the same through a real scaler process and a
// real collector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Metadata, status } from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { createLogger } from '../../shared/log.ts';
import { readTelemetryConfig } from '../../shared/telemetry/config.ts';
import { EnvReader } from '../../shared/config.ts';
import { startTracing, type Tracing } from '../../shared/telemetry/tracing.ts';
import { ActiveStreams } from './active-streams.ts';
import { scalerSpans, tracedCall } from './spans.ts';
import { ScalerError } from './trigger-metrics.ts';

const quiet = createLogger({ component: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });

async function tracingTo(exporter: InMemorySpanExporter): Promise<Tracing> {
  const e = new EnvReader({ OTEL_EXPORTER_OTLP_TRACES_ENABLED: 'true' });
  const telemetry = readTelemetryConfig(e, { serviceName: 'keda-http-external-scaler' });
  e.done();
  return (await startTracing(telemetry, 'test', quiet, { exporter, scheduledDelayMs: 1 })) as Tracing;
}

const ref = {
  name: 'app-so',
  namespace: 'team',
  scalerMetadata: { interceptorRoute: 'app', hosts: 'app.test' },
};

test('a unary call: server span with the route and the answer; errors recorded; a caller trace continued', async () => {
  const exporter = new InMemorySpanExporter();
  const tracing = await tracingTo(exporter);
  const md = new Metadata();
  md.set('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  assert.equal(
    tracedCall(
      tracing,
      'IsActive',
      ref,
      md,
      () => true,
      (a) => ({ 'keda.scaler.active': a }),
    ),
    true,
  );
  assert.throws(() =>
    tracedCall(
      tracing,
      'GetMetrics',
      ref,
      new Metadata(),
      () => {
        throw new ScalerError(status.UNKNOWN, 'route not found');
      },
      () => ({}),
    ),
  );
  await tracing.forceFlush();
  const [ok, failed] = exporter.getFinishedSpans();
  assert.equal(ok?.name, 'externalscaler.ExternalScaler/IsActive');
  assert.equal(ok?.kind, SpanKind.SERVER);
  assert.equal(ok?.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.deepEqual(
    [ok?.attributes['keda.route'], ok?.attributes['keda.scaler.hosts'], ok?.attributes['keda.scaler.active']],
    ['team/app', 'app.test', true],
  );
  assert.equal(ok?.resource.attributes['service.name'], 'keda-http-external-scaler');
  assert.equal(failed?.name, 'externalscaler.ExternalScaler/GetMetrics');
  assert.equal(failed?.status.code, SpanStatusCode.ERROR);
  assert.equal(failed?.attributes['rpc.grpc.status_code'], status.UNKNOWN);
});

test('StreamIsActive: a change caused by an activation push is a span from the push to the send, with the push as an event', async () => {
  const exporter = new InMemorySpanExporter();
  const tracing = await tracingTo(exporter);
  let active = false;
  const sent: boolean[] = [];
  const streams = new ActiveStreams({
    prepare: () => () => active,
    heartbeatMs: 60_000,
    log: quiet,
    spans: scalerSpans(tracing),
  });
  streams.subscribe(ref, { send: (r) => sent.push(r), fail: () => {} });
  const at = Date.now() - 3;
  active = true;
  streams.notifyKey('team/app', { pod: 'interceptor-0', concurrency: 1, at });
  // Unchanged: no new message, no new span.
  streams.notifyKey('team/app', { pod: 'interceptor-0', concurrency: 2, at: Date.now() });
  streams.stop();
  await tracing.forceFlush();
  assert.deepEqual(sent, [false, true]);
  const spans = exporter.getFinishedSpans();
  assert.deepEqual(
    spans.map((s) => [s.name, s.attributes['keda.scaler.active'], s.attributes['keda.scaler.cause']]),
    [
      ['StreamIsActive send', false, 'poll'],
      ['StreamIsActive send', true, 'activation_push'],
    ],
  );
  const pushed = spans[1];
  const ms = (t: [number, number]): number => t[0] * 1000 + t[1] / 1e6;
  assert.equal(Math.round(ms(pushed!.startTime)), at);
  assert.equal(pushed?.events[0]?.name, 'activation pushed');
  assert.equal(pushed?.events[0]?.attributes?.['keda.interceptor.pod'], 'interceptor-0');
  assert.equal(pushed?.attributes['keda.route'], 'team/app');
});
