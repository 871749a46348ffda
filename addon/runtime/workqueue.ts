// A per-key work queue with client-go's semantics, which every controller here relies on:
// - a key waiting in the queue is held once, however often it is added (duplicates collapse);
// - a key is handed to at most one worker at a time; if it is added while being processed it is
//   queued again when the worker calls done(), so no change is lost and none is handled twice at once;
// - addRateLimited() retries a key after an exponential backoff (base * 2^failures, capped) and
//   forget() resets its failure count once it succeeds;
// - addAfter() delays a key (requeueAfter), keeping the earliest deadline when added twice.

export interface WorkQueueOptions {
  /** First retry delay. */
  baseDelayMs?: number;
  /** Retry delays never exceed this. */
  maxDelayMs?: number;
  /** Called whenever depth changes or a key is added or retried (metrics hook). */
  onEvent?: (e: { type: 'add' | 'retry' | 'depth'; depth: number }) => void;
}

export class WorkQueue {
  readonly #queue: string[] = [];
  /** Keys that need processing: the queued ones plus those re-added while processing. */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #onEvent: NonNullable<WorkQueueOptions['onEvent']>;
  #shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.#baseDelayMs = opts.baseDelayMs ?? 5;
    this.#maxDelayMs = opts.maxDelayMs ?? 300_000;
    this.#onEvent = opts.onEvent ?? (() => undefined);
  }

  /** Keys waiting to be handed out. */
  get length(): number {
    return this.#queue.length;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown) return;
    this.#onEvent({ type: 'add', depth: this.#queue.length });
    if (this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // done() requeues it
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queue.push(key);
    this.#onEvent({ type: 'depth', depth: this.#queue.length });
  }

  /** Adds the key after `ms`; an earlier pending deadline for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#delayed.set(key, { at, timer });
  }

  /** Retries the key after its backoff; each call doubles the next delay until forget(). */
  addRateLimited(key: string): number {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    const delay = Math.min(this.#baseDelayMs * 2 ** failures, this.#maxDelayMs);
    this.#onEvent({ type: 'retry', depth: this.#queue.length });
    this.addAfter(key, delay);
    return delay;
  }

  /** How many times in a row the key has failed. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** The next key to process, waiting for one; undefined once the queue shuts down. */
  get(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      this.#onEvent({ type: 'depth', depth: this.#queue.length });
      return Promise.resolve(key);
    }
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Marks the key processed; if it was added meanwhile, it goes back in the queue. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
  }

  /** Stops handing out keys; waiting get() calls resolve undefined. */
  shutdown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    for (const w of this.#waiters.splice(0)) w(undefined);
  }
}
