// A lean HTTP/1.1 keep-alive client for the proxy's hot path: plain-http backends and requests
// without a body (see docs/decisions/interceptor-h1-client.md). It speaks to the handler through
// the same DispatchHandler interface as undici, and reproduces what undici's HTTP/1.1 client does
// on this path (request head bytes, keep-alive rules, idle-socket validation, error codes), at less
// than half its cost per request: one object per request, no per-request promise, queue, timer
// wheel or setImmediate, and Node's own llhttp binding (the one node:http uses) instead of a second
// parser in WebAssembly. Everything else (h2c, TLS, bodies, HEAD, unusual methods or paths) stays
// on undici; if the binding is switched off or not as expected (internals/http-parser.ts),
// everything does.
import net from 'node:net';
import type { Dispatcher } from 'undici';
import type { HttpParserClass, NodeHttpParser } from '../internals/http-parser.ts';
import { markConnectionFailure } from './replay.ts';

// The error shapes undici gives the handler (the forwarder maps codes to 502/504 and retries).
class ClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, name: string) {
    super(message);
    this.code = code;
    this.name = name;
  }
}
const socketError = (message: string): ClientError =>
  new ClientError('UND_ERR_SOCKET', message, 'SocketError');

/** Request methods this client takes; undici's rule decides when a bodyless request says "content-length: 0". */
const methods: Record<string, { expectsPayload: boolean }> = {
  GET: { expectsPayload: false },
  DELETE: { expectsPayload: false },
  OPTIONS: { expectsPayload: false },
  POST: { expectsPayload: true },
  PUT: { expectsPayload: true },
  PATCH: { expectsPayload: true },
};
// undici's Request rejects these paths; such requests go to undici so the answer stays the same.
const invalidPath = /[^\u0021-\u00ff]/;

export interface H1ClientOptions {
  connectTimeoutMs: number;
  /** Connections per origin; 0 = unlimited. */
  maxConnsPerHost: number;
  /** Idle keep-alive lifetime when the backend sends no Keep-Alive hint (and the cap on one). */
  keepAliveMs: number;
  /** node:http's parser binding, from the runtime-internals layer. */
  parser: HttpParserClass;
}

/** A bodyless plain-http request this client can carry: a method and path undici would accept as they are. */
export function h1Eligible(method: string, path: string): boolean {
  return methods[method] !== undefined && path.charCodeAt(0) === 47 /* '/' */ && !invalidPath.test(path);
}

/**
 * The request head as undici writes it: request line, host, connection: keep-alive, the other
 * headers in order, then content-length: 0 for payload methods. Undefined when the headers hold
 * something undici would refuse (then undici takes the request and refuses it the same way).
 */
function requestHead(method: string, path: string, headers: readonly string[]): string | undefined {
  let host: string | undefined;
  let rest = '';
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    const value = headers[i + 1] as string;
    const lower = name.length === 4 || name.length === 14 ? name.toLowerCase() : '';
    if (lower === 'host') {
      if (host !== undefined) return undefined;
      host = value;
    } else if (lower === 'content-length') {
      // undici drops it for bodyless requests (and writes its own below); a duplicate it refuses.
      return undefined;
    } else {
      rest += `${name}: ${value}\r\n`;
    }
  }
  if (host === undefined) return undefined;
  const length = (methods[method] as { expectsPayload: boolean }).expectsPayload
    ? 'content-length: 0\r\n'
    : '';
  return `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: keep-alive\r\n${rest}${length}\r\n`;
}

/** undici's parseHeaders: lower-case names, repeated names collected into arrays, latin1 values. */
function headersObject(raw: readonly string[]): Record<string, string | string[]> {
  const obj: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const key = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const prev = Object.hasOwn(obj, key) ? obj[key] : undefined;
    if (prev === undefined) {
      if (key === '__proto__')
        Object.defineProperty(obj, key, { value, enumerable: true, configurable: true, writable: true });
      else obj[key] = value;
    } else if (typeof prev === 'string') obj[key] = [prev, value];
    else prev.push(value);
  }
  return obj;
}

