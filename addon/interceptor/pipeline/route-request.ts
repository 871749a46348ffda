// Step 2: the route table picks the route from the host, the decoded path and the headers; no
// route is 404. The host is `:authority` for HTTP/2 (RFC 9113 §8.3.1: a Host header there never
// overrides it) and Host for HTTP/1.x; a `:port` is ignored by the table.
import { writeError } from '../proxy/responses.ts';
import type { PipelineDeps } from './deps.ts';
import type { Exchange } from './exchange.ts';

/** The path the routes match: without the query, percent-decoded (as Go's URL.Path). */
export function requestPath(url: string): string {
  const q = url.indexOf('?');
  const raw = q === -1 ? url : url.slice(0, q);
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function requestHost(x: Exchange): string {
  const h = x.req.headers;
  if (x.req.httpVersionMajor === 2) return (h[':authority'] as string | undefined) ?? h.host ?? '';
  return h.host ?? '';
}

/** True when a route was found (x.route); otherwise the request has been answered 404. */
export function routeRequest(d: PipelineDeps, x: Exchange): boolean {
  x.host = requestHost(x);
  x.path = requestPath(x.req.url ?? '/');
  const route = d.table.current?.lookup(x.host, x.path, x.headers);
  if (route === undefined) {
    writeError(x.res, 404);
    return false;
  }
  x.route = route;
  return true;
}
