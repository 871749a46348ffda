// The trace SDK of the interceptor and the scaler, built from the validated TelemetryConfig (upstream
// sets up the same: a batching tracer provider, W3C tracecontext + baggage propagation, and one
// exporter chosen by OTEL_EXPORTER_OTLP_TRACES_PROTOCOL). Nothing here reads the environment.
//
// No global provider and no context manager are registered: the services pass span contexts
// explicitly (the request pipeline keeps them on its Exchange), so no AsyncLocalStorage is paid
// for on any request, traced or not.
import { Metadata, credentials } from '@grpc/grpc-js';
import { type Context, ROOT_CONTEXT, type TextMapPropagator, type Tracer } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { SamplerName, TelemetryConfig } from './config.ts';
import { ConsoleJsonSpanExporter } from './console-span-exporter.ts';
import { telemetryResource } from './resource.ts';

type TracesOn = Extract<TelemetryConfig['traces'], { enabled: true }>;

export interface Tracing {
  tracer: Tracer;
  /** W3C traceparent/tracestate and baggage. */
  propagator: TextMapPropagator;
  /** The context nothing came in with: the root of a new trace. */
  root: Context;
  /** Exports what is buffered. */
  forceFlush(): Promise<void>;
  /** Exports what is buffered, then stops the exporter. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Replaces the exporter chosen by the protocol (unit tests use the SDK's in-memory one). */
  exporter?: SpanExporter;
  /** Batch delay, in place of the configured one. */
  scheduledDelayMs?: number;
}

/** Tracing for one service, or undefined when traces are off (then nothing of the SDK runs). */
export function startTracing(
  telemetry: TelemetryConfig,
  instrumentation: string,
  opts: TracingOptions = {},
): Tracing | undefined {
  const traces = telemetry.traces;
  if (!traces.enabled) return undefined;
  const provider = new TracerProvider({
    resource: telemetryResource(telemetry),
    sampler: sampler(traces.sampler, traces.samplerRatio),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: opts.exporter ?? exporter(traces),
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
    forceFlush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
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
