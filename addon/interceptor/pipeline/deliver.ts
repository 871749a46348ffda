// Step 8, the last one, and the only one where requests and Upgrades differ: a request is
// forwarded (proxy/forward.ts), an Upgrade tunnelled (tunnel.ts). Both dial the same origins, send
// the same headers and trust the same backend certificates (outbound.ts).
import type { ResolvedTarget } from '../endpoints/targets.ts';
import type { PipelineDeps } from './deps.ts';
import type { Exchange } from './exchange.ts';
import { forwardRequest } from './forward-request.ts';
import { prepareHeaders } from './outbound.ts';
import { tunnelUpgrade } from './tunnel.ts';

/**
 * `direct`: dial ready pods rather than the Service; `h2c`: the protocol to the backend;
 * `coldStart`: the X-KEDA-HTTP-Cold-Start value for the response, if any.
 */
export function deliver(
  d: PipelineDeps,
  x: Exchange,
  target: ResolvedTarget,
  direct: boolean,
  h2c: boolean,
  coldStart: 'true' | 'false' | undefined,
): void {
  x.trace?.startClient(x, target, coldStart, prepareHeaders(x));
  if (x.upgrade !== undefined) tunnelUpgrade(d, x, target, direct, coldStart);
  else forwardRequest(d, x, target, direct, h2c, coldStart);
}
