// Per-route request counters (upstream pkg/queue): concurrency (in flight, including held requests)
// and a monotonic request count. Kept apart from the proxy; the proxy only calls increase/decrease.
// Transitions 0 -> 1 and 1 -> 0 are announced synchronously to listeners (push activation).
import {
  compareQueueKeys,
  encodeQueueBody,
  encodeQueueKey,
  type QueueBodyEntry,
  type QueueCount,
} from '../../shared/queue-codec/queue-body.ts';

export type Count = QueueCount;

/**
 * A key's live counts, and the /queue/watch stream's state for the key. One object per route: with
 * requests spread over thousands of routes, each object a request touches is a likely cache miss,
 * and a route's transition (0 -> 1 -> 0 on nearly every request then) needs no other.
 */
export class Counter implements QueueBodyEntry {
  readonly key: string;
  /** The key as JSON, encoded once: /queue bodies and /queue/watch events only concatenate it. */
  readonly wireKey: string;
  Concurrency = 0;
  RequestCount = 0;
  /** False once the key is removed: requests still in flight finish through it, announcing nothing. */
  live = true;
  /** /queue/watch (watch.ts): whether `active` is what its clients last heard for this key. */
  watchAnnouncedActive = false;
  /** /queue/watch: the idle check count when the key went to 0; -1 while it is above 0. */
  watchIdleSince = -1;
  /** /queue/watch: whether the key is in the idle candidates already. */
  watchIdleCandidate = false;

  constructor(key: string) {
    this.key = key;
    this.wireKey = encodeQueueKey(key);
  }
}

export type Transition = 'active' | 'idle';
export type TransitionListener = (kind: Transition, key: string, count: Counter) => void;

export class RequestQueue {
  readonly #counts = new Map<string, Counter>();
  /** The counters in body order; rebuilt on the first /queue after a key was added or removed. */
  #sorted: Counter[] | undefined;
  #listeners: readonly TransitionListener[] = [];

  /** Makes a key known (counting a key that was never ensured is a silent no-op, like upstream). */
  ensureKey(key: string): void {
    if (this.#counts.has(key)) return;
    this.#counts.set(key, new Counter(key));
    this.#sorted = undefined;
  }

  removeKey(key: string): void {
    const c = this.#counts.get(key);
    if (c) c.live = false;
    if (this.#counts.delete(key)) this.#sorted = undefined;
  }

  keys(): IterableIterator<string> {
    return this.#counts.keys();
  }

  /** Returns the live counter so the caller can decrease the same object later, even if the key is removed. */
  increase(key: string): Counter | undefined {
    const c = this.#counts.get(key);
    if (c) this.increaseCounter(key, c);
    return c;
  }

  /** The key's live counter, for a caller that counts through it many times (increaseCounter). */
  counter(key: string): Counter | undefined {
    return this.#counts.get(key);
  }

  /** increase() through a counter the caller already holds (from counter()). */
  increaseCounter(key: string, c: Counter): void {
    c.Concurrency++;
    c.RequestCount++;
    if (c.Concurrency === 1) this.#emit('active', key, c);
  }

  decrease(key: string, c: Counter): void {
    if (c.Concurrency <= 0) return;
    c.Concurrency--;
    if (c.Concurrency === 0 && c.live) this.#emit('idle', key, c);
  }

  get(key: string): Readonly<Counter> | undefined {
    return this.#counts.get(key);
  }

  /** Every live counter, keyed by route key. */
  entries(): IterableIterator<[string, Counter]> {
    return this.#counts.entries();
  }

  /** The /queue body (upstream's format: Go's json.Encoder over a map, keys sorted, a newline). */
  toJSON(): string {
    this.#sorted ??= [...this.#counts.values()].sort(compareQueueKeys);
    return encodeQueueBody(this.#sorted);
  }

  onTransition(listener: TransitionListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  #emit(kind: Transition, key: string, c: Counter): void {
    for (const l of this.#listeners) l(kind, key, c);
  }
}
