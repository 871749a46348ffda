// Requests held for a cold Service, released when it turns ready. The release is FIFO and paced:
// a batch per event-loop turn (setImmediate), so the first released requests are on the wire while
// the rest are still being released, instead of 10,000 forwards being set up in one synchronous
// burst before a single byte is written (hundreds of milliseconds, and a young generation full of
// in-flight state for the scavenger to copy).
// A release of thousands takes many turns; a request that arrives for the Service meanwhile joins
// the end of it (addBehind) rather than overtaking requests that have waited for the cold start.

/** Stops waiting: the callback is not called (a no-op once it has been). */
export type CancelWait = () => void;

/** Released per event-loop turn: large enough to keep the backend busy, small enough to interleave. */
export const releaseBatch = 64;

export class ReadyWaiters {
  /** "namespace/service" -> callbacks in arrival order (a Set: ordered, O(1) delete on cancel). */
  readonly #waiting = new Map<string, Set<() => void>>();
  /** Services that turned ready and still have callbacks to call, oldest first. */
  readonly #releasing: { serviceKey: string; set: Set<() => void> }[] = [];
  /** "namespace/service" -> the newest of its sets in #releasing, the one late arrivals join. */
  readonly #releasingByService = new Map<string, Set<() => void>>();
  #scheduled = false;
  readonly #batch: number;
  readonly #onError: (err: unknown) => void;

  /**
   * `onError` gets what a callback throws (a bug): by default it is rethrown on a microtask, an
   * uncaught exception like any other, after the requests behind it have been released.
   */
  constructor(batch = releaseBatch, onError = rethrowLater) {
    this.#batch = batch;
    this.#onError = onError;
  }

  /** How many callbacks are waiting or being released. */
  get size(): number {
    let n = 0;
    for (const s of this.#waiting.values()) n += s.size;
    for (const r of this.#releasing) n += r.set.size;
    return n;
  }

  add(serviceKey: string, onReady: () => void): CancelWait {
    let set = this.#waiting.get(serviceKey);
    if (set === undefined) this.#waiting.set(serviceKey, (set = new Set()));
    const mine = set;
    mine.add(onReady);
    return () => {
      mine.delete(onReady);
      if (mine.size === 0 && this.#waiting.get(serviceKey) === mine) this.#waiting.delete(serviceKey);
    };
  }

  /** The Service has a ready endpoint: release everything waiting for it, in arrival order. */
  release(serviceKey: string): void {
    const set = this.#waiting.get(serviceKey);
    if (set === undefined) return;
    this.#waiting.delete(serviceKey);
    this.#releasing.push({ serviceKey, set });
    this.#releasingByService.set(serviceKey, set);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
  }

  /** Whether a release of the Service is still under way (cheap when no release is: the hot path asks). */
  isReleasing(serviceKey: string): boolean {
    return this.#releasing.length !== 0 && this.#releasingByService.has(serviceKey);
  }

  /**
   * Calls `onReady` after everything being released for the Service, in order, or on the next turn
   * if no release of it is under way.
   */
  addBehind(serviceKey: string, onReady: () => void): CancelWait {
    const set = this.#releasingByService.get(serviceKey);
    if (set === undefined) {
      const cancel = this.add(serviceKey, onReady);
      this.release(serviceKey);
      return cancel;
    }
    set.add(onReady); // a Set being iterated by #drain visits what is added to it later
    return () => {
      set.delete(onReady);
    };
  }

  /** Services that have callbacks waiting (not yet released). */
  services(): IterableIterator<string> {
    return this.#waiting.keys();
  }

  readonly #drain = (): void => {
    let budget = this.#batch;
    while (budget > 0 && this.#releasing.length > 0) {
      const { serviceKey, set } = this.#releasing[0] as { serviceKey: string; set: Set<() => void> };
      for (const onReady of set) {
        set.delete(onReady);
        try {
          onReady();
        } catch (err) {
          this.#onError(err);
        }
        if (--budget === 0) break;
      }
      if (set.size === 0) {
        this.#releasing.shift();
        if (this.#releasingByService.get(serviceKey) === set) this.#releasingByService.delete(serviceKey);
      }
    }
    if (this.#releasing.length > 0) setImmediate(this.#drain);
    else this.#scheduled = false;
  };
}

function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}
