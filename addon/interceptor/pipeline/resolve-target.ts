// Step 3: the route's Service port becomes an origin (and so does the fallback's); a port name the
// Service lacks is 500, as upstream. The request deadline starts here: from now on it bounds
// everything, the cold-start wait, connecting, and the backend's answer.
import { TargetResolutionError } from '../endpoints/targets.ts';
import { DeadlineExceeded } from '../proxy/forward.ts';
import { writeError } from '../proxy/responses.ts';
import type { Route } from '../routing/route.ts';
import type { PipelineDeps } from './deps.ts';
import type { Exchange } from './exchange.ts';
import { routeState, routeTarget } from './route-state.ts';

function expire(deadline: AbortController): void {
  deadline.abort(new DeadlineExceeded());
}

/** True when x.target (and x.fallback) are set; otherwise the request has been answered 500. */
export function resolveTarget(d: PipelineDeps, x: Exchange): boolean {
  const route = x.route as Route;
  const state = (x.state = routeState(d, route));
  try {
    x.target = routeTarget(d, route, state, x.scheme);
    if (route.fallback) x.fallback = d.targets.resolve(route.namespace, route.fallback, x.scheme);
  } catch (err) {
    if (!(err instanceof TargetResolutionError)) throw err;
    d.log.error('cannot resolve the route target', { route: route.key, error: err.message });
    writeError(x.res, 500, undefined, 'Internal Server Error\n');
    return false;
  }
  // Request deadline: the route field (an explicit 0 included) beats the env default.
  const ms = state.requestMs;
  if (ms > 0) {
    const deadline = (x.deadline = new AbortController());
    x.deadlineTimer = setTimeout(expire, ms, deadline);
    x.retryUntil = x.start + ms;
  }
  return true;
}
