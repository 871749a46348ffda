// One RequestBuckets per route key. The window and granularity come from the route's
// scalingMetric.requestRate (GetMetrics tells us, as upstream); a route's history is kept until
// they change. Unlike upstream, a new key's buffer is created with the route's settings when we
// can read them, rather than with the defaults that the first GetMetrics would then replace.
import { RequestBuckets } from './request-buckets.ts';

export interface RateSettings {
  windowMs: number;
  granularityMs: number;
}

export class RateWindows {
  readonly #buckets = new Map<string, RequestBuckets>();
  /** The route's own settings for a key not asked about yet (read from its InterceptorRoute). */
  readonly #settingsFor: (key: string) => RateSettings | undefined;
  // The window each key was last asked for, so a buffer re-created after the key came back
  // (an interceptor restart) starts with the route's own settings, not the defaults.
  readonly #configured = new Map<string, RateSettings>();

  constructor(settingsFor: (key: string) => RateSettings | undefined = () => undefined) {
    this.#settingsFor = settingsFor;
  }

  /** Records one tick: `delta` for every key in `deltas`, 0 for the other `live` keys; drops the rest. */
  recordTick(nowMs: number, live: Iterable<string>, deltas: ReadonlyMap<string, number>): void {
    const seen = new Set<string>();
    for (const key of live) {
      seen.add(key);
      this.#ensure(key).record(nowMs, deltas.get(key) ?? 0);
    }
    for (const key of this.#buckets.keys()) {
      if (!seen.has(key)) {
        this.#buckets.delete(key);
        this.#configured.delete(key); // the store still knows the route's window if it returns
      }
    }
  }

  /** Records requests seen between ticks (from an interceptor's change stream). */
  record(key: string, nowMs: number, delta: number): void {
    this.#ensure(key).record(nowMs, delta);
  }

  /**
   * Sets a key's window (replacing its buffer, and so its history, only when the settings change)
   * and returns the current rate: average requests per granularity over the window.
   */
  rate(key: string, nowMs: number, windowMs: number, granularityMs: number): number {
    this.#configured.set(key, { windowMs, granularityMs });
    const existing = this.#buckets.get(key);
    if (existing === undefined) return 0;
    if (!existing.sameConfig(windowMs, granularityMs)) {
      this.#buckets.set(key, new RequestBuckets(windowMs, granularityMs));
      return 0;
    }
    return existing.windowAverage(nowMs);
  }

  get size(): number {
    return this.#buckets.size;
  }

  #ensure(key: string): RequestBuckets {
    let b = this.#buckets.get(key);
    if (b === undefined) {
      // Start with the route's own window, so its first GetMetrics does not throw history away.
      const c = this.#configured.get(key) ?? this.#settingsFor(key);
      b = new RequestBuckets(c?.windowMs, c?.granularityMs);
      this.#buckets.set(key, b);
    }
    return b;
  }
}
