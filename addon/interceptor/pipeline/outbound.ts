// What every request to a backend is made of, forwarded or tunnelled alike: the origin to dial
// (direct-pod routing rotates through ready endpoints on refused-connection retries), the headers
// to send, and the cold-start header for the answer.
import type { ResolvedTarget } from '../endpoints/targets.ts';
import { outboundHeaders } from '../proxy/headers.ts';
import type { PipelineDeps } from './deps.ts';
import type { Exchange } from './exchange.ts';

export function coldStartHeader(d: PipelineDeps, coldStart: boolean): 'true' | 'false' | undefined {
  return d.config.enableColdStartHeader ? (coldStart ? 'true' : 'false') : undefined;
}

/** The request's headers as they go to the backend (X-Forwarded-*, hop-by-hop removed). */
export function prepareHeaders(x: Exchange): string[] {
  return (x.outboundHeaders ??= outboundHeaders(x.req.rawHeaders, {
    clientIp: x.clientIp,
    proto: x.scheme,
    upgrade: x.upgrade !== undefined,
    host: x.host,
  }));
}

function hostOrigin(scheme: string, host: string, port: number): string {
  return host.includes(':') ? `${scheme}://[${host}]:${port}` : `${scheme}://${host}:${port}`;
}

/**
 * The origin for attempt n (0-based). Direct: a random ready pod first, then the next ones on
 * retries, the Service address if none is known; otherwise always the Service address.
 */
export function originPicker(
  d: PipelineDeps,
  x: Exchange,
  target: ResolvedTarget,
  direct: boolean,
): (attempt: number) => string {
  const origin = target.origin;
  if (!direct) return () => origin;
  const scheme = x.scheme;
  const seed = Math.floor(Math.random() * 1024);
  return (attempt) => {
    const c = d.ready.candidates(target.serviceKey, target.portName);
    const e = c.length === 0 ? undefined : c[(seed + attempt) % c.length];
    if (e === undefined) return origin;
    return scheme === 'http' ? e.httpOrigin : hostOrigin(scheme, e.host, e.port);
  };
}
