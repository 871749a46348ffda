// What the user asked for, read from the Keda CR's annotations. Parsing is strict where the Kyma
// manager was lax: an unknown value or an invalid namespace is an error the status shows, and the
// manager then changes nothing, instead of guessing (Kyma treats `addon-enabled: yes` as "disable").
import { parseQuantity } from './quantity.ts';

export const annotation = {
  enabled: 'keda.kyma-project.io/addon-enabled',
  namespace: 'keda.kyma-project.io/addon-namespace',
  istioInjection: 'keda.kyma-project.io/addon-istio-injection',
  envoyFilter: 'keda.kyma-project.io/addon-envoyfilter',
  envoyFilterNamespace: 'keda.kyma-project.io/addon-envoyfilter-namespace',
  envoyFilterSelector: 'keda.kyma-project.io/addon-envoyfilter-selector',
  retryOn: 'keda.kyma-project.io/addon-retry-on',
  numRetries: 'keda.kyma-project.io/addon-num-retries',
  perTryTimeout: 'keda.kyma-project.io/addon-per-try-timeout',
  interceptorMinReplicas: 'keda.kyma-project.io/addon-interceptor-min-replicas',
  interceptorMaxReplicas: 'keda.kyma-project.io/addon-interceptor-max-replicas',
  interceptorResources: 'keda.kyma-project.io/addon-interceptor-resources',
  scalerResources: 'keda.kyma-project.io/addon-scaler-resources',
  operatorResources: 'keda.kyma-project.io/addon-operator-resources',
  logLevel: 'keda.kyma-project.io/addon-log-level',
  installedVersion: 'keda.kyma-project.io/addon-installed-version',
  installedNamespace: 'keda.kyma-project.io/addon-installed-namespace',
} as const;

export const defaultAddonNamespace = 'kyma-system';

export interface RetryPolicy {
  retryOn: string;
  numRetries: number;
  perTryTimeout: string;
}

export const defaultRetryPolicy: RetryPolicy = {
  retryOn: '5xx,connect-failure,reset,refused-stream',
  numRetries: 100,
  perTryTimeout: '3s',
};

/** Requests and limits of one container; a limit may be left out (`limits.cpu=none`). */
export interface ContainerResources {
  requests: { cpu: string; memory: string };
  limits: { cpu?: string; memory?: string };
}

export type Component = 'interceptor' | 'scaler' | 'operator';

export const defaultResources: Record<Component, ContainerResources> = {
  interceptor: { requests: { cpu: '100m', memory: '100Mi' }, limits: { cpu: '1', memory: '1000Mi' } },
  scaler: { requests: { cpu: '100m', memory: '100Mi' }, limits: { cpu: '1', memory: '1000Mi' } },
  operator: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
};

/** The interceptor's replica range, as its ScaledObject (and so KEDA's HPA) gets it. */
export const defaultInterceptorReplicas = { min: 1, max: 50 };
const maxInterceptorReplicas = 1000;

export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
export type AddonLogLevel = (typeof logLevels)[number];

export interface AddonConfig {
  enabled: boolean;
  namespace: string;
  istioInjection: boolean;
  envoyFilter: {
    enabled: boolean;
    namespace: string;
    selector: Record<string, string>;
    retry: RetryPolicy;
  };
  interceptorReplicas: { min: number; max: number };
  resources: Record<Component, ContainerResources>;
  /** Unset: the services' own default, and a user's `kubectl set env LOG_LEVEL=...` is kept. */
  logLevel?: AddonLogLevel;
}

export type ParseResult = { ok: true; config: AddonConfig } | { ok: false; errors: string[] };

const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const labelKey =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const envoyRetryOn = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'envoy-ratelimited',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/** `namespace` must be a DNS-1123 label, as Kubernetes requires of namespace names. */
export function namespaceProblem(value: string): string | undefined {
  if (value.length > 63) return `"${value}" is longer than 63 characters`;
  if (!dnsLabel.test(value)) {
    return `"${value}" is not a valid namespace name (lowercase letters, digits and '-', starting and ending with a letter or digit)`;
  }
  return undefined;
}

