// Step 8 for a request: hands it to the forwarder (proxy/forward.ts), which streams it to the
// backend and the answer back, retries a refused connection, and maps failures to 502/504.
import type { ResolvedTarget } from '../endpoints/targets.ts';
import type { PipelineDeps } from './deps.ts';
import { originPicker, prepareHeaders } from './outbound.ts';
import type { Exchange } from './exchange.ts';
import type { RouteState } from './route-state.ts';

export function forwardRequest(
  d: PipelineDeps,
  x: Exchange,
  target: ResolvedTarget,
  direct: boolean,
  h2c: boolean,
  coldStart: 'true' | 'false' | undefined,
): void {
  const state = x.state as RouteState;
  d.forwarder.forward(x.req, x.res, {
    origin: originPicker(d, x, target, direct),
    h2c,
    serverName: x.scheme === 'https' ? target.serverName : undefined,
    headers: prepareHeaders(x),
    responseHeaderMs: state.responseHeaderMs,
    signal: x.signal,
    retryUntil: x.retryUntil,
    coldStartHeader: coldStart,
    onUpstreamError: x.trace === undefined ? state.onUpstreamError : tracedUpstreamError(x, state),
    body: x.body?.forwardable(),
  });
}

/** The route's error report, and the error on the request's client span. */
function tracedUpstreamError(x: Exchange, state: RouteState): (err: Error, status: 502 | 504) => void {
  return (err, status) => {
    if (x.trace !== undefined) x.trace.upstreamError = err;
    state.onUpstreamError(err, status);
  };
}
