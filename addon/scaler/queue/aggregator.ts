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
//
// Cost: at 10,000 routes x 50 pods a tick folds in 500,000 entries. Each pod keeps its entries in
// the order it last sent them (interceptors send sorted keys), so an unchanged key set is matched
// by position, without a hash lookup, and every entry points straight at its route's totals.
import type { QueueCounts } from '../../shared/queue-codec/queue-body.ts';

export interface PodPollResult {
  /** "ip:port", the pod's admin endpoint. */
  pod: string;
  /** The /queue document, or undefined when the fetch failed. */
  counts: QueueCounts | undefined;
  /** When the fetch began: a stream event applied after this moment is newer than the answer. */
  startedAtMs: number;
}

export interface PollOutcome {
  /** Requests per route since the previous look (routes with no new requests are absent). */
  deltas: Map<string, number>;
  answered: number;
  /** Listed pods that did not answer but whose last concurrency is still counted. */
  silentTrusted: number;
  /** Listed pods silent for longer than the bound: their concurrency no longer counts. */
  silentExpired: number;
}

/** One route's numbers summed over the pods. */
interface RouteTotals {
  /** The route key, stored once and shared by every pod's entry. */
  key: string;
  concurrency: number;
  delta: number;
  /** The last poll generation in which some listed pod reported the route. */
  seen: number;
}

/** One pod's view of one route. */
interface KeyState {
  key: string;
  route: RouteTotals;
  concurrency: number;
  requestCount: number;
  /** When a stream event last set this entry (-Infinity: never). */
  eventAtMs: number;
}

interface PodState {
  /** Entries by key; built only when needed (the key set changed, a stream event). */
  byKey: Map<string, KeyState> | undefined;
  /** Entries in the order of the pod's last answer. */
  order: KeyState[];
  lastAnsweredMs: number;
  /** Whether this pod's concurrency is part of the totals right now. */
  counted: boolean;
}

export class QueueAggregator {
  readonly staleAfterMs: number;
  readonly #pods = new Map<string, PodState>();
  readonly #routes = new Map<string, RouteTotals>();
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
    for (const route of this.#routes.values()) {
      route.concurrency = 0;
      route.delta = 0;
    }

    const answeredPods = new Set<string>();
    for (const r of results) {
      if (r.counts === undefined || !listedSet.has(r.pod)) continue;
      answeredPods.add(r.pod);
      let state = this.#pods.get(r.pod);
      const isNewPod = state === undefined;
      if (state === undefined) {
        state = { byKey: undefined, order: [], lastAnsweredMs: nowMs, counted: true };
        this.#pods.set(r.pod, state);
      }
      state.lastAnsweredMs = nowMs;
      state.counted = true;
      this.#foldAnswer(state, r.counts, r.startedAtMs, isNewPod, generation);
    }

    let silentTrusted = 0;
    let silentExpired = 0;
    for (const [pod, state] of this.#pods) {
      if (answeredPods.has(pod)) continue;
      const trusted = nowMs - state.lastAnsweredMs <= this.staleAfterMs;
      if (trusted) silentTrusted++;
      else silentExpired++;
      state.counted = trusted;
      // An expired pod's routes still exist as far as the route list goes, with nothing from it.
      for (const e of state.order) {
        e.route.seen = generation;
        if (trusted) e.route.concurrency += e.concurrency;
      }
    }