function parseBool(
  annotations: Readonly<Record<string, string>>,
  key: string,
  fallback: boolean,
  errors: string[],
): boolean {
  const raw = annotations[key];
  if (raw === undefined) return fallback;
  const v = raw.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false' || v === '') return v === '' ? fallback : false;
  errors.push(`annotation ${key}: "${raw}" is not true or false`);
  return fallback;
}

function parseSelector(raw: string, errors: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(',')) {
    const [k, v, ...rest] = part.split('=').map((s) => s.trim());
    if (!k || v === undefined || rest.length > 0 || !labelKey.test(k) || !labelValue.test(v)) {
      errors.push(
        `annotation ${annotation.envoyFilterSelector}: "${part.trim()}" is not key=value with a valid label key and value`,
      );
      continue;
    }
    out[k] = v;
  }
  return out;
}

function parseReplicas(
  annotations: Readonly<Record<string, string>>,
  errors: string[],
): { min: number; max: number } {
  const read = (key: string, fallback: number): number => {
    const raw = annotations[key]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1 || n > maxInterceptorReplicas) {
      errors.push(`annotation ${key}: "${raw}" is not a whole number from 1 to ${maxInterceptorReplicas}`);
      return fallback;
    }
    return n;
  };
  const min = read(annotation.interceptorMinReplicas, defaultInterceptorReplicas.min);
  const max = read(annotation.interceptorMaxReplicas, Math.max(defaultInterceptorReplicas.max, min));
  if (min > max) {
    errors.push(
      `annotations ${annotation.interceptorMinReplicas} (${min}) and ${annotation.interceptorMaxReplicas} (${max}): the minimum is above the maximum`,
    );
  }
  return { min, max };
}

const resourceKeys = ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory'] as const;

/**
 * `requests.cpu=200m,limits.memory=2Gi`: each named value replaces the default, `none` drops a
 * limit. Unknown keys, invalid quantities and a request above its limit are errors.
 */
function parseResources(
  key: string,
  raw: string | undefined,
  defaults: ContainerResources,
  errors: string[],
): ContainerResources {
  const out: ContainerResources = { requests: { ...defaults.requests }, limits: { ...defaults.limits } };
  if (!raw?.trim()) return out;
  const before = errors.length;
  for (const part of raw.split(',')) {
    const [k, v, ...rest] = part.split('=').map((x) => x.trim());
    const name = resourceKeys.find((r) => r === k);
    if (!name || v === undefined || rest.length > 0) {
      errors.push(
        `annotation ${key}: "${part.trim()}" is not one of ${resourceKeys.join(', ')} followed by =value`,
      );
      continue;
    }
    const [section, resource] = name.split('.') as ['requests' | 'limits', 'cpu' | 'memory'];
    if (v === 'none' && section === 'limits') {
      delete out.limits[resource];
      continue;
    }
    const value = parseQuantity(v);
    if (value === undefined || value <= 0) {
      errors.push(
        `annotation ${key}: ${name} "${v}" is not a positive Kubernetes quantity such as 250m or 256Mi`,
      );
      continue;
    }
    if (section === 'requests') out.requests[resource] = v;
    else out.limits[resource] = v;
  }
  if (errors.length > before) return out;
  for (const resource of ['cpu', 'memory'] as const) {
    const limit = out.limits[resource];
    if (limit !== undefined && (parseQuantity(out.requests[resource]) ?? 0) > (parseQuantity(limit) ?? 0)) {
      errors.push(
        `annotation ${key}: requests.${resource} ${out.requests[resource]} is above limits.${resource} ${limit}`,
      );
    }
  }
  return out;
}

