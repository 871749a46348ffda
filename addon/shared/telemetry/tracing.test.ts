// The trace SDK setup: samplers as configured, spans as JSON lines for `console`, and a failing
// export logged (rate-limited) instead of lost silently.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { EnvReader } from '../config.ts';
import { createLogger } from '../log.ts';
import { readTelemetryConfig } from './config.ts';
import { ConsoleJsonSpanExporter } from './console-span-exporter.ts';
import { startTracing, type Tracing } from './tracing.ts';

function logger(lines: string[]) {
  return createLogger({
    component: 'test',
    level: 'debug',
    stream: new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    }),
  });
}

async function tracing(
  env: Record<string, string>,
  lines: string[],
  exporter?: InMemorySpanExporter,
): Promise<Tracing> {
  const e = new EnvReader({ OTEL_EXPORTER_OTLP_TRACES_ENABLED: 'true', ...env });
  const telemetry = readTelemetryConfig(e, { serviceName: 'svc' });
  e.done();
  return (await startTracing(telemetry, 'test', logger(lines), exporter ? { exporter } : {})) as Tracing;
}

test('off: no tracing at all', async () => {
  const e = new EnvReader({});
  assert.equal(
    await startTracing(readTelemetryConfig(e, { serviceName: 'svc' }), 'test', logger([])),
    undefined,
  );
});

test('samplers: always_off records nothing; traceidratio 0 records nothing; the default records all', async () => {
  for (const [env, recorded] of [
    [{}, 2],
    [{ OTEL_TRACES_SAMPLER: 'always_off' }, 0],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' }, 0],
  ] as const) {
    const exporter = new InMemorySpanExporter();
    const t = await tracing(env, [], exporter);
    t.tracer.startSpan('a').end();
    t.tracer.startSpan('b').end();
    await t.forceFlush();
    assert.equal(exporter.getFinishedSpans().length, recorded, JSON.stringify(env));
    await t.shutdown();
  }
});

test('console: one JSON line per span with ids, parent, service, attributes and events', async () => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const exporter = new ConsoleJsonSpanExporter(out);
  const t = await tracing({}, [], undefined);
  const parent = t.tracer.startSpan('parent', {
    kind: SpanKind.SERVER,
    attributes: { 'keda.route': 'ns/r' },
  });
  parent.addEvent('something', { n: 1 });
  parent.end();
  await new Promise<void>((resolve) =>
    exporter.export([parent as unknown as Parameters<typeof exporter.export>[0][number]], () => resolve()),
  );
  await t.shutdown();
  const line = JSON.parse(text.trim()) as Record<string, unknown>;
  assert.equal(line['span'], 'parent');
  assert.equal(line['kind'], 'server');
  assert.equal(line['service'], 'svc');
  assert.match(String(line['traceId']), /^[0-9a-f]{32}$/);
  assert.deepEqual(line['attributes'], { 'keda.route': 'ns/r' });
  assert.equal((line['events'] as { name: string }[])[0]?.name, 'something');
});

test('a failing export is logged once with the endpoint, not on every batch', async () => {
  // A port that refuses connections.
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  const lines: string[] = [];
  const t = await tracing(
    {
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_TIMEOUT: '500',
    },
    lines,
  );
  for (let i = 0; i < 2; i++) {
    t.tracer.startSpan(`s${i}`).end();
    await t.forceFlush();
  }
  await t.shutdown();
  const warnings = lines.filter((l) => l.includes('trace export failed'));
  assert.equal(warnings.length, 1, lines.join(''));
  assert.match(warnings[0] as string, new RegExp(`127\\.0\\.0\\.1:${port}/v1/traces`));
  assert.ok(lines.some((l) => l.includes('exporting traces')));
});