/** Most responses have no trailers: one shared empty object (handlers only read it). */
const noTrailers: Record<string, string | string[]> = Object.freeze({}) as Record<string, string | string[]>;

/** One forwarded request; it is also the handler's controller (pause, resume, abort). */
class H1Request implements Dispatcher.DispatchController {
  readonly handler: Dispatcher.DispatchHandler;
  readonly head: string;
  readonly headersTimeoutMs: number;
  /** Must go out on a new connection: it is sent again after a kept-alive one failed under it. */
  readonly fresh: boolean;
  conn: Conn | undefined;
  pool: Pool | undefined;
  #aborted = false;
  /** Ended or failed: the handler has heard the last of it. */
  #finished = false;
  #paused = false;
  #reason: Error | null = null;

  constructor(handler: Dispatcher.DispatchHandler, head: string, headersTimeoutMs: number, fresh: boolean) {
    this.handler = handler;
    this.head = head;
    this.headersTimeoutMs = headersTimeoutMs;
    this.fresh = fresh;
  }

  get aborted(): boolean {
    return this.#aborted;
  }
  get paused(): boolean {
    return this.#paused;
  }
  get reason(): Error | null {
    return this.#reason;
  }

  pause(): void {
    this.#paused = true;
    if (this.conn?.req === this) this.conn.socket.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.conn?.req === this) this.conn.socket.resume();
  }

  /** As undici: the handler hears onResponseError(reason); a connection in use is destroyed. */
  abort(reason: Error): void {
    if (this.#aborted || this.#finished) return;
    this.#aborted = true;
    this.#reason = reason;
    const conn = this.conn;
    if (conn?.req === this) conn.abandon();
    else this.pool?.unqueue(this);
    this.fail(reason);
  }

  /** Calls the handler; a throwing handler aborts the request, as undici does. */
  call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.abort(err as Error);
    }
  }

  end(trailers: Record<string, string | string[]>): void {
    this.conn = undefined;
    this.pool = undefined;
    this.#finished = true;
    try {
      this.handler.onResponseEnd?.(this, trailers);
    } catch (err) {
      this.handler.onResponseError?.(this, err as Error);
    }
  }

  fail(err: Error): void {
    this.conn = undefined;
    this.pool = undefined;
    if (this.#finished) return;
    this.#finished = true;
    try {
      this.handler.onResponseError?.(this, err);
    } catch {
      /* the handler is done with this request either way */
    }
  }
}

/** One backend connection with its parser. */
class Conn {
  readonly socket: net.Socket;
  readonly #pool: Pool;
  readonly #parser: NodeHttpParser;
  req: H1Request | undefined;
  idleSince = 0;
  keepAliveMs: number;
  #status = 0;
  #reusable = false;
  #pendingHeaders: string[] = [];
  /** The response-header timer, re-armed per request (refresh) rather than created per request. */
  #timer: NodeJS.Timeout | undefined;
  #timerMs = 0;
  #connectTimer: NodeJS.Timeout | undefined;
  #error: Error | undefined;
  #closed = false;
  /** Responses completed on this connection: more than 0 means a request on it is on a reused one. */
  #served = 0;
  /** A byte of a response arrived for the request in flight. */
  #responseBytes = false;
  /** Writing the request head failed: none of it left. */
  #writeFailed = false;