function parseLogLevelAnnotation(raw: string | undefined, errors: string[]): AddonLogLevel | undefined {
  const v = raw?.trim().toLowerCase();
  if (!v) return undefined;
  const level = logLevels.find((l) => l === v);
  if (!level)
    errors.push(`annotation ${annotation.logLevel}: "${raw}" is not one of ${logLevels.join(', ')}`);
  return level;
}

/** Reads the add-on annotations of a Keda object. Absent annotations mean the documented defaults. */
export function parseAddonConfig(annotations: Readonly<Record<string, string>> | undefined): ParseResult {
  const a = annotations ?? {};
  const errors: string[] = [];
  const enabled = parseBool(a, annotation.enabled, false, errors);
  const istioInjection = parseBool(a, annotation.istioInjection, false, errors);
  const envoyFilterEnabled = parseBool(a, annotation.envoyFilter, istioInjection, errors);

  const namespace = a[annotation.namespace]?.trim() || defaultAddonNamespace;
  const nsProblem = namespaceProblem(namespace);
  if (nsProblem) errors.push(`annotation ${annotation.namespace}: ${nsProblem}`);

  const efNamespace = a[annotation.envoyFilterNamespace]?.trim() || 'istio-system';
  const efNsProblem = namespaceProblem(efNamespace);
  if (efNsProblem) errors.push(`annotation ${annotation.envoyFilterNamespace}: ${efNsProblem}`);
  const selectorRaw = a[annotation.envoyFilterSelector]?.trim();
  const selector = selectorRaw ? parseSelector(selectorRaw, errors) : { istio: 'ingressgateway' };

  const retry: RetryPolicy = { ...defaultRetryPolicy };
  const retryOn = a[annotation.retryOn]?.trim();
  if (retryOn) {
    const unknown = retryOn.split(',').filter((c) => !envoyRetryOn.has(c.trim()));
    if (unknown.length > 0) {
      errors.push(
        `annotation ${annotation.retryOn}: unknown Envoy retry condition(s) ${unknown.map((u) => `"${u}"`).join(', ')}`,
      );
    } else
      retry.retryOn = retryOn
        .split(',')
        .map((c) => c.trim())
        .join(',');
  }
  const numRetries = a[annotation.numRetries]?.trim();
  if (numRetries) {
    const n = Number(numRetries);
    if (!Number.isInteger(n) || n < 0 || n > 10_000) {
      errors.push(
        `annotation ${annotation.numRetries}: "${numRetries}" is not a whole number from 0 to 10000`,
      );
    } else retry.numRetries = n;
  }
  const perTry = a[annotation.perTryTimeout]?.trim();
  if (perTry) {
    // Envoy (through Istio's JSON mapping) takes a protobuf Duration: seconds with an "s" suffix.
    if (!/^\d+(\.\d{1,9})?s$/.test(perTry)) {
      errors.push(
        `annotation ${annotation.perTryTimeout}: "${perTry}" is not a duration in seconds such as 3s or 0.5s`,
      );
    } else retry.perTryTimeout = perTry;
  }

  const interceptorReplicas = parseReplicas(a, errors);
  const resources = {
    interceptor: parseResources(
      annotation.interceptorResources,
      a[annotation.interceptorResources],
      defaultResources.interceptor,
      errors,
    ),
    scaler: parseResources(
      annotation.scalerResources,
      a[annotation.scalerResources],
      defaultResources.scaler,
      errors,
    ),
    operator: parseResources(
      annotation.operatorResources,
      a[annotation.operatorResources],
      defaultResources.operator,
      errors,
    ),
  };
  const logLevel = parseLogLevelAnnotation(a[annotation.logLevel], errors);

  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    config: {
      enabled,
      namespace,
      istioInjection,
      envoyFilter: { enabled: envoyFilterEnabled, namespace: efNamespace, selector, retry },
      interceptorReplicas,
      resources,
      ...(logLevel ? { logLevel } : {}),
    },
  };
}
