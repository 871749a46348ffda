// Per-route request counters (upstream pkg/queue): concurrency (in flight, including held requests)
// and a monotonic request count. Kept apart from the proxy; the proxy only calls increase/decrease.
// Transitions 0 -> 1 and 1 -> 0 are announced synchronously to listeners (push activation).

export interface Count {
  Concurrency: number;
  RequestCount: number;
}

export type Transition = 'active' | 'idle';
export type TransitionListener = (kind: Transition, key: string, count: Readonly<Count>) => void;

export class RequestQueue {
  readonly #counts = new Map<string, Count>();
  readonly #listeners = new Set<TransitionListener>();

  /** Makes a key known (counting a key that was never ensured is a silent no-op, like upstream). */
  ensureKey(key: string): void {
    if (!this.#counts.has(key)) this.#counts.set(key, { Concurrency: 0, RequestCount: 0 });
  }

  removeKey(key: string): void {
    this.#counts.delete(key);
  }

  keys(): IterableIterator<string> {
    return this.#counts.keys();
  }

  /** Returns the live counter so the caller can decrease the same object later, even if the key is removed. */
  increase(key: string): Count | undefined {
    const c = this.#counts.get(key);
    if (c) this.increaseCounter(key, c);
    return c;
  }

  /** The key's live counter, for a caller that counts through it many times (increaseCounter). */
  counter(key: string): Count | undefined {
    return this.#counts.get(key);
  }

  /** increase() through a counter the caller already holds (from counter()). */
  increaseCounter(key: string, c: Count): void {
    c.Concurrency++;
    c.RequestCount++;
    if (c.Concurrency === 1) this.#emit('active', key, c);
  }

  decrease(key: string, c: Count): void {
    if (c.Concurrency <= 0) return;
    c.Concurrency--;
    if (c.Concurrency === 0 && this.#counts.get(key) === c) this.#emit('idle', key, c);
  }

  get(key: string): Readonly<Count> | undefined {
    return this.#counts.get(key);
  }

  /** Upstream's /queue body: Go's json.Encoder over a map (keys sorted) plus a newline. */
  toJSON(): string {
    const keys = [...this.#counts.keys()].sort();
    const parts = keys.map((k) => {
      const c = this.#counts.get(k) as Count;
      return `${JSON.stringify(k)}:{"Concurrency":${c.Concurrency},"RequestCount":${c.RequestCount}}`;
    });
    return `{${parts.join(',')}}\n`;
  }

  onTransition(listener: TransitionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(kind: Transition, key: string, c: Count): void {
    for (const l of this.#listeners) l(kind, key, c);
  }
}