  constructor(pool: Pool, first: H1Request) {
    const P = pool.opts.parser;
    this.#pool = pool;
    this.keepAliveMs = pool.opts.keepAliveMs;
    this.req = first;
    const parser = (this.#parser = new P());
    // 0: node:http's default limit (16 KiB), the one undici uses; strict parsing, as undici.
    parser.initialize(P.RESPONSE, {}, 0, 0);
    parser[P.kOnMessageBegin] = this.#onMessageBegin;
    parser[P.kOnHeaders] = this.#onHeaders;
    parser[P.kOnHeadersComplete] = this.#onHeadersComplete;
    parser[P.kOnBody] = this.#onBody;
    parser[P.kOnMessageComplete] = this.#onMessageComplete;
    // undici's connector options: 64 KiB stream buffers, no Nagle.
    const socket = (this.socket = net.connect({
      host: pool.host,
      port: pool.port,
      noDelay: true,
      highWaterMark: 64 * 1024, // a stream option net.Socket passes on; not in NetConnectOpts' type
    } as net.NetConnectOpts));
    // undici's connector: TCP keep-alive probes after 60 s idle.
    socket.setKeepAlive(true, 60_000);
    const ms = pool.opts.connectTimeoutMs;
    if (ms > 0) {
      this.#connectTimer = setTimeout(() => {
        socket.destroy(
          new ClientError(
            'UND_ERR_CONNECT_TIMEOUT',
            `Connect Timeout Error (attempted address: ${pool.host}:${pool.port}, timeout: ${ms}ms)`,
            'ConnectTimeoutError',
          ),
        );
      }, ms);
    }
    socket.once('connect', () => {
      clearTimeout(this.#connectTimer);
      const r = this.req;
      if (r) this.send(r);
    });
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.once('close', this.#onClose);
  }

  send(r: H1Request): void {
    this.req = r;
    r.conn = this;
    this.#status = 0;
    this.#responseBytes = false;
    this.#writeFailed = false;
    if (r.paused) this.socket.pause();
    this.socket.write(r.head, 'latin1', this.#onHeadWritten);
    const ms = r.headersTimeoutMs;
    if (ms === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    } else {
      if (this.#timer !== undefined && this.#timerMs === ms) this.#timer.refresh();
      else {
        clearTimeout(this.#timer);
        this.#timerMs = ms;
        // Unref'd: the socket keeps the process alive while a request waits; an idle one should not.
        this.#timer = setTimeout(this.#onHeadersTimeout, ms).unref();
      }
    }
  }

  readonly #onHeadWritten = (err: Error | null | undefined): void => {
    if (err) this.#writeFailed = true;
  };

  /** The request was aborted: this connection is mid-exchange and cannot be reused. */
  abandon(): void {
    this.req = undefined;
    this.socket.destroy();
  }

  readonly #onHeadersTimeout = (): void => {
    if (this.req && this.#status === 0)
      this.socket.destroy(
        new ClientError('UND_ERR_HEADERS_TIMEOUT', 'Headers Timeout Error', 'HeadersTimeoutError'),
      );
  };

  readonly #onData = (chunk: Buffer): void => {
    if (this.req === undefined) {
      // Bytes nobody asked for (idle, or after a response): the connection is out of step; drop it.
      this.socket.destroy();
      return;
    }
    this.#responseBytes = true;
    const ret = this.#parser.execute(chunk);
    if (ret instanceof Error && !this.socket.destroyed) this.socket.destroy(ret);
  };

  readonly #onEnd = (): void => {
    // A body delimited by the end of the connection ends here; anything else is cut short.
    if (this.req && this.#status >= 200 && !this.#reusable) {
      const err = this.#parser.finish();
      if (err) this.socket.destroy(err);
      else if (this.req) this.socket.destroy(socketError('other side closed'));
      return;
    }
    this.socket.destroy(this.req ? socketError('other side closed') : undefined);
  };

  readonly #onError = (err: Error): void => {
    // A reset after a close-delimited body that is complete is the end of that body.
    if (
      (err as { code?: string }).code === 'ECONNRESET' &&
      this.req &&
      this.#status >= 200 &&
      !this.#reusable
    ) {
      const perr = this.#parser.finish();
      if (perr) this.#error = perr;
      return;
    }
    this.#error ??= err;
  };

