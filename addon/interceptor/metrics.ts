// The interceptor's Prometheus metrics, with upstream's names, labels, HELP texts and buckets (§2.12),
// plus held-request metrics for bounded holding.
//
// The three per-request series are kept in plain objects found by one Map lookup and exposed to
// prom-client as collectors read at scrape time: prom-client's labelled children re-hash their
// labels on every observation, which is measurable at tens of thousands of requests per second.
import { Counter, Gauge, type Registry } from 'prom-client';

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
export const durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

export function normalizeMethod(method: string): string {
  return knownMethods.has(method) ? method : '_OTHER';
}

interface RequestSeries {
  /** The request's own status and method (labels hold the exposed forms). */
  code: number;
  method: string;
  labels: { code: string; method: string; route_name: string; route_namespace: string };
  count: number;
  sum: number;
  /**
   * Non-cumulative counts per bucket; the last slot is +Inf. A plain array of small integers: it
   * lives on the V8 heap next to its series, where a 15-slot Float64Array's store would be
   * allocated apart (over 64 bytes), one more cache miss per request when thousands of routes take turns.
   */
  buckets: number[];
}

/** A route's request series, method -> status code -> series; the handler finds it once per route. */
export class RouteSeries {
  readonly byMethod = new Map<string, Map<number, RequestSeries>>();
  /** The series observed last: a route's requests mostly share method and status, so most skip both maps. */
  last: RequestSeries | undefined;
}

/**
 * A route's in-flight gauge. Its value is the route's queue counter, read at scrape time: the
 * queue counts exactly the requests the gauge shows, so the hot path updates one number, not two.
 */
interface ConcurrencyGauge {
  labels: { route_name: string; route_namespace: string };
  source: { readonly Concurrency: number } | undefined;
}

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** The shape prom-client's Registry reads from a metric at scrape time. */
function collector(
  name: string,
  help: string,
  type: 'counter' | 'gauge' | 'histogram',
  values: () => MetricValue[],
): object {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset: () => {},
  };
}

export class InterceptorMetrics {
  /** route key ("" for unmatched) -> method -> status code -> series (no key string built per request) */
  readonly #requests = new Map<string, RouteSeries>();
  readonly #concurrency = new Map<string, ConcurrencyGauge>();
  readonly pending: Gauge<string>;
  readonly rejected: Counter<string>;

  constructor(registry: Registry) {
    const reg = registry as unknown as { registerMetric(m: object): void };
    reg.registerMetric(
      collector(
        'interceptor_request_count_total',
        'Total requests processed by the interceptor proxy',
        'counter',
        () => this.#allSeries().map((s) => ({ labels: s.labels, value: s.count })),
      ),
    );
    reg.registerMetric(
      collector(
        'interceptor_request_duration_seconds',
        'Time from request received to response written',
        'histogram',
        () =>
          this.#allSeries().flatMap((s) => {
            const out: MetricValue[] = [];
            let cumulative = 0;
            durationBuckets.forEach((le, i) => {
              cumulative += s.buckets[i] ?? 0;
              out.push({
                metricName: 'interceptor_request_duration_seconds_bucket',
                labels: { le, ...s.labels },
                value: cumulative,
              });
            });
            out.push({
              metricName: 'interceptor_request_duration_seconds_bucket',
              labels: { le: '+Inf', ...s.labels },
              value: s.count,
            });
            out.push({
              metricName: 'interceptor_request_duration_seconds_sum',
              labels: s.labels,
              value: s.sum,
            });
            out.push({
              metricName: 'interceptor_request_duration_seconds_count',
              labels: s.labels,
              value: s.count,
            });
            return out;
          }),
      ),
    );
    reg.registerMetric(
      collector(
        'interceptor_request_concurrency',
        'Concurrent requests at the interceptor proxy',
        'gauge',
        () =>
          [...this.#concurrency.values()].map((g) => ({
            labels: g.labels,
            value: g.source?.Concurrency ?? 0,
          })),
      ),
    );
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

  /** One completed request. `routeKey`, `namespace` and `name` are "" for unmatched requests, as upstream. */
  observe(
    code: number,
    method: string,
    routeKey: string,
    namespace: string,
    name: string,
    seconds: number,
  ): void {
    this.observeRoute(this.routeSeries(routeKey), code, method, namespace, name, seconds);
  }

  /** The series of one route ("" for unmatched), to be held by the caller across requests. */
  routeSeries(routeKey: string): RouteSeries {
    let byRoute = this.#requests.get(routeKey);
    if (!byRoute) this.#requests.set(routeKey, (byRoute = new RouteSeries()));
    return byRoute;
  }

  /** observe() for a caller that holds the route's series (no lookup by route key). */
  observeRoute(
    byRoute: RouteSeries,
    code: number,
    method: string,
    namespace: string,
    name: string,
    seconds: number,
  ): void {
    let s = byRoute.last;
    if (s === undefined || s.code !== code || s.method !== method) {
      let byMethod = byRoute.byMethod.get(method);
      if (!byMethod) byRoute.byMethod.set(method, (byMethod = new Map()));
      s = byMethod.get(code);
      if (!s) {
        s = {
          code,
          method,
          labels: {
            code: String(code),
            method: normalizeMethod(method),
            route_name: name,
            route_namespace: namespace,
          },
          count: 0,
          sum: 0,
          buckets: new Array<number>(durationBuckets.length + 1).fill(0),
        };
        byMethod.set(code, s);
      }
      byRoute.last = s;
    }
    s.count++;
    s.sum += seconds;
    let i = 0;
    while (i < durationBuckets.length && seconds > (durationBuckets[i] as number)) i++;
    (s.buckets[i] as number)++;
  }

  /** Shows `source.Concurrency` (the route's queue counter) as the route's concurrency gauge. */
  trackConcurrency(
    routeKey: string,
    namespace: string,
    name: string,
    source: { readonly Concurrency: number } | undefined,
  ): void {
    const g = this.#concurrency.get(routeKey);
    if (g) g.source = source;
    else
      this.#concurrency.set(routeKey, { labels: { route_name: name, route_namespace: namespace }, source });
  }

  #allSeries(): RequestSeries[] {
    const all: RequestSeries[] = [];
    for (const byRoute of this.#requests.values()) {
      // Methods outside the standard nine share one "_OTHER" series per code, as upstream's label does.
      const merged = new Map<string, RequestSeries>();
      for (const s of [...byRoute.byMethod.values()].flatMap((m) => [...m.values()])) {
        const key = `${s.labels.code} ${s.labels.method}`;
        const m = merged.get(key);
        if (!m) merged.set(key, { ...s, buckets: [...s.buckets] });
        else {
          m.count += s.count;
          m.sum += s.sum;
          s.buckets.forEach((v, i) => ((m.buckets[i] as number) += v));
        }
      }
      all.push(...merged.values());
    }
    return all;
  }
}
