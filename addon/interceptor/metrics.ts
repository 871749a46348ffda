// The interceptor's Prometheus metrics, with upstream's names, labels, HELP texts and buckets (§2.12),
// plus held-request gauges for bounded holding. Label children are cached per label set, so a
// request does a Map lookup instead of prom-client's per-call label hashing.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

const knownMethods = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
]);

export function normalizeMethod(method: string): string {
  return knownMethods.has(method) ? method : '_OTHER';
}

interface RequestChildren {
  count: Counter.Internal;
  duration: Histogram.Internal<string>;
}

export class InterceptorMetrics {
  readonly #count: Counter<string>;
  readonly #duration: Histogram<string>;
  readonly #concurrency: Gauge<string>;
  readonly pending: Gauge<string>;
  readonly rejected: Counter<string>;
  readonly #children = new Map<string, RequestChildren>();
  readonly #concurrencyChildren = new Map<string, Gauge.Internal<string>>();

  constructor(registry: Registry) {
    this.#count = new Counter({
      name: 'interceptor_request_count_total',
      help: 'Total requests processed by the interceptor proxy',
      labelNames: ['code', 'method', 'route_name', 'route_namespace'],
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: 'interceptor_request_duration_seconds',
      help: 'Time from request received to response written',
      labelNames: ['code', 'method', 'route_name', 'route_namespace'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
      registers: [registry],
    });
    this.#concurrency = new Gauge({
      name: 'interceptor_request_concurrency',
      help: 'Concurrent requests at the interceptor proxy',
      labelNames: ['route_name', 'route_namespace'],
      registers: [registry],
    });
    this.pending = new Gauge({
      name: 'interceptor_pending_requests',
      help: 'Requests held while waiting for a cold start (beyond upstream)',
      labelNames: ['route_name', 'route_namespace'],
      registers: [registry],
    });
    this.rejected = new Counter({
      name: 'interceptor_pending_rejected_total',
      help: 'Requests answered 503 because a held-request limit was reached (beyond upstream)',
      labelNames: ['route_name', 'route_namespace', 'limit'],
      registers: [registry],
    });
  }

  /** One completed request. `name`/`namespace` are "" for unmatched requests, as upstream does. */
  observe(code: number, method: string, namespace: string, name: string, seconds: number): void {
    const m = normalizeMethod(method);
    const id = `${code}|${m}|${namespace}|${name}`;
    let c = this.#children.get(id);
    if (!c) {
      const labels = { code: String(code), method: m, route_name: name, route_namespace: namespace };
      c = { count: this.#count.labels(labels), duration: this.#duration.labels(labels) };
      this.#children.set(id, c);
    }
    c.count.inc();
    c.duration.observe(seconds);
  }

  concurrency(namespace: string, name: string): Gauge.Internal<string> {
    const id = `${namespace}/${name}`;
    let g = this.#concurrencyChildren.get(id);
    if (!g) {
      g = this.#concurrency.labels({ route_name: name, route_namespace: namespace });
      this.#concurrencyChildren.set(id, g);
    }
    return g;
  }
}
