// When a request that failed on a backend connection may be sent again (see
// docs/decisions/interceptor-backend-connections.md). A keep-alive connection the backend closed
// while it sat idle fails the next request sent on it; whether it was closed a millisecond before
// or after the request left cannot be told. Like Go's transport, such a request is sent again on
// a new connection when that cannot do harm: nothing of it reached the backend, or it is
// idempotent (RFC 9110 section 9.2.2, or marked with an Idempotency-Key header). Only requests
// without a body are sent again: a body is streamed from the client as it arrives and cannot be
// sent twice, so a request whose body went out is never replayed.

/** What the engine knows about the connection a request failed on. */
export interface ConnectionFailure {
  /** The connection had carried an earlier exchange (it came from the idle pool). */
  reused: boolean;
  /** Some byte of the request may have reached the socket (false only when known not to). */
  written: boolean;
}

const failureKey = Symbol('keda.connectionFailure');

/** Attaches the connection's facts to the error the handler is given. */
export function markConnectionFailure(err: Error, facts: ConnectionFailure): Error {
  (err as { [failureKey]?: ConnectionFailure })[failureKey] ??= facts;
  return err;
}

/**
 * The connection facts of an error: those an engine attached, else those undici records on its
 * SocketError (bytes read on the socket before it failed mean an earlier response: reused).
 */
export function connectionFailure(err: Error): ConnectionFailure | undefined {
  const marked = (err as { [failureKey]?: ConnectionFailure })[failureKey];
  if (marked) return marked;
  const info = (err as { code?: unknown; socket?: { bytesRead?: unknown } | null }).socket;
  if ((err as { code?: unknown }).code === 'UND_ERR_SOCKET' && typeof info?.bytesRead === 'number')
    return { reused: info.bytesRead > 0, written: true };
  return undefined;
}

/** Errors of a connection that was closed or reset under a request. */
const connectionLostCodes = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

// RFC 9110 section 9.2.2.
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Idempotent by method, or marked so by the client as Go's transport honours. `headers` is name/value pairs. */
export function isIdempotent(method: string, headers: readonly string[]): boolean {
  if (idempotentMethods.has(method)) return true;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.length !== 15 && name.length !== 17) continue;
    const lower = name.toLowerCase();
    if (lower === 'idempotency-key' || lower === 'x-idempotency-key') return true;
  }
  return false;
}

/**
 * Whether a request that failed with `err` before any byte of a response may be sent again on a
 * new connection. `hasBody`: the request carries a body (handed to the engine as a stream, which
 * cannot be sent twice); `idempotent`: isIdempotent of the request.
 */
export function mayReplay(err: Error, idempotent: boolean, hasBody: boolean): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !connectionLostCodes.has(code) || hasBody) return false;
  const facts = connectionFailure(err);
  // A fresh connection that fails is the backend's answer, not a stale connection: not replayed.
  if (facts === undefined || !facts.reused) return false;
  return !facts.written || idempotent;
}
