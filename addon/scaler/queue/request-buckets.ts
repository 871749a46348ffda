// A sliding window of request counts split into fixed-size buckets: upstream's RequestsBuckets
// (pkg/queue/bucketing.go, itself Knative's). The scaler records each tick's request delta and
// asks for the average per bucket, so a route's rate decays to 0 once traffic stops.
//
// Times are Unix milliseconds. Upstream indexes buckets by whole seconds, which divides by zero
// for a sub-second granularity; indexing by milliseconds gives the same answers for whole-second
// granularities and also works below one second.

export const defaultWindowMs = 60_000;
export const defaultGranularityMs = 1_000;

export class RequestBuckets {
  readonly windowMs: number;
  readonly granularityMs: number;
  readonly #buckets: Float64Array;
  #firstWrite = Number.NaN; // NaN: nothing recorded yet (Go's zero time)
  #lastWrite = Number.NaN;
  #windowTotal = 0;

  constructor(windowMs = defaultWindowMs, granularityMs = defaultGranularityMs) {
    // Non-positive values fall back to upstream's defaults (UpdateBucketConfig does the same).
    this.windowMs = windowMs > 0 ? windowMs : defaultWindowMs;
    this.granularityMs = granularityMs > 0 ? granularityMs : defaultGranularityMs;
    this.#buckets = new Float64Array(Math.ceil(this.windowMs / this.granularityMs));
  }

  /** Adds `value` requests at time `nowMs`. */
  record(nowMs: number, value: number): void {
    const bucketTime = this.#truncate(nowMs);
    if (bucketTime !== this.#lastWrite) {
      const empty = Number.isNaN(this.#lastWrite);
      // Older than the whole window: it can no longer be part of any average.
      if (!empty && bucketTime + this.windowMs <= this.#lastWrite) return;
      if (Number.isNaN(this.#firstWrite) || this.#firstWrite > bucketTime) this.#firstWrite = bucketTime;
      if (empty || bucketTime > this.#lastWrite) {
        if (empty || bucketTime - this.#lastWrite >= this.windowMs) {
          this.#buckets.fill(0);
          this.#windowTotal = 0;
          this.#firstWrite = bucketTime;
        } else {
          // The buckets between the last write and now saw no traffic: clear what they held
          // from a full window ago.
          this.#clearAfterLastWrite(nowMs);
        }
        this.#lastWrite = bucketTime;
      }
    }
    this.#buckets[this.#index(nowMs)] = (this.#buckets[this.#index(nowMs)] ?? 0) + value;
    this.#windowTotal += value;
  }

  /** Average requests per bucket over the window ending at `nowMs`, rounded to 3 decimals. */
  windowAverage(nowMs: number): number {
    if (Number.isNaN(this.#lastWrite)) return 0;
    const now = this.#truncate(nowMs);
    const sinceLastWrite = now - this.#lastWrite;
    const n = this.#buckets.length;
    const numBuckets = Math.min(Math.floor((this.#lastWrite - this.#firstWrite) / this.granularityMs) + 1, n);
    if (sinceLastWrite <= 0) return round3(this.#windowTotal / numBuckets);
    if (sinceLastWrite < this.windowMs) {
      // Buckets after the last write still hold counts from a window ago; they do not count now.
      let expired = 0;
      for (let i = this.#rawIndex(this.#lastWrite) + 1; i <= this.#rawIndex(now); i++) {
        expired += this.#buckets[i % n] ?? 0;
      }
      return round3((this.#windowTotal - expired) / numBuckets);
    }
    return 0;
  }

  /** True when both settings match: upstream keeps a route's history unless they change. */
  sameConfig(windowMs: number, granularityMs: number): boolean {
    const w = windowMs > 0 ? windowMs : defaultWindowMs;
    const g = granularityMs > 0 ? granularityMs : defaultGranularityMs;
    return w === this.windowMs && g === this.granularityMs;
  }

  #clearAfterLastWrite(nowMs: number): void {
    const n = this.#buckets.length;
    for (let i = this.#rawIndex(this.#lastWrite) + 1; i <= this.#rawIndex(nowMs); i++) {
      const j = i % n;
      this.#windowTotal -= this.#buckets[j] ?? 0;
      this.#buckets[j] = 0;
    }
  }

  #truncate(ms: number): number {
    return Math.floor(ms / this.granularityMs) * this.granularityMs;
  }

  #rawIndex(ms: number): number {
    return Math.floor(ms / this.granularityMs);
  }

  #index(ms: number): number {
    return this.#rawIndex(ms) % this.#buckets.length;
  }
}

/** Go's math.Round(x*1000)/1000 for the non-negative values rates are. */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
