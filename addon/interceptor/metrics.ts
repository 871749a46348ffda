// The interceptor's Prometheus metrics, with upstream's names, labels, HELP texts and buckets,
// plus held-request metrics for bounded holding and cold-start waits (beyond upstream).
//
// The per-request and per-held-request series are kept in plain objects found by one Map lookup (or
// held by the caller) and exposed to prom-client as collectors read at scrape time: prom-client's
// labelled children re-hash their labels on every observation, which is measurable at tens of
// thousands of requests per second, and in a release of thousands of held requests.
import { Counter, type Registry } from 'prom-client';
import type { InstrumentTable } from '../shared/telemetry/registry-producer.ts';

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
/** Cold starts take from milliseconds (a pod already starting) to minutes (an image pull). */
export const coldStartWaitBuckets = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300];

/** How a held request's wait ended, as the `outcome` label shows it. */
const waitOutcomes = {
  ready: 'ready', // forwarded to the target
  readiness: 'readiness_timeout', // 504, or the fallback Service
  deadline: 'deadline', // the request timeout: 504
  client: 'client_closed', // the client left first
  shutdown: 'shutdown', // the drain was about to close the connection: 503 + Retry-After
} as const;
export type WaitOutcome = keyof typeof waitOutcomes;

/** Counts, a sum and non-cumulative buckets (the last slot is +Inf): one histogram series. */
interface HistogramSeries {
  labels: Record<string, string>;
  count: number;
  sum: number;
  buckets: number[];
}

function newHistogramSeries(labels: Record<string, string>, bounds: readonly number[]): HistogramSeries {
  return { labels, count: 0, sum: 0, buckets: new Array<number>(bounds.length + 1).fill(0) };
}

function observeHistogram(s: HistogramSeries, bounds: readonly number[], seconds: number): void {
  s.count++;
  s.sum += seconds;
  let i = 0;
  while (i < bounds.length && seconds > (bounds[i] as number)) i++;
  (s.buckets[i] as number)++;
}

/** The exposition of histogram series: cumulative _bucket lines, then _sum and _count. */
function histogramValues(
  name: string,
  bounds: readonly number[],
  series: readonly HistogramSeries[],
): MetricValue[] {
  const out: MetricValue[] = [];
  for (const s of series) {
    let cumulative = 0;
    bounds.forEach((le, i) => {
      cumulative += s.buckets[i] ?? 0;
      out.push({ metricName: `${name}_bucket`, labels: { le, ...s.labels }, value: cumulative });
    });
    out.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
    out.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
    out.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
  }
  return out;
}

export function normalizeMethod(method: string): string {
  return knownMethods.has(method) ? method : '_OTHER';
}

interface RequestSeries extends HistogramSeries {
  /** The request's own status and method (labels hold the exposed forms). */
  code: number;
  method: string;
  labels: { code: string; method: string; route_name: string; route_namespace: string };
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
 * A route's held requests: the pending gauge reads the hold limits' count for the route at scrape
 * time, and each wait that ends is observed in the route's wait histogram by how it ended.
 */
export class HoldSeries {
  readonly labels: { route_name: string; route_namespace: string };
  readonly #byOutcome = new Map<WaitOutcome, HistogramSeries>();

  constructor(namespace: string, name: string) {
    this.labels = { route_name: name, route_namespace: namespace };
  }

  observeWait(outcome: WaitOutcome, seconds: number): void {
    let s = this.#byOutcome.get(outcome);
    if (s === undefined)
      this.#byOutcome.set(
        outcome,
        (s = newHistogramSeries({ ...this.labels, outcome: waitOutcomes[outcome] }, coldStartWaitBuckets)),
      );
    observeHistogram(s, coldStartWaitBuckets, seconds);
  }

  get waits(): IterableIterator<HistogramSeries> {
    return this.#byOutcome.values();
  }
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
  /** route key -> its held-request series, from the route's first held request on. */
  readonly #holds = new Map<string, HoldSeries>();
  readonly #held: { heldFor(routeKey: string): number } | undefined;
  readonly rejected: Counter<string>;

