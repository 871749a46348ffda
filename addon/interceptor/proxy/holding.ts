// Bounded holding (beyond upstream): how many requests may wait for a cold start, per route and in
// total. Over a limit the request is answered at once (503 + Retry-After) instead of being held, so
// a burst against one cold app cannot exhaust the interceptor's memory for every other route.

import type { HoldSeries, InterceptorMetrics, WaitOutcome } from '../metrics.ts';
import type { Route } from '../routing/route.ts';

export type HoldRefusal = 'route' | 'global';

/** The body of the 503 that answers a request over a limit (HTTP and WebSocket upgrades alike). */
export function holdRefusalMessage(routeKey: string, refused: HoldRefusal): string {
  return `too many requests waiting for ${routeKey} to start (${refused} limit reached); retry later\n`;
}

export class HoldLimits {
  readonly #perRouteDefault: number;
  readonly #total: number;
  readonly #byRoute = new Map<string, number>();
  #held = 0;

  /** 0 means unlimited for either limit. */
  constructor(perRouteDefault: number, total: number) {
    this.#perRouteDefault = perRouteDefault;
    this.#total = total;
  }

  get held(): number {
    return this.#held;
  }

  heldFor(routeKey: string): number {
    return this.#byRoute.get(routeKey) ?? 0;
  }

  /** Takes a slot, or says which limit is full. `routeLimit` undefined = the env default. */
  acquire(routeKey: string, routeLimit: number | undefined): HoldRefusal | undefined {
    const limit = routeLimit ?? this.#perRouteDefault;
    const current = this.#byRoute.get(routeKey) ?? 0;
    if (limit > 0 && current >= limit) return 'route';
    if (this.#total > 0 && this.#held >= this.#total) return 'global';
    this.#byRoute.set(routeKey, current + 1);
    this.#held++;
    return undefined;
  }

  release(routeKey: string): void {
    const current = this.#byRoute.get(routeKey) ?? 0;
    if (current <= 1) this.#byRoute.delete(routeKey);
    else this.#byRoute.set(routeKey, current - 1);
    if (this.#held > 0) this.#held--;
  }
}

/** A held request's slot, from the start of its cold-start wait to its end. */
export class HeldSlot {
  readonly #holds: HoldLimits;
  readonly #routeKey: string;
  readonly #series: HoldSeries;
  readonly #since = performance.now();

  constructor(holds: HoldLimits, routeKey: string, series: HoldSeries) {
    this.#holds = holds;
    this.#routeKey = routeKey;
    this.#series = series;
  }

  /** Frees the slot (the pending gauge reads the hold counts) and records how long and how the wait ended. */
  end(outcome: WaitOutcome): void {
    this.#holds.release(this.#routeKey);
    this.#series.observeWait(outcome, (performance.now() - this.#since) / 1000);
  }
}

/**
 * Takes a hold slot for a request (or WebSocket upgrade) on a cold route, or says which limit
 * refused it; a refusal is counted in interceptor_pending_rejected_total, and the caller answers
 * 503 with holdRefusalMessage.
 */
export function takeHoldSlot(
  holds: HoldLimits,
  metrics: InterceptorMetrics,
  route: Route,
): HeldSlot | HoldRefusal {
  const refused = holds.acquire(route.key, route.maxPendingRequests);
  if (refused !== undefined) {
    metrics.rejected.inc({ route_name: route.name, route_namespace: route.namespace, limit: refused });
    return refused;
  }
  return new HeldSlot(holds, route.key, metrics.holdSeries(route.key, route.namespace, route.name));
}
