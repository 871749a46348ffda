// Step 4: staticRoutes. A matching one answers from its static response (always, or while the
// target has no ready endpoint); WhenUnavailable with a ready target goes straight to the backend,
// skipping counting, the placeholder, the cold-start wait and its header, as upstream's
// StaticRouting does.
import type { ResolvedTarget } from '../endpoints/targets.ts';
import type { Route } from '../routing/route.ts';
import { findStaticRoute } from '../routing/static-match.ts';
import { deliver } from './deliver.ts';
import type { PipelineDeps } from './deps.ts';
import type { Exchange } from './exchange.ts';

/** True when a static route took the request (answered or forwarded). */
export function serveStaticRoute(d: PipelineDeps, x: Exchange): boolean {
  const route = x.route as Route;
  if (route.staticRoutes.length === 0) return false;
  const s = findStaticRoute(route.staticRoutes, x.host, x.path, x.headers);
  if (s === undefined) return false;
  const target = x.target as ResolvedTarget;
  if (s.always || !d.ready.hasReadyEndpoints(target.serviceKey))
    d.statics.write(x.res, route.namespace, s.response, x.path);
  else deliver(d, x, target, d.fileMode, target.h2c, undefined);
  return true;
}
