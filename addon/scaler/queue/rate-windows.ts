// One RequestBuckets per route key. The window and granularity come from the route's
// scalingMetric.requestRate (GetMetrics tells us); a route's history is kept until they change.
import { RequestBuckets } from './request-buckets.ts';

export class RateWindows {
  readonly #buckets = new Map<string, RequestBuckets>();
  // The window each key was last asked for, so a buffer re-created after the key came back
  // (an interceptor restart) starts with the route's own settings, not the defaults.
  readonly #configured = new Map<string, { windowMs: number; granularityMs: number }>();

  /** Records one tick: `delta` for every key in `deltas`, 0 for the other `live` keys; drops the rest. */
  recordTick(nowMs: number, live: Iterable<string>, deltas: ReadonlyMap<string, number>): void {
    const seen = new Set<string>();
    for (const key of live) {
      seen.add(key);
      this.#ensure(key).record(nowMs, deltas.get(key) ?? 0);
    }
    for (const key of this.#buckets.keys()) {
      if (!seen.has(key)) this.#buckets.delete(key);
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
      const c = this.#configured.get(key);
      b = new RequestBuckets(c?.windowMs, c?.granularityMs);
      this.#buckets.set(key, b);
    }
    return b;
  }
}