    const deltas = new Map<string, number>();
    let total = 0;
    for (const [key, route] of this.#routes) {
      if (route.seen !== generation) {
        this.#routes.delete(key);
        continue;
      }
      total += route.concurrency;
      if (route.delta > 0) deltas.set(key, route.delta);
    }
    this.#totalConcurrency = total;
    return { deltas, answered: answeredPods.size, silentTrusted, silentExpired };
  }

  #foldAnswer(
    state: PodState,
    counts: QueueCounts,
    startedAtMs: number,
    isNewPod: boolean,
    generation: number,
  ): void {
    const { keys, concurrency, requestCount } = counts;
    const previous = state.order;
    let sameOrder = keys.length === previous.length;
    const order: KeyState[] = sameOrder ? previous : new Array<KeyState>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const c = concurrency[i] as number;
      const n = requestCount[i] as number;
      let e = sameOrder ? previous[i] : undefined;
      if (e === undefined || e.key !== key) {
        if (sameOrder) {
          // The key set changed: from here on, look entries up by key and build a new order.
          sameOrder = false;
          const rebuilt = new Array<KeyState>(keys.length);
          for (let j = 0; j < i; j++) rebuilt[j] = order[j] as KeyState;
          return this.#foldByKey(state, counts, startedAtMs, isNewPod, generation, rebuilt, i);
        }
        e = this.#index(state).get(key);
      }
      if (e === undefined) {
        e = this.#entry(key, c, n, -Infinity);
      } else if (e.eventAtMs < startedAtMs) {
        if (!isNewPod) {
          let delta = n - e.requestCount;
          if (delta < 0) delta = n; // the pod restarted and counts from 0 again
          e.route.delta += delta;
        }
        e.concurrency = c;
        e.requestCount = n;
      }
      // else: a stream event reached us after this fetch began, so it is newer; keep it.
      e.route.concurrency += e.concurrency;
      e.route.seen = generation;
      order[i] = e;
    }
    if (!sameOrder) this.#setOrder(state, order);
  }

  /** The slow path of #foldAnswer, from index `from` on, when the key set differs from last time. */
  #foldByKey(
    state: PodState,
    counts: QueueCounts,
    startedAtMs: number,
    isNewPod: boolean,
    generation: number,
    order: KeyState[],
    from: number,
  ): void {
    const { keys, concurrency, requestCount } = counts;
    const index = this.#index(state);
    for (let i = from; i < keys.length; i++) {
      const key = keys[i] as string;
      const c = concurrency[i] as number;
      const n = requestCount[i] as number;
      let e = index.get(key);
      if (e === undefined) {
        e = this.#entry(key, c, n, -Infinity);
      } else {
        // A route deleted and re-created keeps its pod entry but must point at live totals.
        e.route = this.#route(key);
        if (e.eventAtMs < startedAtMs) {
          if (!isNewPod) {
            let delta = n - e.requestCount;
            if (delta < 0) delta = n;
            e.route.delta += delta;
          }
          e.concurrency = c;
          e.requestCount = n;
        }
      }
      e.route.concurrency += e.concurrency;
      e.route.seen = generation;
      order[i] = e;
    }
    this.#setOrder(state, order);
  }

  /** Adopts a new order; keys the pod no longer reports (routes deleted) are forgotten. */
  #setOrder(state: PodState, order: KeyState[]): void {
    state.order = order;
    state.byKey = undefined;
  }

  #index(state: PodState): Map<string, KeyState> {
    if (state.byKey === undefined) {
      state.byKey = new Map();
      for (const e of state.order) state.byKey.set(e.key, e);
    }
    return state.byKey;
  }

  #entry(key: string, concurrency: number, requestCount: number, eventAtMs: number): KeyState {
    const route = this.#route(key);
    return { key: route.key, route, concurrency, requestCount, eventAtMs };
  }

  #route(key: string): RouteTotals {
    let route = this.#routes.get(key);
    if (route === undefined) {
      // A key parsed from a /queue body is a slice of that ~0.5 MiB body; copying it lets the
      // body be freed instead of being kept alive by the key for as long as the route exists.
      const own = Buffer.from(key, 'utf8').toString('utf8');
      route = { key: own, concurrency: 0, delta: 0, seen: this.#generation };
      this.#routes.set(own, route);
    }
    return route;
  }

  /**
   * Applies a change-stream event from one pod (a route became active or idle). Returns the
   * requests it adds since the last look at that pod and route (0 for a first sighting).
   */
  applyEvent(pod: string, key: string, concurrency: number, requestCount: number, nowMs: number): number {
    let state = this.#pods.get(pod);
    if (state === undefined) {
      // A stream can speak before the first poll of a new pod: the pod is alive, so count it.
      state = { byKey: undefined, order: [], lastAnsweredMs: nowMs, counted: true };
      this.#pods.set(pod, state);
    }
    let delta = 0;
    const index = this.#index(state);
    let e = index.get(key);
    const before = e?.concurrency ?? 0;
    if (e === undefined) {
      e = this.#entry(key, concurrency, requestCount, nowMs);
      index.set(e.key, e);
      state.order = [...state.order, e];
    } else {
      // Events and polls can cross on the wire; a count older than what we hold adds nothing.
      if (requestCount >= e.requestCount) {
        delta = requestCount - e.requestCount;
        e.requestCount = requestCount;
      }
      e.concurrency = concurrency;
      e.eventAtMs = nowMs;
    }
    if (state.counted) {
      e.route.concurrency += concurrency - before;
      this.#totalConcurrency += concurrency - before;
    }
    return delta;
  }

  /** Concurrency of one route summed over the counted pods (0 when unknown). */
  concurrency(key: string): number {
    return this.#routes.get(key)?.concurrency ?? 0;
  }

  /** Concurrency summed over every route and pod: what the interceptors scale on. */
  totalConcurrency(): number {
    return this.#totalConcurrency;
  }

  /** Every route key some listed pod reported. */
  keys(): IterableIterator<string> {
    return this.#routes.keys();
  }

  get podCount(): number {
    return this.#pods.size;
  }
}
