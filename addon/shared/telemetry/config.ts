// OpenTelemetry settings of the interceptor and the scaler, read once at start-up from upstream's
// switches (OTEL_EXPORTER_OTLP_TRACES_ENABLED, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
// OTEL_EXPORTER_OTLP_METRICS_ENABLED) and the standard OTEL_* variables of the OpenTelemetry
// specification. Everything is validated here, through the one EnvReader, so a bad value stops the
// service at start-up with a message naming the variable instead of failing at the first export.
// The exporters get explicit options built from this; they never read the environment themselves.
import type { EnvReader } from '../config.ts';

/** How traces leave the process: upstream's three choices. */
export type TracesProtocol = 'console' | 'http/protobuf' | 'grpc';
/** How metrics leave the process. Upstream pushes OTLP/HTTP; gRPC and JSON are the spec's others. */
export type MetricsProtocol = 'http/protobuf' | 'http/json' | 'grpc';

export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

export interface OtlpTarget {
  /**
   * The full URL the exporter sends to. OTLP/HTTP: the signal path included
   * (http://collector:4318/v1/traces). gRPC: scheme, host and port (http://collector:4317).
   */
  url: string;
  /** OTEL_EXPORTER_OTLP_HEADERS and the signal's own, the signal's winning on the same key. */
  headers: Record<string, string>;
  timeoutMs: number;
}

export interface TelemetryConfig {
  /** OTEL_SERVICE_NAME, else service.name from OTEL_RESOURCE_ATTRIBUTES, else the service's default. */
  serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES (service.name removed: it is serviceName). */
  resourceAttributes: Record<string, string>;
  traces:
    | { enabled: false }
    | {
        enabled: true;
        protocol: TracesProtocol;
        /** Absent for `console`. */
        otlp?: OtlpTarget;
        sampler: SamplerName;
        /** The ratio for the *traceidratio samplers, 0..1 (OTEL_TRACES_SAMPLER_ARG, default 1). */
        samplerRatio: number;
        /** OTEL_BSP_SCHEDULE_DELAY: the most a finished span waits before export, ms (default 5000). */
        batchDelayMs: number;
      };
  metrics:
    | { enabled: false }
    | {
        enabled: true;
        protocol: MetricsProtocol;
        otlp: OtlpTarget;
        /** OTEL_METRIC_EXPORT_INTERVAL, milliseconds (default 60000). */
        intervalMs: number;
      };
}

const tracesProtocols: readonly TracesProtocol[] = ['console', 'http/protobuf', 'grpc'];
const metricsProtocols: readonly MetricsProtocol[] = ['http/protobuf', 'http/json', 'grpc'];
const samplers: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

