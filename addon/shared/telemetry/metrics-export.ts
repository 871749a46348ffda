// OTLP metrics export of the interceptor and the scaler (OTEL_EXPORTER_OTLP_METRICS_ENABLED). The
// OpenTelemetry SDK and its exporters (otlp-metrics.ts) are loaded only when it is on: loading them
// takes a few hundred milliseconds and about 35 MiB, which a service with the export off should not
// pay. The export reads the Prometheus registry (registry-producer.ts), so nothing runs per request.
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';
import type { TelemetryConfig } from './config.ts';
import type { InstrumentTable } from './registry-producer.ts';

export interface MetricsExport {
  /** A last export of the current values, then the exporter closes: the service's shutdown step. */
  shutdown(): Promise<void>;
}

export interface MetricsExportOptions {
  telemetry: TelemetryConfig;
  registry: Registry;
  /** Prometheus name -> OTLP instrument: what is exported, and as what. */
  instruments: InstrumentTable;
  /** The instrumentation scope: upstream's meter name. */
  meterName: string;
  log: Logger;
}

/** Starts the periodic export, or returns undefined when OTLP metrics are off (then nothing is loaded or run). */
export async function startMetricsExport(opts: MetricsExportOptions): Promise<MetricsExport | undefined> {
  const metrics = opts.telemetry.metrics;
  if (!metrics.enabled) return undefined;
  const { startOtlpMetrics } = await import('./otlp-metrics.ts');
  return startOtlpMetrics(metrics, opts);
}
