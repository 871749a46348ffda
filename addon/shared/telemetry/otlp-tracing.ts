// The trace SDK of the interceptor and the scaler, built from the validated TelemetryConfig (upstream
// sets up the same: a batching tracer provider, W3C tracecontext + baggage propagation, and one
// exporter chosen by OTEL_EXPORTER_OTLP_TRACES_PROTOCOL). Nothing here reads the environment.
// Loaded by tracing.ts only when traces are on.
import { Metadata, credentials } from '@grpc/grpc-js';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import {
  CompositePropagator,
  ExportResultCode,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
  type ExportResult,
} from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { Logger } from '../log.ts';
import { RateLimitedLog } from '../rate-limited-log.ts';
import type { SamplerName, TelemetryConfig } from './config.ts';
import type { Tracing, TracingOptions, TracesOn } from './tracing.ts';
import { ConsoleJsonSpanExporter } from './console-span-exporter.ts';
import { telemetryResource } from './resource.ts';

export function startSdkTracing(
  telemetry: TelemetryConfig,
  traces: TracesOn,
  instrumentation: string,
  log: Logger,
  opts: TracingOptions,
): Tracing {
  const target = { protocol: traces.protocol, endpoint: traces.otlp?.url ?? 'stdout' };
  log.info('exporting traces', { ...target, sampler: traces.sampler, samplerRatio: traces.samplerRatio });
  const provider = new TracerProvider({
    resource: telemetryResource(telemetry),
    sampler: sampler(traces.sampler, traces.samplerRatio),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new LoggingSpanExporter(opts.exporter ?? exporter(traces), target, log),
        scheduledDelayMillis: opts.scheduledDelayMs ?? traces.batchDelayMs,
      }),
    ],
  });
  return {
    tracer: provider.getTracer(instrumentation),
    propagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
    root: ROOT_CONTEXT,
    // A failed export was logged by the exporter; stopping never fails on it.
    forceFlush: () => provider.forceFlush().catch(() => {}),
    shutdown: () => provider.shutdown().catch(() => {}),
  };
}

/** The OTEL_TRACES_SAMPLER choices, as the specification defines them. */
export function sampler(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

function exporter(traces: TracesOn): SpanExporter {
  const otlp = traces.otlp;
  if (traces.protocol === 'console' || otlp === undefined) return new ConsoleJsonSpanExporter();
  if (traces.protocol === 'http/protobuf') {
    return new ProtoTraceExporter({ url: otlp.url, headers: otlp.headers, timeoutMillis: otlp.timeoutMs });
  }
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(otlp.headers)) metadata.set(k, v);
  return new GrpcTraceExporter({
    url: otlp.url,
    metadata,
    timeoutMillis: otlp.timeoutMs,
    credentials: otlp.url.startsWith('https:') ? credentials.createSsl() : credentials.createInsecure(),
  });
}

/**
 * The exporter, with its failures logged: the SDK reports them only to its global diagnostics,
 * which the services do not install. The first failure is logged at once, then at most one a
 * minute; the first success after failures says so. The spans of a failed batch are dropped.
 */
class LoggingSpanExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #target: { protocol: string; endpoint: string };
  readonly #log: Logger;
  readonly #warnings: RateLimitedLog;
  #failing = false;

  constructor(inner: SpanExporter, target: { protocol: string; endpoint: string }, log: Logger) {
    this.#inner = inner;
    this.#target = target;
    this.#log = log;
    this.#warnings = new RateLimitedLog(log, 60_000);
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.#inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        if (this.#failing) this.#log.info('trace export works again', this.#target);
        this.#failing = false;
      } else {
        this.#failing = true;
        this.#warnings.warn('export', 'trace export failed; the spans of this batch are dropped', {
          ...this.#target,
          spans: spans.length,
          error: result.error?.message ?? 'unknown export error',
        });
      }
      done(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
}
