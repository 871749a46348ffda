// Step 6: a route with a placeholder answers at once while its target has no ready endpoint,
// instead of holding the request (and so wins over a fallback). Counted all the same.
import type { ResolvedTarget } from '../endpoints/targets.ts';
import type { Route } from '../routing/route.ts';
import type { PipelineDeps } from './deps.ts';
import type { Exchange } from './exchange.ts';

/** True when the placeholder answered. */
export function servePlaceholder(d: PipelineDeps, x: Exchange): boolean {
  const route = x.route as Route;
  const placeholder = route.placeholder;
  if (placeholder === undefined) return false;
  if (d.ready.hasReadyEndpoints((x.target as ResolvedTarget).serviceKey)) return false;
  if (placeholder.negotiate || d.config.placeholderNegotiate)
    d.statics.writeNegotiated(
      x.req,
      x.res,
      route.namespace,
      placeholder,
      route.key,
      d.config.retryAfterSeconds,
    );
  else d.statics.write(x.res, route.namespace, placeholder, x.path);
  return true;
}