  readonly #onClose = (): void => {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#connectTimer);
    this.#pool.removed(this);
    this.#parser.remove();
    // The parser's own stack must have unwound before its C++ object goes (as node:http does).
    const parser = this.#parser;
    setImmediate(() => parser.close());
    const r = this.req;
    this.req = undefined;
    if (r === undefined) return;
    const err = this.#error ?? socketError('closed');
    // Failed before any byte of its response: the forwarder decides whether it may go out again
    // (proxy/replay.ts), which depends on whether this connection had served before.
    if (!this.#responseBytes)
      markConnectionFailure(err, { reused: this.#served > 0, written: !this.#writeFailed });
    r.fail(err);
  };

  readonly #onMessageBegin = (): void => {
    // A response while no request is outstanding (after the last one, even within its chunk): the
    // connection is out of step. undici refuses these too.
    if (this.req === undefined && !this.socket.destroyed) this.socket.destroy();
  };

  readonly #onHeaders = (headers: string[]): void => {
    // More than 32 header lines arrive in batches before the head completes; trailers arrive here too.
    for (const h of headers) this.#pendingHeaders.push(h);
  };

  readonly #onHeadersComplete = (
    _major: number,
    _minor: number,
    rawHeaders: string[] | undefined,
    _method: unknown,
    _url: unknown,
    statusCode: number,
    _statusMessage: unknown,
    upgrade: boolean,
    shouldKeepAlive: boolean,
  ): number => {
    const r = this.req;
    if (r === undefined || this.socket.destroyed) return 1;
    let raw = rawHeaders;
    if (raw === undefined) {
      raw = this.#pendingHeaders;
      this.#pendingHeaders = [];
    }
    // As undici: a 100 nobody asked for (Expect is never forwarded) or an upgrade nobody asked for is a broken backend.
    if (statusCode === 100 || upgrade) {
      this.socket.destroy(socketError(upgrade ? 'bad upgrade' : 'bad response'));
      return 1;
    }
    const headers = headersObject(raw);
    if (statusCode < 200) {
      this.#timer?.refresh();
      r.call(() => r.handler.onResponseStart?.(r, statusCode, headers, ''));
      return 1; // informational: no body, the real response follows
    }
    // The header timer stays armed (it checks #status when it fires) so the next request can refresh it.
    this.#status = statusCode;
    let reusable = shouldKeepAlive;
    // 204/304 never carry content; one that announces some may have sent it anyway: do not reuse.
    if (
      (statusCode === 204 || statusCode === 304) &&
      (Number(headers['content-length'] ?? 0) > 0 || headers['transfer-encoding'] !== undefined)
    )
      reusable = false;
    if (reusable) {
      // undici: a "Keep-Alive: timeout=N" hint, less a 2 s margin, capped by the configured lifetime.
      const hint = headers['keep-alive'];
      const m = hint === undefined ? null : /timeout=(\d+)/.exec(Array.isArray(hint) ? hint.join(',') : hint);
      if (m) {
        const ms = Math.min(Number(m[1]) * 1000 - 2000, this.#pool.opts.keepAliveMs);
        if (ms <= 0) reusable = false;
        else this.keepAliveMs = ms;
      } else this.keepAliveMs = this.#pool.opts.keepAliveMs;
    }
    this.#reusable = reusable;
    r.call(() => r.handler.onResponseStart?.(r, statusCode, headers, ''));
    return 0;
  };

  readonly #onBody = (chunk: Buffer): void => {
    const r = this.req;
    if (r === undefined || this.#status < 200) return;
    r.call(() => r.handler.onResponseData?.(r, chunk));
  };

  readonly #onMessageComplete = (): void => {
    const r = this.req;
    if (r === undefined) return;
    if (this.#status < 200) return; // the end of an informational response
    let trailers = noTrailers;
    if (this.#pendingHeaders.length > 0) {
      trailers = headersObject(this.#pendingHeaders);
      this.#pendingHeaders = [];
    }
    this.req = undefined;
    this.#served++;
    if (r.paused) this.socket.resume();
    r.end(trailers);
    if (this.#reusable && !this.#closed && !this.socket.destroyed) this.#pool.release(this);
    else this.socket.destroy();
  };
}

/** The connections to one origin. */
class Pool {
  readonly host: string;
  readonly port: number;
  readonly opts: H1ClientOptions;
  readonly #conns = new Set<Conn>();
  /** Idle and validated: usable now (last in, first out; the oldest first in line to be closed). */
  readonly #idle: Conn[] = [];
  /** Idle since this loop iteration: usable after the check phase (see release). */
  #validating: Conn[] = [];
  #immediate: NodeJS.Immediate | undefined;
  #queue: H1Request[] = [];
  #sweep: NodeJS.Timeout | undefined;
  /** Closed (client closing) or retired (the address left the endpoints): no connection is kept idle. */
  #closed = false;
  /** Told when the pool holds no connection and no request any more. */
  readonly #onEmpty: (pool: Pool) => void;

  constructor(host: string, port: number, opts: H1ClientOptions, onEmpty: (pool: Pool) => void) {
    this.host = host;
    this.port = port;
    this.opts = opts;
    this.#onEmpty = onEmpty;
  }

  /** Open connections (in use or idle). */
  get connections(): number {
    return this.#conns.size;
  }

  dispatch(r: H1Request): void {
    r.pool = this;
    if (!r.fresh) {
      const conn = this.#takeIdle();
      if (conn !== undefined) {
        conn.send(r);
        return;
      }
    }
    // Connections being validated are free in a moment: wait for them rather than open more.
    if ((r.fresh || this.#validating.length === 0) && this.#roomForOne()) {
      this.#conns.add(new Conn(this, r));
      return;
    }
    this.#queue.push(r);
    if (r.fresh) this.#makeRoom();
  }

  /**
   * The most recently used idle connection that is still within its keep-alive lifetime. One past
   * it is closed here rather than used: the backend may be closing it at this very moment (the
   * sweep only runs once a second).
   */
  #takeIdle(): Conn | undefined {
    let conn = this.#idle.pop();
    while (conn !== undefined && performance.now() - conn.idleSince >= conn.keepAliveMs) {
      conn.socket.destroy();
      conn = this.#idle.pop();
    }
    return conn;
  }

  #roomForOne(): boolean {
    const max = this.opts.maxConnsPerHost;
    return max === 0 || this.#conns.size < max;
  }

  /** A request needs a new connection and the cap is reached: close the oldest idle one for it. */
  #makeRoom(): void {
    const oldest = this.#idle.shift();
    if (oldest !== undefined) oldest.socket.destroy(); // its close frees the slot (removed)
  }

  unqueue(r: H1Request): void {
    const i = this.#queue.indexOf(r);
    if (i !== -1) this.#queue.splice(i, 1);
    this.#checkEmpty();
  }

  /**
   * A connection finished its response. Like undici, it is reused only after the event loop's
   * check phase, so that bytes or a FIN already waiting on it are seen first and it is dropped
   * instead of being handed the next request (GHSA-35p6-xmwp-9g52). One setImmediate per loop
   * iteration covers every connection released in it.
   */
  release(conn: Conn): void {
    if (this.#closed && this.#queue.length === 0) {
      conn.socket.destroy();
      return;
    }
    conn.idleSince = performance.now();
    this.#validating.push(conn);
    if (this.#immediate === undefined) this.#immediate = setImmediate(this.#validate);
  }

  readonly #validate = (): void => {
    this.#immediate = undefined;
    const batch = this.#validating;
    this.#validating = [];
    for (const c of batch) if (!c.socket.destroyed && c.req === undefined) this.#idle.push(c);
    this.#serveQueue();
    if (this.#closed) {
      for (const c of this.#idle) c.socket.destroy();
      return;
    }
    if (this.#idle.length > 0) this.#sweep ??= setInterval(this.#sweepIdle, 1000).unref();
  };

  #serveQueue(): void {
    while (this.#queue.length > 0) {
      const next = this.#queue[0] as H1Request;
      const conn = next.fresh ? undefined : this.#takeIdle();
      if (conn !== undefined) conn.send(this.#queue.shift() as H1Request);
      else if ((next.fresh || this.#validating.length === 0) && this.#roomForOne())
        this.#conns.add(new Conn(this, this.#queue.shift() as H1Request));
      else {
        if (next.fresh) this.#makeRoom();
        return;
      }
    }
  }

  /** Closes connections idle for longer than their keep-alive lifetime (checked again when one is taken). */
  readonly #sweepIdle = (): void => {
    const now = performance.now();
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const c = this.#idle[i] as Conn;
      if (now - c.idleSince >= c.keepAliveMs) c.socket.destroy();
    }
    if (this.#idle.length === 0 && this.#sweep !== undefined) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  };

  removed(conn: Conn): void {
    this.#conns.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    // A slot is free: a queued request may now open a connection.
    if (this.#queue.length > 0) this.#serveQueue();
    this.#checkEmpty();
  }

  #checkEmpty(): void {
    if (this.#conns.size === 0 && this.#queue.length === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
      this.#onEmpty(this);
    }
  }

  /** No more idle keeping: idle connections close now, busy ones when their response ends. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    for (const c of this.#idle) c.socket.destroy();
    for (const c of this.#validating) c.socket.destroy();
    this.#validating = [];
    this.#checkEmpty();
  }
}

export class H1Client {
  readonly #opts: H1ClientOptions;
  /**
   * Origin -> its pool. A pool leaves the map when its last connection closes (idle past its
   * lifetime, or closed by the backend) or when its address leaves the endpoints (retire), so
   * addresses of pods long gone hold no memory.
   */
  readonly #pools = new Map<string, Pool>();

  constructor(opts: H1ClientOptions) {
    this.#opts = opts;
  }

  /**
   * Sends a request that h1Eligible accepted. Returns false (nothing done) when its headers need
   * undici's handling; the caller then dispatches it there. `fresh`: on a new connection, never an
   * idle one (a request sent again after a kept-alive connection failed under it).
   */
  dispatch(
    origin: string,
    method: string,
    path: string,
    headers: readonly string[],
    headersTimeoutMs: number,
    handler: Dispatcher.DispatchHandler,
    fresh = false,
  ): boolean {
    const head = requestHead(method, path, headers);
    if (head === undefined) return false;
    let pool = this.#pools.get(origin);
    if (pool === undefined) {
      const u = new URL(origin);
      const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
      pool = new Pool(host, Number(u.port === '' ? 80 : u.port), this.#opts, (p) => {
        if (this.#pools.get(origin) === p) this.#pools.delete(origin);
      });
      this.#pools.set(origin, pool);
    }
    const r = new H1Request(handler, head, headersTimeoutMs, fresh);
    // As undici, the handler gets its controller first and may abort at once.
    r.call(() => handler.onRequestStart?.(r, {}));
    if (!r.aborted) pool.dispatch(r);
    return true;
  }

  /** Origins with a pool, and how many connections each has open. */
  pools(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [origin, pool] of this.#pools) out.set(origin, pool.connections);
    return out;
  }

  /**
   * The origins' addresses left the endpoints: their idle connections close now, busy ones after
   * their response, and a later request to one of them starts a new pool.
   */
  retire(origins: Iterable<string>): void {
    for (const origin of origins) {
      const pool = this.#pools.get(origin);
      if (pool === undefined) continue;
      this.#pools.delete(origin);
      pool.close();
    }
  }

  close(): void {
    for (const p of this.#pools.values()) p.close();
  }
}
