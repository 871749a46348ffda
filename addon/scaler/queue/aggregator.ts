// Turns what each interceptor pod reports into one view per route: concurrency summed over pods,
// and the number of requests each route received since the last tick (the input of the rate).
// Upstream's rules (scaler/queue_pinger.go):
//   - a pod's RequestCount is monotonic, so the requests since the last look are cur - prev;
//     a smaller value means the pod restarted and counted from 0, so the delta is cur;
//   - a pod or key seen for the first time gives no delta (its count is history, not new traffic);
//   - a listed pod that did not answer keeps its last concurrency (but adds no requests);
//   - pods that left the EndpointSlice are forgotten.
// Beyond upstream: a silent pod's last concurrency is trusted for `staleAfterMs` only, and the
// interceptors' change streams can update a pod's numbers between polls (applyEvent).
import type { QueueCounts } from './queue-counts.ts';

export interface PodPollResult {
  /** "ip:port", the pod's admin endpoint. */
  pod: string;
  /** The /queue document, or undefined when the fetch failed. */
  counts: QueueCounts | undefined;
  /** When the fetch began: a stream event applied after this moment is newer than the answer. */
  startedAtMs: number;
}

export interface PollOutcome {
  /** Requests per route since the previous look (keys with no new requests may be absent). */
  deltas: Map<string, number>;
  answered: number;
  /** Listed pods that did not answer but whose last concurrency is still counted. */
  silentTrusted: number;
  /** Listed pods silent for longer than the bound: their concurrency no longer counts. */
  silentExpired: number;
}

interface KeyState {
  concurrency: number;
  requestCount: number;
  /** When a stream event last set this entry (-Infinity: never). */
  eventAtMs: number;
  generation: number;
}

interface PodState {
  keys: Map<string, KeyState>;
  lastAnsweredMs: number;
  /** Whether this pod's concurrency is part of the totals right now. */
  counted: boolean;
}

export class QueueAggregator {
  readonly staleAfterMs: number;
  readonly #pods = new Map<string, PodState>();
  #totals = new Map<string, number>();
  #totalConcurrency = 0;
  #generation = 0;

  constructor(opts: { staleAfterMs: number }) {
    this.staleAfterMs = opts.staleAfterMs;
  }

  /**
   * Applies one round of polls. `listed` is every ready pod in the EndpointSlices; `results` has
   * one entry per polled pod. The caller handles "every pod failed" (upstream changes nothing then).
   */
  applyPoll(listed: readonly string[], results: readonly PodPollResult[], nowMs: number): PollOutcome {
    const generation = ++this.#generation;
    const listedSet = new Set(listed);
    for (const pod of this.#pods.keys()) if (!listedSet.has(pod)) this.#pods.delete(pod);

    const deltas = new Map<string, number>();
    const totals = new Map<string, number>();
    const answeredPods = new Set<string>();
    for (const r of results) {
      if (r.counts === undefined || !listedSet.has(r.pod)) continue;
      answeredPods.add(r.pod);
      let state = this.#pods.get(r.pod);
      const isNewPod = state === undefined;
      if (state === undefined) {
        state = { keys: new Map(), lastAnsweredMs: nowMs, counted: true };
        this.#pods.set(r.pod, state);
      }
      state.lastAnsweredMs = nowMs;
      state.counted = true;
      const keys = state.keys;
      for (const key in r.counts) {
        const cur = r.counts[key] as { Concurrency: number; RequestCount: number };
        let entry = keys.get(key);
        if (entry === undefined) {
          entry = {
            concurrency: cur.Concurrency,
            requestCount: cur.RequestCount,
            eventAtMs: -Infinity,
            generation,
          };
          keys.set(key, entry);
        } else {
          entry.generation = generation;
          if (entry.eventAtMs < r.startedAtMs) {
            if (!isNewPod) {
              let delta = cur.RequestCount - entry.requestCount;
              if (delta < 0) delta = cur.RequestCount; // the pod restarted and counts from 0 again
              if (delta > 0) deltas.set(key, (deltas.get(key) ?? 0) + delta);
            }
            entry.concurrency = cur.Concurrency;
            entry.requestCount = cur.RequestCount;
          }
          // else: a stream event reached us after this fetch began, so it is newer; keep it.
        }
        totals.set(key, (totals.get(key) ?? 0) + entry.concurrency);
      }
      // Keys this pod no longer reports (route deleted) are forgotten.
      for (const [key, entry] of keys) if (entry.generation !== generation) keys.delete(key);
    }

    let silentTrusted = 0;
    let silentExpired = 0;
    for (const [pod, state] of this.#pods) {
      if (answeredPods.has(pod)) continue;
      if (nowMs - state.lastAnsweredMs <= this.staleAfterMs) {
        silentTrusted++;
        state.counted = true;
        for (const [key, entry] of state.keys) totals.set(key, (totals.get(key) ?? 0) + entry.concurrency);
      } else {
        silentExpired++;
        state.counted = false;
        // Its keys still exist as far as the route list goes, with no concurrency from it.
        for (const key of state.keys.keys()) if (!totals.has(key)) totals.set(key, 0);
      }
    }

    this.#totals = totals;
    let sum = 0;
    for (const v of totals.values()) sum += v;
    this.#totalConcurrency = sum;
    return { deltas, answered: answeredPods.size, silentTrusted, silentExpired };
  }

  /**
   * Applies a change-stream event from one pod (a route became active or idle). Returns the
   * requests it adds since the last look at that pod and route (0 for a first sighting).
   */
  applyEvent(pod: string, key: string, concurrency: number, requestCount: number, nowMs: number): number {
    let state = this.#pods.get(pod);
    if (state === undefined) {
      // A stream can speak before the first poll of a new pod: the pod is alive, so count it.
      state = { keys: new Map(), lastAnsweredMs: nowMs, counted: true };
      this.#pods.set(pod, state);
    }
    let delta = 0;
    let entry = state.keys.get(key);
    const before = entry?.concurrency ?? 0;
    if (entry === undefined) {
      entry = { concurrency, requestCount, eventAtMs: nowMs, generation: this.#generation };
      state.keys.set(key, entry);
    } else {
      // Events and polls can cross on the wire; a count older than what we hold adds nothing.
      if (requestCount >= entry.requestCount) {
        delta = requestCount - entry.requestCount;
        entry.requestCount = requestCount;
      }
      entry.concurrency = concurrency;
      entry.eventAtMs = nowMs;
    }
    if (state.counted) {
      this.#totals.set(key, (this.#totals.get(key) ?? 0) + concurrency - before);
      this.#totalConcurrency += concurrency - before;
    }
    return delta;
  }

  /** Concurrency of one route summed over the counted pods (0 when unknown). */
  concurrency(key: string): number {
    return this.#totals.get(key) ?? 0;
  }

  /** Concurrency summed over every route and pod: what the interceptors scale on. */
  totalConcurrency(): number {
    return this.#totalConcurrency;
  }

  /** Every route key some listed pod reported. */
  keys(): IterableIterator<string> {
    return this.#totals.keys();
  }

  get podCount(): number {
    return this.#pods.size;
  }
}
