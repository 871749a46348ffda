// Step 2: the route table picks the route from the host, the decoded path and the headers; no
// route is 404. The host is `:authority` for HTTP/2 (RFC 9113 §8.3.1: a Host header there never
// overrides it) and Host for HTTP/1.x; a `:port` is ignored by the table. A request target in
// absolute form (`GET http://a.test/x`, as sent to a proxy) routes by its own authority, which is
// also the Host the backend gets, and goes on in origin form (`/x`): RFC 9112 §3.2.2, and what
// Go's server does with such a request.
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

/**
 * Rewrites an absolute-form target to origin form and returns its authority; undefined (and a 400
 * written) when the target is neither.
 */
function fromAbsoluteForm(x: Exchange, target: string): string | undefined {
  let url: URL | undefined;
  try {
    url = new URL(target);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
    writeError(x.res, 400, { connection: 'close' }, '400 Bad Request: malformed request target');
    return undefined;
  }
  x.req.url = `${url.pathname}${url.search}`;
  return url.host;
}

/** True when a route was found (x.route); otherwise the request has been answered (404, 400). */
export function routeRequest(d: PipelineDeps, x: Exchange): boolean {
  const target = x.req.url ?? '/';
  if (target.charCodeAt(0) === 47 /* '/' */) {
    x.host = requestHost(x);
  } else {
    const authority = fromAbsoluteForm(x, target);
    if (authority === undefined) return false;
    x.host = authority;
  }
  x.path = requestPath(x.req.url ?? '/');
  const route = d.table.current?.lookup(x.host, x.path, x.headers);
  if (route === undefined) {
    writeError(x.res, 404);
    return false;
  }
  x.route = route;
  return true;
}
