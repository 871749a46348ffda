// Header rewriting between client and backend, as Go's ReverseProxy does it: hop-by-hop headers
// dropped both ways, Host kept, X-Forwarded-For appended, X-Forwarded-Host and X-Forwarded-Proto
// set unless the client already sent them. One pass over the raw headers.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** Go's hopHeaders list, lower-cased. "te: trailers" is put back (gRPC needs it). */
const hopByHop = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export interface OutboundContext {
  clientIp: string;
  proto: 'http' | 'https';
  /** True for WebSocket upgrades: Connection/Upgrade must reach the backend. */
  upgrade?: boolean;
  /** The Host to send, when the caller has already decided it (the host the request was routed by). */
  host?: string;
}

function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== 'connection') continue;
    for (const t of (raw[i + 1] as string).split(',')) {
      const v = t.trim().toLowerCase();
      if (v !== '') (tokens ??= new Set()).add(v);
    }
  }
  return tokens;
}

/**
 * Headers a Connection token never removes: what Go keeps outside its header map (the Host, and the
 * body's length, which frames it), so no client can send a request without them to the backend.
 */
const neverHopByHop = new Set(['host', 'content-length']);

/**
 * Builds the backend request's headers (a flat [name, value, ...] list, undici's cheapest form)
 * from the client's raw headers. HTTP/2 pseudo-headers are dropped; `:authority` becomes Host,
 * and wins over a Host header sent with it (RFC 9113 §8.3.1).
 */
export function outboundHeaders(raw: readonly string[], ctx: OutboundContext): string[] {
  const out: string[] = [];
  const listed = connectionTokens(raw);
  let host: string | undefined;
  let authority: string | undefined;
  let xff: string | undefined;
  let hasXfHost = false;
  let hasXfProto = false;
  let teTrailers = false;
  let upgradeValue: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ':authority') authority = value;
      continue;
    }
    const lower = name.toLowerCase();
    if (hopByHop.has(lower)) {
      if (lower === 'te' && /(^|,)\s*trailers\s*(,|$)/i.test(value)) teTrailers = true;
      if (lower === 'upgrade') upgradeValue = value;
      continue;
    }
    if (listed?.has(lower) && !neverHopByHop.has(lower)) continue;
    switch (lower) {
      case 'host':
        host = value;
        continue;
      case 'x-forwarded-for':
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      case 'x-forwarded-host':
        hasXfHost = true;
        break;
      case 'x-forwarded-proto':
        hasXfProto = true;
        break;
      case 'expect':
        // Node's server already answered "100 Continue"; the backend must not wait for another.
        continue;
    }
    out.push(name, value);
  }
  const h = ctx.host ?? authority ?? host ?? '';
  out.push('host', h);
  if (ctx.clientIp !== '')
    out.push('x-forwarded-for', xff === undefined ? ctx.clientIp : `${xff}, ${ctx.clientIp}`);
  else if (xff !== undefined) out.push('x-forwarded-for', xff);
  if (!hasXfHost) out.push('x-forwarded-host', h);
  if (!hasXfProto) out.push('x-forwarded-proto', ctx.proto);
  if (teTrailers) out.push('te', 'trailers');
  if (ctx.upgrade && upgradeValue !== undefined) out.push('connection', 'Upgrade', 'upgrade', upgradeValue);
  return out;
}

/**
 * The backend's response headers minus hop-by-hop ones (and those its Connection header names).
 * `Trailer` is kept: it announces trailers that are forwarded at the end of the body.
 */
export function inboundResponseHeaders(
  headers: IncomingHttpHeaders | Record<string, string | string[]>,
): OutgoingHttpHeaders {
  const conn = headers['connection'];
  const listed =
    conn === undefined
      ? undefined
      : new Set(
          (Array.isArray(conn) ? conn.join(',') : conn)
            .split(',')
            .map((s) => s.trim().toLowerCase())
            .filter((s) => s !== ''),
        );
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (name !== 'trailer' && hopByHop.has(name)) continue;
    if (listed?.has(name) || name.charCodeAt(0) === 58) continue;
    out[name] = headers[name];
  }
  return out;
}
