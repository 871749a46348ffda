// The interceptor's configuration: upstream's env var names and defaults, plus the Kyma-documented
// KEDA_HTTP_FORCE_HTTP2 and this project's bounded-holding, request-body and watch settings.
// Every problem is collected and reported at once (EnvReader), so a bad Deployment fails fast.
import { EnvReader } from '../shared/config.ts';
import { readTelemetryConfig, type TelemetryConfig } from '../shared/telemetry/config.ts';
import { internalsEnvNames, type InternalsSwitches } from './internals/switches.ts';

export type TlsVersion = '1.2' | '1.3' | '';

export interface TlsConfig {
  enabled: boolean;
  port: number;
  certPath: string;
  keyPath: string;
  certStorePaths: string[];
  skipVerify: boolean;
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  cipherSuites: string[];
  curvePreferences: string[];
}

export interface InterceptorConfig {
  proxyPort: number;
  adminPort: number;
  watchNamespace: string;
  resyncPeriodMs: number;
  tls: TlsConfig;
  profilingBindAddress: string;
  enableColdStartHeader: boolean;
  logRequests: boolean;
  drainTimeoutMs: number;
  shutdownDelayMs: number;
  directPodRouting: boolean;
  requestTimeoutMs: number;
  responseHeaderTimeoutMs: number;
  readinessTimeoutMs: number;
  connectTimeoutMs: number;
  maxIdleConns: number;
  maxIdleConnsPerHost: number;
  /**
   * Beyond upstream (Go's Transport.MaxConnsPerHost): connections per backend origin; more requests
   * queue for a free connection. Bounds the thundering herd when thousands of held requests are
   * released onto one just-started pod. 0 = unlimited (upstream's behaviour).
   */
  maxConnsPerHost: number;
  /**
   * Beyond upstream (Go's Transport.IdleConnTimeout, 90 s there): how long a backend connection may
   * sit idle. Below the 5 s keep-alive timeout of Node's HTTP server and other common defaults, so
   * the interceptor closes an idle connection before the backend does.
   */
  backendIdleConnTimeoutMs: number;
  /** Beyond upstream: the runtime-internals layer's switches (internals/switches.ts). */
  internals: InternalsSwitches;
  /** Kyma's documented KEDA_HTTP_FORCE_HTTP2: h2c/h2 to every backend, whatever its appProtocol. */
  forceHttp2: boolean;
  metricsEnabled: boolean;
  metricsPort: number;
  /** Beyond upstream: cap on requests held for one route during a cold start (0 = no per-route cap). */
  coldStartMaxPendingPerRoute: number;
  /** Beyond upstream: cap on requests held across all routes (0 = unlimited). */
  coldStartMaxPendingTotal: number;
  /** Seconds announced in Retry-After on overflow and on negotiated placeholder answers. */
  retryAfterSeconds: number;
  /** Beyond upstream: answer placeholders by content negotiation on every route. */
  placeholderNegotiate: boolean;
  queueWatchHeartbeatMs: number;
  /** Header read deadline for inbound connections (upstream: ReadHeaderTimeout 1 minute). */
  readHeaderTimeoutMs: number;
  /** Beyond upstream's env: SETTINGS_MAX_CONCURRENT_STREAMS of inbound HTTP/2 connections (Go's 250). */
  maxConcurrentStreams: number;
  /**
   * Beyond upstream: longest pause in a request body while the interceptor is reading it; past it
   * the client gets 408 and the connection closes (0 = none).
   */
  requestBodyTimeoutMs: number;
  /** OpenTelemetry traces and OTLP metrics (off unless enabled). */
  telemetry: TelemetryConfig;
}

const tlsVersions = ['1.2', '1.3'] as const;

/** Default of KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT: below the 5 s keep-alive timeout of Node's HTTP server. */
export const defaultBackendIdleConnTimeoutMs = 4_000;