/** Reads the telemetry settings; problems are recorded on `e` (its `done()` throws them all). */
export function readTelemetryConfig(e: EnvReader, defaults: { serviceName: string }): TelemetryConfig {
  const resourceAttributes = keyValueList(e, 'OTEL_RESOURCE_ATTRIBUTES');
  const serviceName =
    e.raw('OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ?? defaults.serviceName;
  delete resourceAttributes['service.name'];
  return {
    serviceName,
    resourceAttributes,
    traces: readTraces(e),
    metrics: readMetrics(e),
  };
}

function readTraces(e: EnvReader): TelemetryConfig['traces'] {
  if (!e.bool('OTEL_EXPORTER_OTLP_TRACES_ENABLED', false)) return { enabled: false };
  // Upstream reads this one case-insensitively and defaults to console.
  const protocol = e.oneOf('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', tracesProtocols, 'console', {
    caseInsensitive: true,
  });
  const sampler = e.oneOf('OTEL_TRACES_SAMPLER', samplers, 'parentbased_always_on');
  const samplerRatio = ratio(e, 'OTEL_TRACES_SAMPLER_ARG', 1);
  const batchDelayMs = e.int('OTEL_BSP_SCHEDULE_DELAY', 5_000, { min: 1 });
  return {
    enabled: true,
    protocol,
    sampler,
    samplerRatio,
    batchDelayMs,
    ...(protocol === 'console' ? {} : { otlp: otlpTarget(e, 'TRACES', protocol, '/v1/traces') }),
  };
}

function readMetrics(e: EnvReader): TelemetryConfig['metrics'] {
  if (!e.bool('OTEL_EXPORTER_OTLP_METRICS_ENABLED', false)) return { enabled: false };
  const protocolVar = e.raw('OTEL_EXPORTER_OTLP_METRICS_PROTOCOL')
    ? 'OTEL_EXPORTER_OTLP_METRICS_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = e.oneOf(protocolVar, metricsProtocols, 'http/protobuf');
  const intervalMs = e.int('OTEL_METRIC_EXPORT_INTERVAL', 60_000, { min: 1 });
  return { enabled: true, protocol, otlp: otlpTarget(e, 'METRICS', protocol, '/v1/metrics'), intervalMs };
}

/**
 * The endpoint, headers and timeout of one signal, as the specification resolves them: the
 * signal's own endpoint is used as given; the general one gets the signal's path appended for
 * OTLP/HTTP. Defaults: localhost:4318 (HTTP) and localhost:4317 (gRPC).
 */
function otlpTarget(
  e: EnvReader,
  signal: 'TRACES' | 'METRICS',
  protocol: TracesProtocol | MetricsProtocol,
  path: string,
): OtlpTarget {
  const grpc = protocol === 'grpc';
  const own = `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`;
  const general = 'OTEL_EXPORTER_OTLP_ENDPOINT';
  let url: string;
  if (e.raw(own) !== undefined) {
    url = endpoint(e, own) ?? '';
  } else {
    const base =
      (e.raw(general) !== undefined ? endpoint(e, general) : undefined) ??
      (grpc ? 'http://localhost:4317' : 'http://localhost:4318');
    url = grpc ? base : `${base.replace(/\/+$/, '')}${path}`;
  }
  const headers = {
    ...keyValueList(e, 'OTEL_EXPORTER_OTLP_HEADERS'),
    ...keyValueList(e, `OTEL_EXPORTER_OTLP_${signal}_HEADERS`),
  };
  const timeoutVar = e.raw(`OTEL_EXPORTER_OTLP_${signal}_TIMEOUT`)
    ? `OTEL_EXPORTER_OTLP_${signal}_TIMEOUT`
    : 'OTEL_EXPORTER_OTLP_TIMEOUT';
  const timeoutMs = e.int(timeoutVar, 10_000, { min: 1 });
  return { url, headers, timeoutMs };
}

/** An absolute http(s) URL, or a recorded problem naming the variable. */
function endpoint(e: EnvReader, name: string): string | undefined {
  const value = e.raw(name) ?? '';
  let parsed: URL | undefined;
  try {
    parsed = new URL(value);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.hostname === '') {
    e.problem(
      `${name}="${value}" is not valid: expected an http:// or https:// URL such as http://collector:4318`,
    );
    return undefined;
  }
  return value;
}

/** A float in [0, 1]. */
function ratio(e: EnvReader, name: string, fallback: number): number {
  const value = e.raw(name);
  if (value === undefined) return fallback;
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) {
    e.problem(`${name}="${value}" is not valid: expected a number from 0 to 1`);
    return fallback;
  }
  return n;
}

/**
 * The specification's `key1=value1,key2=value2` lists (OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_EXPORTER_OTLP_HEADERS), values percent-decoded.
 */
function keyValueList(e: EnvReader, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of e.list(name)) {
    const at = item.indexOf('=');
    const key = at > 0 ? item.slice(0, at).trim() : '';
    if (key === '') {
      e.problem(`${name} is not valid: "${item}" is not key=value`);
      continue;
    }
    try {
      out[key] = decodeURIComponent(item.slice(at + 1).trim());
    } catch {
      e.problem(`${name} is not valid: the value of "${key}" is not percent-encoded correctly`);
    }
  }
  return out;
}
