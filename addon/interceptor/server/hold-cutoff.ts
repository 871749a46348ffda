// The moment a drain stops waiting for cold starts. Held requests watch it; when the drain is about
// to close the connections, every request still held is told at once, so it gets an HTTP answer
// (503 + Retry-After, another replica may serve it) instead of a reset connection. A Set rather than
// an AbortSignal: thousands of held requests each stop watching when their wait ends, and removing a
// listener from an EventTarget costs a scan of all the others.

/** What a held request's wait ends with when the cutoff is reached. */
export type CutoffOutcome = 'shutdown';

export class HoldCutoff {
  readonly #watching = new Set<(outcome: CutoffOutcome) => void>();
  #reached = false;

  get reached(): boolean {
    return this.#reached;
  }

  /** Calls `onCutoff` when the cutoff is reached; at once when it already was. */
  watch(onCutoff: (outcome: CutoffOutcome) => void): void {
    if (this.#reached) onCutoff('shutdown');
    else this.#watching.add(onCutoff);
  }

  unwatch(onCutoff: (outcome: CutoffOutcome) => void): void {
    this.#watching.delete(onCutoff);
  }

  reach(): void {
    if (this.#reached) return;
    this.#reached = true;
    // Each callback unwatches itself; deleting visited entries while iterating a Set is safe.
    for (const onCutoff of this.#watching) onCutoff('shutdown');
    this.#watching.clear();
  }
}
