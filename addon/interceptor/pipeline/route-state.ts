// What a request touches per route, prepared on the route's first request and kept on the compiled
// route itself (Route.proxyState): with thousands of routes, finding it by key in maps misses the
// CPU cache on every lookup. A route object lives as long as its table, and a table swap is also
// the only time the queue adds or removes keys, so the counter held here is always the key's live
// one. The resolved targets are re-resolved when a Service changes (the resolver's generation).
import type { ResolvedTarget } from '../endpoints/targets.ts';
import type { RouteSeries } from '../metrics.ts';
import { requestTimeoutMs, responseHeaderTimeoutMs } from '../proxy/timeouts.ts';
import type { Counter } from '../queue/queue.ts';
import type { Route } from '../routing/route.ts';
import type { PipelineDeps } from './deps.ts';

export interface RouteState {
  count: Counter | undefined;
  series: RouteSeries;
  /** Logs the error behind a 502/504 (one function per route, not a closure per request). */
  onUpstreamError: (err: Error, status: 502 | 504) => void;
  requestMs: number;
  responseHeaderMs: number;
  targetGeneration: number;
  http: ResolvedTarget | undefined;
  https: ResolvedTarget | undefined;
}

export function routeState(d: PipelineDeps, route: Route): RouteState {
  let state = route.proxyState as RouteState | undefined;
  if (state === undefined) {
    const count = d.queue.counter(route.key);
    d.metrics.trackConcurrency(route.key, route.namespace, route.name, count);
    route.proxyState = state = {
      count,
      series: d.metrics.routeSeries(route.key),
      // A 502/504 says why in the log; upstream's ReverseProxy logs the same.
      onUpstreamError: (err, status) =>
        d.log.warn('upstream request failed', {
          route: route.key,
          status,
          error: err.message,
          code: (err as { code?: unknown }).code,
        }),
      requestMs: requestTimeoutMs(route, d.config),
      responseHeaderMs: responseHeaderTimeoutMs(route, d.config),
      targetGeneration: -1,
      http: undefined,
      https: undefined,
    };
  }
  return state;
}

/** The route's target for a listener's scheme; throws TargetResolutionError as resolve() does. */
export function routeTarget(
  d: PipelineDeps,
  route: Route,
  state: RouteState,
  scheme: 'http' | 'https',
): ResolvedTarget {
  const targets = d.targets;
  if (state.targetGeneration !== targets.generation) {
    state.http = state.https = undefined;
    state.targetGeneration = targets.generation;
  }
  if (scheme === 'http') return (state.http ??= targets.resolve(route.namespace, route.target, 'http'));
  return (state.https ??= targets.resolve(route.namespace, route.target, 'https'));
}
