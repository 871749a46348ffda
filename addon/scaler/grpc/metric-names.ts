// Metric names exactly as upstream builds them, because KEDA and the HPA see them
// (as s<trigger>-<name>) and dashboards and alerts are written against them.

/**
 * Upstream's escapeString: every rune outside [-.0-9A-Za-z] becomes "_" followed by the uppercase
 * hex of its UTF-8 bytes, zero-padded to 4 digits (Go's fmt.Sprintf("_%04X", string(r))).
 * "/" -> "_002F", "_" -> "_005F", "é" -> "_C3A9".
 */
export function escapeMetricName(s: string): string {
  let out = '';
  for (const ch of s) {
    if (/^[-.0-9A-Za-z]$/.test(ch)) {
      out += ch;
    } else {
      out += `_${Buffer.from(ch, 'utf8').toString('hex').toUpperCase().padStart(4, '0')}`;
    }
  }
  return out;
}

/** The one metric of an HTTPScaledObject (and of the interceptors' own ScaledObject). */
export function httpScaledObjectMetricName(namespace: string, name: string): string {
  return escapeMetricName(`http-${namespace}/${name}`);
}

export function routeConcurrencyMetricName(routeName: string): string {
  return `http_${routeName}_concurrency`;
}

export function routeRateMetricName(routeName: string): string {
  return `http_${routeName}_rate`;
}
