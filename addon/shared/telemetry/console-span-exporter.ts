// The `console` traces protocol: each finished span as one JSON line on stdout, beside the winston
// JSON logs, so a log collector keeps both and `jq` reads both. (The SDK's own console exporter
// prints util.inspect output over several lines, which no log pipeline can parse.)
import type { Writable } from 'node:stream';
import { hrTimeToMilliseconds, type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { SpanKind } from '@opentelemetry/api';

const kinds: Record<SpanKind, string> = {
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
};

const statusNames = ['unset', 'ok', 'error'];

export class ConsoleJsonSpanExporter implements SpanExporter {
  readonly #out: Writable;

  constructor(out: Writable = process.stdout) {
    this.#out = out;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    let text = '';
    for (const s of spans) text += JSON.stringify(spanRecord(s)) + '\n';
    this.#out.write(text, (err) =>
      done(err ? { code: ExportResultCode.FAILED, error: err } : { code: ExportResultCode.SUCCESS }),
    );
  }

  async shutdown(): Promise<void> {}

  async forceFlush(): Promise<void> {}
}

function spanRecord(s: ReadableSpan): Record<string, unknown> {
  const ctx = s.spanContext();
  const startMs = hrTimeToMilliseconds(s.startTime);
  return {
    span: s.name,
    kind: kinds[s.kind],
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    service: s.resource.attributes['service.name'],
    start: new Date(startMs).toISOString(),
    durationMs: Math.round(hrTimeToMilliseconds(s.duration) * 1000) / 1000,
    status: statusNames[s.status.code],
    ...(s.status.message ? { statusMessage: s.status.message } : {}),
    attributes: s.attributes,
    ...(s.events.length > 0
      ? {
          events: s.events.map((e) => ({
            name: e.name,
            time: new Date(hrTimeToMilliseconds(e.time)).toISOString(),
            attributes: e.attributes,
          })),
        }
      : {}),
    ...(s.links.length > 0
      ? { links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })) }
      : {}),
  };
}
