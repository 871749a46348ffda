// Traces of the interceptor and the scaler (OTEL_EXPORTER_OTLP_TRACES_ENABLED). The OpenTelemetry
// SDK and its exporters (otlp-tracing.ts) are loaded only when traces are on: loading them takes
// a few hundred milliseconds and tens of MiB, which a service with traces off should not pay.
//
// No global provider and no context manager are registered: the services pass span contexts
// explicitly (the request pipeline keeps them on its Exchange), so no AsyncLocalStorage is paid
// for on any request, traced or not.
import type { Context, TextMapPropagator, Tracer } from '@opentelemetry/api';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { Logger } from '../log.ts';
import type { TelemetryConfig } from './config.ts';

export type TracesOn = Extract<TelemetryConfig['traces'], { enabled: true }>;

export interface Tracing {
  tracer: Tracer;
  /** W3C traceparent/tracestate and baggage. */
  propagator: TextMapPropagator;
  /** The context nothing came in with: the root of a new trace. */
  root: Context;
  /** Exports what is buffered. Never rejects: a failed export is logged. */
  forceFlush(): Promise<void>;
  /** Exports what is buffered, then stops the exporter. Never rejects: a failed export is logged. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** Replaces the exporter chosen by the protocol (unit tests use the SDK's in-memory one). */
  exporter?: SpanExporter;
  /** Batch delay, in place of the configured one. */
  scheduledDelayMs?: number;
}

/** Tracing for one service, or undefined when traces are off (then nothing of the SDK is loaded). */
export async function startTracing(
  telemetry: TelemetryConfig,
  instrumentation: string,
  log: Logger,
  opts: TracingOptions = {},
): Promise<Tracing | undefined> {
  const traces = telemetry.traces;
  if (!traces.enabled) return undefined;
  const { startSdkTracing } = await import('./otlp-tracing.ts');
  return startSdkTracing(telemetry, traces, instrumentation, log, opts);
}