export function readConfig(env: Readonly<Record<string, string | undefined>> = process.env): {
  config: InterceptorConfig;
  warnings: readonly string[];
} {
  const e = new EnvReader(env);
  const tlsVersion = (name: string): TlsVersion =>
    e.raw(name) === undefined ? '' : e.oneOf(name, tlsVersions, '1.2');

  let readinessTimeoutMs = e.duration('KEDA_HTTP_READINESS_TIMEOUT', 0);
  // Deprecated names win when > 0, exactly as upstream does (with a warning).
  const conditionWait = e.duration('KEDA_CONDITION_WAIT_TIMEOUT', 0);
  if (conditionWait > 0) {
    e.warn('KEDA_CONDITION_WAIT_TIMEOUT is deprecated; use KEDA_HTTP_READINESS_TIMEOUT');
    readinessTimeoutMs = conditionWait;
  }
  let responseHeaderTimeoutMs = e.duration('KEDA_HTTP_RESPONSE_HEADER_TIMEOUT', 300_000);
  const legacyHeader = e.duration('KEDA_RESPONSE_HEADER_TIMEOUT', 0);
  if (legacyHeader > 0) {
    e.warn('KEDA_RESPONSE_HEADER_TIMEOUT is deprecated; use KEDA_HTTP_RESPONSE_HEADER_TIMEOUT');
    responseHeaderTimeoutMs = legacyHeader;
  }

  const config: InterceptorConfig = {
    proxyPort: e.requiredPort('KEDA_HTTP_PROXY_PORT'),
    adminPort: e.requiredPort('KEDA_HTTP_ADMIN_PORT'),
    watchNamespace: e.string('KEDA_HTTP_WATCH_NAMESPACE', ''),
    resyncPeriodMs: e.duration('KEDA_HTTP_SCALER_CONFIG_MAP_INFORMER_RSYNC_PERIOD', 60 * 60_000),
    tls: {
      enabled: e.bool('KEDA_HTTP_PROXY_TLS_ENABLED', false),
      port: e.port('KEDA_HTTP_PROXY_TLS_PORT', 8443),
      certPath: e.string('KEDA_HTTP_PROXY_TLS_CERT_PATH', '/certs/tls.crt'),
      keyPath: e.string('KEDA_HTTP_PROXY_TLS_KEY_PATH', '/certs/tls.key'),
      certStorePaths: e.list('KEDA_HTTP_PROXY_TLS_CERT_STORE_PATHS'),
      skipVerify: e.bool('KEDA_HTTP_PROXY_TLS_SKIP_VERIFY', false),
      minVersion: tlsVersion('KEDA_HTTP_PROXY_TLS_MIN_VERSION'),
      maxVersion: tlsVersion('KEDA_HTTP_PROXY_TLS_MAX_VERSION'),
      cipherSuites: e.list('KEDA_HTTP_PROXY_TLS_CIPHER_SUITES'),
      curvePreferences: e.list('KEDA_HTTP_PROXY_TLS_CURVE_PREFERENCES'),
    },
    profilingBindAddress: e.string('PROFILING_BIND_ADDRESS', ''),
    enableColdStartHeader: e.bool('KEDA_HTTP_ENABLE_COLD_START_HEADER', true),
    logRequests: e.bool('KEDA_HTTP_LOG_REQUESTS', false),
    drainTimeoutMs: e.duration('KEDA_HTTP_DRAIN_TIMEOUT', 30_000),
    shutdownDelayMs: e.duration('KEDA_HTTP_SHUTDOWN_DELAY', 5_000),
    directPodRouting: e.bool('KEDA_HTTP_DIRECT_POD_ROUTING', false),
    requestTimeoutMs: e.duration('KEDA_HTTP_REQUEST_TIMEOUT', 0),
    responseHeaderTimeoutMs,
    readinessTimeoutMs,
    connectTimeoutMs: e.duration('KEDA_HTTP_CONNECT_TIMEOUT', 500),
    maxIdleConns: e.int('KEDA_HTTP_MAX_IDLE_CONNS', 1000, { min: 0 }),
    maxIdleConnsPerHost: e.int('KEDA_HTTP_MAX_IDLE_CONNS_PER_HOST', 200, { min: 0 }),
    maxConnsPerHost: e.int('KEDA_HTTP_MAX_CONNS_PER_HOST', 512, { min: 0 }),
    backendIdleConnTimeoutMs: e.duration(
      'KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT',
      defaultBackendIdleConnTimeoutMs,
    ),
    internals: {
      leanHttp1Client: e.bool(internalsEnvNames.leanHttp1Client, true),
      idleScavenge: e.bool(internalsEnvNames.idleScavenge, true),
      nodeHeaderDeadlines: e.bool(internalsEnvNames.nodeHeaderDeadlines, true),
      socketResponseProbe: e.bool(internalsEnvNames.socketResponseProbe, true),
      methodFallback: e.bool(internalsEnvNames.methodFallback, true),
    },
    forceHttp2: e.bool('KEDA_HTTP_FORCE_HTTP2', false),
    metricsEnabled: e.bool('OTEL_PROM_EXPORTER_ENABLED', true),
    metricsPort: e.port('OTEL_PROM_EXPORTER_PORT', 2223),
    coldStartMaxPendingPerRoute: e.int('KEDA_HTTP_COLD_START_MAX_PENDING_REQUESTS', 0, { min: 0 }),
    coldStartMaxPendingTotal: e.int('KEDA_HTTP_MAX_PENDING_REQUESTS', 50_000, { min: 0 }),
    retryAfterSeconds: e.int('KEDA_HTTP_RETRY_AFTER_SECONDS', 5, { min: 0 }),
    placeholderNegotiate: e.bool('KEDA_HTTP_PLACEHOLDER_CONTENT_NEGOTIATION', false),
    queueWatchHeartbeatMs: e.duration('KEDA_HTTP_QUEUE_WATCH_HEARTBEAT', 5_000),
    readHeaderTimeoutMs: 60_000,
    maxConcurrentStreams: e.int('KEDA_HTTP_MAX_CONCURRENT_STREAMS', 250, { min: 1 }),
    requestBodyTimeoutMs: e.duration('KEDA_HTTP_REQUEST_BODY_TIMEOUT', 60_000),
    telemetry: readTelemetryConfig(e, { serviceName: 'keda-http-interceptor' }),
  };
  if (config.queueWatchHeartbeatMs <= 0) e.problem('KEDA_HTTP_QUEUE_WATCH_HEARTBEAT must be > 0');
  if (config.backendIdleConnTimeoutMs <= 0) e.problem('KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT must be > 0');
  e.done();
  return { config, warnings: e.warnings };
}
