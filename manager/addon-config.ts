// What the user asked for, read from the Keda CR's annotations. Parsing is strict where the Kyma
// manager was lax: an unknown value or an invalid namespace is an error the status shows, and the
// manager then changes nothing, instead of guessing (Kyma treats `addon-enabled: yes` as "disable").

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

  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    config: {
      enabled,
      namespace,
      istioInjection,
      envoyFilter: { enabled: envoyFilterEnabled, namespace: efNamespace, selector, retry },
    },
  };
}
