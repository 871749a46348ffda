// The OpenTelemetry metrics SDK behind startMetricsExport (metrics-export.ts), loaded only when
// OTLP metrics are on: every OTEL_METRIC_EXPORT_INTERVAL the service's Prometheus registry is read
// through a RegistryMetricProducer and pushed to the collector, over the protocol, URL, headers and
// timeout of the validated TelemetryConfig. Nothing here reads the environment. A failed export is
// logged (at most once a minute, with how many were left out) and retried at the next interval; it
// never stops the service or slows a request.
import { Metadata, credentials } from '@grpc/grpc-js';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { Logger } from '../log.ts';
import { errorFields } from '../log.ts';
import { RateLimitedLog } from '../rate-limited-log.ts';
import type { TelemetryConfig } from './config.ts';
import type { MetricsExport, MetricsExportOptions } from './metrics-export.ts';
import { RegistryMetricProducer } from './registry-producer.ts';
import { telemetryResource } from './resource.ts';

type MetricsOn = Extract<TelemetryConfig['metrics'], { enabled: true }>;

/** Starts the periodic export. */
export function startOtlpMetrics(metrics: MetricsOn, opts: MetricsExportOptions): MetricsExport {
  const warnings = new RateLimitedLog(opts.log, 60_000);
  const producer = new RegistryMetricProducer({
    registry: opts.registry,
    table: opts.instruments,
    meterName: opts.meterName,
    onError: (err) =>
      warnings.warn('collect', 'a metric could not be read for the OTLP export', errorFields(err)),
  });
  const exporter = new LoggingExporter(otlpExporter(metrics), metrics, warnings, opts.log);
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: metrics.intervalMs,
    // The reader refuses a timeout longer than its interval.
    exportTimeoutMillis: Math.min(metrics.otlp.timeoutMs, metrics.intervalMs),
    metricProducers: [producer],
  });
  // No instruments are made on this provider: it carries the resource and drives the reader.
  const provider = new MeterProvider({ resource: telemetryResource(opts.telemetry), readers: [reader] });
  opts.log.info('exporting metrics over OTLP', {
    protocol: metrics.protocol,
    endpoint: metrics.otlp.url,
    intervalMs: metrics.intervalMs,
  });
  return { shutdown: () => provider.shutdown() };
}

function otlpExporter(metrics: MetricsOn): PushMetricExporter {
  const { url, headers, timeoutMs } = metrics.otlp;
  switch (metrics.protocol) {
    case 'http/protobuf':
      return new ProtoMetricExporter({ url, headers, timeoutMillis: timeoutMs });
    case 'http/json':
      return new JsonMetricExporter({ url, headers, timeoutMillis: timeoutMs });
    case 'grpc': {
      const metadata = new Metadata();
      for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
      return new GrpcMetricExporter({
        url,
        metadata,
        timeoutMillis: timeoutMs,
        credentials: url.startsWith('https:') ? credentials.createSsl() : credentials.createInsecure(),
      });
    }
  }
}

/**
 * The exporter, with its failures logged: the SDK only reports them to its global diagnostics,
 * which the services do not install. The first failure is logged at once, then at most one a
 * minute; the first success after failures says so.
 */
class LoggingExporter implements PushMetricExporter {
  readonly #inner: PushMetricExporter;
  readonly #target: { protocol: string; endpoint: string };
  readonly #warnings: RateLimitedLog;
  readonly #log: Logger;
  #failing = false;

  constructor(inner: PushMetricExporter, metrics: MetricsOn, warnings: RateLimitedLog, log: Logger) {
    this.#inner = inner;
    this.#target = { protocol: metrics.protocol, endpoint: metrics.otlp.url };
    this.#warnings = warnings;
    this.#log = log;
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.#inner.export(metrics, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        if (this.#failing) this.#log.info('OTLP metrics export works again', this.#target);
        this.#failing = false;
      } else {
        this.#failing = true;
        this.#warnings.warn('export', 'OTLP metrics export failed; retrying at the next interval', {
          ...this.#target,
          error: result.error?.message ?? 'unknown export error',
        });
      }
      done(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }
}
