// The scaler's configuration: upstream's env var names and defaults, plus this
// project's additions, each documented in README.md. Every problem is reported at once.
import { EnvReader } from '../shared/config.ts';
import { readTelemetryConfig, type TelemetryConfig } from '../shared/telemetry/config.ts';
import { defaultMaxQueueBytes } from '../shared/queue-codec/queue-body.ts';

export interface ScalerConfig {
  /** gRPC port (upstream default 8080; the manifests set 9090). */
  port: number;
  adminNamespace: string;
  adminService: string;
  /** Parsed and required as upstream does, otherwise unused. */
  adminDeployment: string;
  adminPort: number;
  resyncPeriodMs: number;
  tickMs: number;
  /** Upstream's StreamIsActive send interval; streams now send on change (see README). */
  streamIntervalMs: number;
  metricsEnabled: boolean;
  metricsPort: number;
  // Beyond upstream:
  fetchTimeoutMs: number;
  stalePodMs: number;
  streamHeartbeatMs: number;
  queueWatchEnabled: boolean;
  /** Silence after which a /queue/watch stream counts as dead and is reopened. */
  queueWatchIdleTimeoutMs: number;
  /** The most a /queue body or one /queue/watch event may take; a pod sending more is failing. */
  queueMaxBytes: number;
  /** OpenTelemetry traces and OTLP metrics (off unless enabled). */
  telemetry: TelemetryConfig;
}

export function readConfig(env: Readonly<Record<string, string | undefined>> = process.env): {
  config: ScalerConfig;
  warnings: readonly string[];
} {
  const e = new EnvReader(env);
  const config: ScalerConfig = {
    port: e.port('KEDA_HTTP_SCALER_PORT', 8080),
    adminNamespace: e.required('KEDA_HTTP_SCALER_TARGET_ADMIN_NAMESPACE'),
    adminService: e.required('KEDA_HTTP_SCALER_TARGET_ADMIN_SERVICE'),
    adminDeployment: e.required('KEDA_HTTP_SCALER_TARGET_ADMIN_DEPLOYMENT'),
    adminPort: e.requiredPort('KEDA_HTTP_SCALER_TARGET_ADMIN_PORT'),
    resyncPeriodMs: e.duration('KEDA_HTTP_SCALER_CONFIG_MAP_INFORMER_RSYNC_PERIOD', 60 * 60_000),
    tickMs: e.duration('KEDA_HTTP_QUEUE_TICK_DURATION', 500),
    streamIntervalMs: e.int('KEDA_HTTP_SCALER_STREAM_INTERVAL_MS', 200, { min: 1 }),
    metricsEnabled: e.bool('OTEL_PROM_EXPORTER_ENABLED', true),
    metricsPort: e.port('OTEL_PROM_EXPORTER_PORT', 2223),
    fetchTimeoutMs: e.duration('KEDA_HTTP_SCALER_QUEUE_FETCH_TIMEOUT', 250),
    stalePodMs: e.duration('KEDA_HTTP_SCALER_STALE_POD_TIMEOUT', 5_000),
    streamHeartbeatMs: e.duration('KEDA_HTTP_SCALER_STREAM_HEARTBEAT_INTERVAL', 5_000),
    queueWatchEnabled: e.bool('KEDA_HTTP_SCALER_QUEUE_WATCH_ENABLED', true),
    // Three of the interceptor's default 5 s heartbeats (KEDA_HTTP_QUEUE_WATCH_HEARTBEAT).
    queueWatchIdleTimeoutMs: e.duration('KEDA_HTTP_SCALER_QUEUE_WATCH_IDLE_TIMEOUT', 15_000),
    queueMaxBytes: e.int('KEDA_HTTP_SCALER_QUEUE_MAX_BYTES', defaultMaxQueueBytes, { min: 1024 }),
    telemetry: readTelemetryConfig(e, { serviceName: 'keda-http-external-scaler' }),
  };
  if (config.tickMs <= 0)
    e.problem('KEDA_HTTP_QUEUE_TICK_DURATION must be a positive duration such as 500ms');
  if (config.fetchTimeoutMs <= 0) {
    e.problem('KEDA_HTTP_SCALER_QUEUE_FETCH_TIMEOUT must be a positive duration such as 250ms');
  }
  if (config.queueWatchIdleTimeoutMs <= 0) {
    e.problem('KEDA_HTTP_SCALER_QUEUE_WATCH_IDLE_TIMEOUT must be a positive duration such as 15s');
  }
  if (config.streamHeartbeatMs <= 0) {
    e.problem('KEDA_HTTP_SCALER_STREAM_HEARTBEAT_INTERVAL must be a positive duration such as 5s');
  }
  if (config.fetchTimeoutMs >= 2 * config.tickMs) {
    e.warn(
      `KEDA_HTTP_SCALER_QUEUE_FETCH_TIMEOUT (${config.fetchTimeoutMs}ms) is not below two ticks (${2 * config.tickMs}ms): one hung interceptor will make health flap`,
    );
  }
  for (const name of ['PROFILING_BIND_ADDRESS']) {
    const v = e.raw(name);
    if (v !== undefined && v !== 'false' && v !== '') {
      e.warn(`${name} is accepted for compatibility but not supported by this scaler; ignoring it`);
    }
  }
  e.done();
  return { config, warnings: e.warnings };
}
