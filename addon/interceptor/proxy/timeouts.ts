// Upstream's timeout precedence (request deadline, readiness, response headers), as pure functions
// so the rules are tested on their own: a field set on the route (even "0s") beats the env
// default; 0 disables.
import type { InterceptorConfig } from '../config.ts';
import type { Route } from '../routing/route.ts';

type Globals = Pick<InterceptorConfig, 'requestTimeoutMs' | 'readinessTimeoutMs' | 'responseHeaderTimeoutMs'>;

/** With a fallback and no readiness bound, upstream waits 30s before using the fallback. */
export const fallbackReadinessMs = 30_000;

export function requestTimeoutMs(route: Route, g: Globals): number {
  return route.timeouts.requestMs ?? g.requestTimeoutMs;
}

export function readinessTimeoutMs(route: Route, g: Globals): number {
  const ms = route.timeouts.readinessMs ?? g.readinessTimeoutMs;
  return route.fallback && ms === 0 ? fallbackReadinessMs : ms;
}

export function responseHeaderTimeoutMs(route: Route, g: Globals): number {
  return route.timeouts.responseHeaderMs ?? g.responseHeaderTimeoutMs;
}