  /** `held` is what the pending gauge reads: the hold limits' count per route. */
  constructor(registry: Registry, held?: { heldFor(routeKey: string): number }) {
    this.#held = held;
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
        () => histogramValues('interceptor_request_duration_seconds', durationBuckets, this.#allSeries()),
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
    reg.registerMetric(
      collector(
        'interceptor_pending_requests',
        'Requests held while waiting for a cold start (beyond upstream)',
        'gauge',
        () =>
          [...this.#holds].map(([key, h]) => ({ labels: h.labels, value: this.#held?.heldFor(key) ?? 0 })),
      ),
    );
    reg.registerMetric(
      collector(
        'interceptor_cold_start_wait_seconds',
        'How long held requests waited for a cold start, by how the wait ended (beyond upstream)',
        'histogram',
        () =>
          histogramValues(
            'interceptor_cold_start_wait_seconds',
            coldStartWaitBuckets,
            [...this.#holds.values()].flatMap((h) => [...h.waits]),
          ),
      ),
    );
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
        const labels = {
          code: String(code),
          method: normalizeMethod(method),
          route_name: name,
          route_namespace: namespace,
        };
        s = { ...newHistogramSeries(labels, durationBuckets), labels, code, method };
        byMethod.set(code, s);
      }
      byRoute.last = s;
    }
    observeHistogram(s, durationBuckets, seconds);
  }

  /** The route's held-request series (created on its first held request, kept by the caller). */
  holdSeries(routeKey: string, namespace: string, name: string): HoldSeries {
    let h = this.#holds.get(routeKey);
    if (h === undefined) this.#holds.set(routeKey, (h = new HoldSeries(namespace, name)));
    return h;
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

  /**
   * Drops the series of routes that are no longer in the table (beyond upstream, whose exporter
   * keeps them until a restart): with apps coming and going, /metrics would otherwise only grow.
   * A route that comes back starts from zero, as after a restart. The unmatched series ("") stays.
   */
  retainRoutes(keys: ReadonlySet<string>): void {
    for (const key of this.#requests.keys()) if (key !== '' && !keys.has(key)) this.#requests.delete(key);
    for (const key of this.#holds.keys()) if (!keys.has(key)) this.#holds.delete(key);
    // Every route that saw a request has a concurrency gauge (handler: on its first request).
    for (const [key, g] of this.#concurrency) {
      if (keys.has(key)) continue;
      this.#concurrency.delete(key);
      for (const limit of ['route', 'global']) this.rejected.remove({ ...g.labels, limit });
    }
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

/**
 * The OTLP export of these metrics (OTEL_EXPORTER_OTLP_METRICS_ENABLED): upstream's meter and
 * instruments for the request metrics, the same values /metrics shows; ours under names in their style.
 */
export const otlpMeterName = 'keda-interceptor-proxy';
export const otlpInstruments: InstrumentTable = {
  interceptor_request_count_total: {
    name: 'interceptor.request.count',
    kind: 'counter',
    description: 'Total requests processed by the interceptor proxy',
    integer: true,
    integerAttributes: ['code'],
  },
  interceptor_request_duration_seconds: {
    name: 'interceptor.request.duration',
    kind: 'histogram',
    description: 'Time from request received to response written',
    unit: 's',
    integerAttributes: ['code'],
  },
  interceptor_request_concurrency: {
    name: 'interceptor.request.concurrency',
    kind: 'upDownCounter',
    description: 'Concurrent requests at the interceptor proxy',
    integer: true,
  },
  interceptor_pending_requests: {
    name: 'interceptor.pending.requests',
    kind: 'upDownCounter',
    description: 'Requests held while waiting for a cold start',
    integer: true,
  },
  interceptor_cold_start_wait_seconds: {
    name: 'interceptor.cold_start.wait',
    kind: 'histogram',
    description: 'How long held requests waited for a cold start, by how the wait ended',
    unit: 's',
  },
  interceptor_pending_rejected_total: {
    name: 'interceptor.pending.rejected',
    kind: 'counter',
    description: 'Requests answered 503 because a held-request limit was reached',
    integer: true,
  },
};
