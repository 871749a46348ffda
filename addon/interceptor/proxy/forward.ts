// Forwards one request to a backend and streams the answer back (the data-plane engine).
// Engine: undici's dispatch() on a keep-alive Agent (see docs/decisions/interceptor-engine.md): no
// per-request promise or stream wrappers, backpressure through pause/resume, trailers delivered at
// the end. HTTP/1.1 by default; h2c with prior knowledge when the Service port says so.
//
// Errors map as upstream's: a timeout (response headers, connect, request deadline) is 504, anything
// else 502. Beyond upstream, a connection refused before any request byte was sent is retried against
// the next ready endpoint, after 5 ms and then twice as long each time up to every 50 ms, within the
// request's budget (no 502 on the first request after a cold start while a just-ready pod finishes
// binding its port, or kube-proxy has not yet opened the Service to it).
// A request that failed on a kept-alive connection the backend had closed while it was idle is
// sent again on a new connection when that cannot do harm (proxy/replay.ts).
//
// Connections: plain-http backends have one pool per origin for requests without a body or whose
// body has fully arrived, bounded by KEDA_HTTP_MAX_CONNS_PER_HOST, and an unbounded one for uploads
// still arriving from the client (see docs/decisions/interceptor-backend-connections.md), so slow
// uploads cannot take every connection of a backend. Idle connections close after
// KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT, or earlier when the backend's Keep-Alive hint says so.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import { PassThrough, type Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { Agent, H2CClient, buildConnector, type Dispatcher } from 'undici';
import { defaultBackendIdleConnTimeoutMs } from '../config.ts';
import { httpParser } from '../internals/http-parser.ts';
import { BackendTrust } from './backend-trust.ts';
import { H1Client, h1Eligible } from './h1-client.ts';
import { inboundResponseHeaders } from './headers.ts';
import { OriginPools } from './origin-pools.ts';
import { isIdempotent, mayReplay } from './replay.ts';
import { writeError } from './responses.ts';

export type ProxyRequest = IncomingMessage | Http2ServerRequest;
export type ProxyResponse = ServerResponse | Http2ServerResponse;

export interface ForwarderOptions {
  connectTimeoutMs: number;
  /** Connections per backend origin; 0 = unlimited. Uploads still arriving are not bounded by it. */
  maxConnsPerHost: number;
  /** How long a backend connection may sit idle before it is closed (a Keep-Alive hint may shorten it). */
  idleConnTimeoutMs?: number;
  /** Used for h2/h2c to every backend (Kyma's KEDA_HTTP_FORCE_HTTP2). */
  forceHttp2: boolean;
  /** Upstream TLS (TLS listener only): extra trusted CAs and KEDA_HTTP_PROXY_TLS_SKIP_VERIFY. */
  tls?: { ca: (string | Buffer)[]; skipVerify: boolean };
  /**
   * Send every request through undici, never the lean HTTP/1.1 client (tests compare the two). The
   * lean client is also off when the runtime-internals layer has no parser for it.
   */
  undiciOnly?: boolean;
}

export interface ForwardOptions {
  /** Picks the origin for attempt n (0-based): direct-pod routing rotates through ready endpoints. */
  origin: (attempt: number) => string;
  h2c: boolean;
  /** For https origins: the SNI and verified name, upstream's "svc.ns" (never the client's Host). */
  serverName?: string | undefined;
  headers: string[];
  /** 0 = no response-header timeout. */
  responseHeaderMs: number;
  /** Aborted when the request deadline passes; its reason decides 504. */
  signal: AbortSignal | undefined;
  /** Absolute time (performance.now()) after which no retry starts; Infinity = the 1-minute cap. */
  retryUntil: number;
  /** X-KEDA-HTTP-Cold-Start, added to the response (and to a 502/504) when set. */
  coldStartHeader?: 'true' | 'false' | undefined;
  /** Told of the error behind a 502 or 504 (for the log). */
  onUpstreamError?: (err: Error, status: 502 | 504) => void;
  /** The request body when the caller already read part of it; by default the request itself. */
  body?: Readable | undefined;
}

/** Thrown into a dispatch when the request deadline passes. */
export class DeadlineExceeded extends Error {
  override name = 'DeadlineExceeded';
  constructor() {
    super('request deadline exceeded');
  }
}

// Failures before any request byte left: safe to retry. EMFILE/ENFILE (out of file descriptors,
// e.g. thousands of held requests released at once) clear as other requests finish.
export const connectErrorCodes: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EMFILE',
  'ENFILE',
]);
const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);
// The gap after a just-ready endpoint refuses is usually a few milliseconds (the pod binding its
// port, kube-proxy's rules), so the first retries come quickly; the cap bounds the connection
// attempts of many requests waiting on an endpoint that stays closed.
const retryFirstDelayMs = 5;
const retryMaxDelayMs = 50;
export const retryDelayMs = (attempt: number): number =>
  Math.min(retryMaxDelayMs, retryFirstDelayMs * 2 ** Math.min(attempt, 4));
export const retryCapMs = 60_000;
/**
 * Replays of one request after kept-alive connections failed under it. The lean client replays on a
 * new connection, so one is the most it takes; undici may hand a replay another idle connection
 * that turns out closed too. The cap bounds what an engine's inexact view could repeat.
 */
const maxReplays = 3;

export function isTimeout(err: unknown): boolean {
  if (err instanceof DeadlineExceeded) return true;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && timeoutCodes.has(code);
}

export class Forwarder {
  /** Plain-http requests with no body or a body that has arrived: bounded by maxConnsPerHost. */
  readonly #http1: OriginPools;
  /** Plain-http requests whose body is still arriving: not bounded, so they cannot starve the rest. */
  readonly #uploads: OriginPools;
  readonly #h2c: Agent;
  readonly #forceHttp2: boolean;
  readonly #opts: ForwarderOptions;
  readonly #common: Agent.Options;
  /** One https Agent per server name, since undici would otherwise take SNI from the Host header. */
  readonly #tlsAgents = new Map<string, Agent>();
  /** The hot path's engine for plain-http, bodyless requests (proxy/h1-client.ts); undici does the rest. */
  readonly h1: H1Client | undefined;

  constructor(opts: ForwarderOptions) {
    this.#opts = opts;
    const idleMs = opts.idleConnTimeoutMs ?? defaultBackendIdleConnTimeoutMs;
    // 0 = no dial timeout (undici's own 10s default would otherwise apply).
    const connectTimeout = opts.connectTimeoutMs > 0 ? opts.connectTimeoutMs : 24 * 3600_000;
    const pooled = {
      // Closed before the backend is likely to close them itself (a request sent on a connection
      // the backend is closing fails); a Keep-Alive hint less 2 s shortens it further.
      keepAliveTimeout: idleMs,
      keepAliveMaxTimeout: idleMs,
      bodyTimeout: 0,
      // KEDA_HTTP_MAX_CONNS_PER_HOST: past it, requests wait for a free keep-alive connection
      // instead of opening thousands at once against a pod that just started (SYN backlog drops
      // cost seconds). 0 = one connection per in-flight request, as Go's default.
      connections: opts.maxConnsPerHost > 0 ? opts.maxConnsPerHost : null,
    };
    const common = { ...pooled, connect: { timeout: connectTimeout } };
    this.#common = common;
    this.#http1 = new OriginPools(pooled, connectTimeout);
    this.#uploads = new OriginPools({ ...pooled, connections: null }, connectTimeout);
    this.#h2c = new Agent({
      ...common,
      factory: (origin: string | URL, o: object) => new H2CClient(origin, o as H2CClient.Options),
    } as Agent.Options);
    this.#forceHttp2 = opts.forceHttp2;
    const parser = opts.forceHttp2 || opts.undiciOnly ? undefined : httpParser();
    this.h1 =
      parser === undefined
        ? undefined
        : new H1Client({
            connectTimeoutMs: opts.connectTimeoutMs,
            maxConnsPerHost: opts.maxConnsPerHost,
            keepAliveMs: idleMs,
            parser,
          });
  }

  forward(req: ProxyRequest, res: ProxyResponse, opts: ForwardOptions): void {
    new ForwardAttempt(this, req, res, opts).start(0, false);
  }

  /** Sends one attempt through undici: h2c, TLS, or the plain-http pools (uploads on their own). */
  dispatchUndici(
    options: Dispatcher.DispatchOptions & { origin: string },
    h2c: boolean,
    serverName: string | undefined,
    upload: boolean,
    handler: Dispatcher.DispatchHandler,
  ): void {
    if (serverName !== undefined) this.#tlsAgent(serverName).dispatch(options, handler);
    else if (h2c || this.#forceHttp2) this.#h2c.dispatch(options, handler);
    else if (upload) this.#uploads.dispatch(options, handler);
    else this.#http1.dispatch(options, handler);
  }

  /** Plain-http origins with connection pools, and the connections each has open (both engines). */
  pools(): Map<string, number> {
    const out = new Map<string, number>();
    for (const source of [this.h1?.pools(), this.#http1.pools(), this.#uploads.pools()])
      for (const [origin, n] of source ?? []) out.set(origin, (out.get(origin) ?? 0) + n);
    return out;
  }

  /**
   * Backend addresses that left the endpoints ("http://ip:port"): their pools are dropped, idle
   * connections close now and busy ones after their response.
   */
  retireOrigins(origins: readonly string[]): void {
    if (origins.length === 0) return;
    this.h1?.retire(origins);
    this.#http1.retire(origins);
    this.#uploads.retire(origins);
  }

  #tlsAgent(serverName: string): Agent {
    let agent = this.#tlsAgents.get(serverName);
    if (!agent) {
      const trust = new BackendTrust(this.#opts.tls);
      const connector = buildConnector({
        timeout: this.#opts.connectTimeoutMs > 0 ? this.#opts.connectTimeoutMs : 24 * 3600_000,
        ca: trust.ca,
        rejectUnauthorized: false,
        allowH2: true,
        preferH2: true,
        // Every handshake is verified below; a resumed session would carry no certificate to check.
        maxCachedSessions: 0,
      } as buildConnector.BuildOptions);
      agent = new Agent({
        ...this.#common,
        allowH2: true,
        connect: (o, cb) =>
          connector({ ...o, servername: serverName }, (err, socket) => {
            if (err) return cb(err, null);
            if (socket === null) return cb(null, socket as Socket);
            const untrusted = trust.check(socket as TLSSocket, serverName);
            if (untrusted === undefined) return cb(null, socket as Socket);
            socket.destroy();
            cb(untrusted, null);
          }),
      });
      this.#tlsAgents.set(serverName, agent);
    }
    return agent;
  }

  async close(): Promise<void> {
    this.h1?.close();
    await Promise.allSettled([
      this.#http1.close(),
      this.#uploads.close(),
      this.#h2c.close(),
      ...[...this.#tlsAgents.values()].map((a) => a.close()),
    ]);
  }
}

/** The handler of one forwarded request (re-used across retries of the same request). */
class ForwardAttempt implements Dispatcher.DispatchHandler {
  readonly #forwarder: Forwarder;
  readonly #req: ProxyRequest;
  readonly #res: ProxyResponse;
  readonly #opts: ForwardOptions;
  readonly #body: Readable | null;
  readonly #retryUntil: number;
  #controller: Dispatcher.DispatchController | undefined;
  #attempt = 0;
  /**
   * Set once an attempt's connection was refused or reset before any byte was sent. If the
   * deadline then ends the retries, the answer is the backend's failure (502), not a 504: the time
   * went to retrying a backend that was not there, which upstream would have answered 502 at once.
   */
  #refused = false;
  /** Times this request was sent again after a kept-alive connection failed under it. */
  #replays = 0;
  #responded = false;
  #pendingHead: { statusCode: number; headers: OutgoingHttpHeaders } | undefined;
  #done = false;

  constructor(forwarder: Forwarder, req: ProxyRequest, res: ProxyResponse, opts: ForwardOptions) {
    this.#forwarder = forwarder;
    this.#req = req;
    this.#res = res;
    this.#opts = opts;
    // HTTP/2 requests go through a PassThrough: undici destroys a finished body stream, and destroying
    // an Http2ServerRequest resets the whole stream, response included.
    this.#body =
      opts.body ?? (!requestHasBody(req) ? null : 'stream' in req ? req.pipe(new PassThrough()) : req);
    this.#retryUntil = Number.isFinite(opts.retryUntil) ? opts.retryUntil : performance.now() + retryCapMs;
    res.on('close', this.#onClientClose); // a response closes once; on() spares once()'s wrapper
    opts.signal?.addEventListener('abort', this.#onDeadline, { once: true });
  }

  /** `fresh`: on a new connection (a replay), where the engine can choose. */
  start(attempt: number, fresh: boolean): void {
    this.#attempt = attempt;
    const req = this.#req;
    const opts = this.#opts;
    const origin = opts.origin(attempt);
    const h1 = this.#forwarder.h1;
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    // The lean client takes what it can carry exactly as undici would (h1-client.ts); undici the rest.
    if (
      h1 !== undefined &&
      !opts.h2c &&
      opts.serverName === undefined &&
      this.#body === null &&
      origin.startsWith('http:') &&
      h1Eligible(method, path) &&
      h1.dispatch(origin, method, path, opts.headers, opts.responseHeaderMs, this, fresh)
    )
      return;
    this.#forwarder.dispatchUndici(
      {
        origin,
        path,
        method,
        headers: opts.headers,
        body: this.#body,
        headersTimeout: opts.responseHeaderMs,
        bodyTimeout: 0,
      },
      opts.h2c,
      opts.serverName,
      // A body still arriving may take long (a slow client); one that has arrived cannot stall.
      this.#body !== null && !req.complete,
      this,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#done) {
      controller.abort(new Error('client went away'));
      return;
    }
    this.#controller = controller;
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[]>,
  ): void {
    if (statusCode < 200) return; // 1xx informational: Node's server answers Expect itself.
    this.#responded = true;
    const out = inboundResponseHeaders(headers);
    // Added to the one header object (not setHeader): Node's writeHead then skips its merge path.
    if (this.#opts.coldStartHeader !== undefined) out['x-keda-http-cold-start'] = this.#opts.coldStartHeader;
    const type = headers['content-type'];
    if (typeof type === 'string' && type.startsWith('application/grpc') && 'stream' in this.#res) {
      // gRPC over HTTP/2: hold the head until the first message or the end, so a "trailers-only"
      // answer (an error status) leaves as one HEADERS frame with END_STREAM, as gRPC requires.
      this.#pendingHead = { statusCode, headers: out };
      this.#controller = controller;
      return;
    }
    const res = this.#res as ServerResponse;
    res.writeHead(statusCode, out);
    // Like Go: responses of unknown length (server-sent events, streams) reach the client at once;
    // the rest leave with their first body chunk (one write instead of two).
    if (headers['content-length'] === undefined) res.flushHeaders();
    this.#controller = controller;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.#res as ServerResponse;
    if (this.#pendingHead) {
      res.writeHead(this.#pendingHead.statusCode, this.#pendingHead.headers);
      this.#pendingHead = undefined;
    }
    if (!res.write(chunk)) {
      controller.pause();
      res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(
    _controller: Dispatcher.DispatchController,
    trailers: Record<string, string | string[]>,
  ): void {
    this.#finish();
    const res = this.#res as ServerResponse;
    let copy: Record<string, string | string[]> | undefined;
    // A plain copy: undici's object carries a Symbol(sensitiveHeaders) that HTTP/2 trailers reject.
    for (const name in trailers) (copy ??= {})[name] = trailers[name] as string | string[];
    const head = this.#pendingHead;
    if (head) {
      this.#pendingHead = undefined;
      if (!copy && 'stream' in this.#res) {
        const h2 = this.#res;
        h2.stream.respond(
          { ...h2.getHeaders(), ...head.headers, ':status': head.statusCode },
          { endStream: true },
        );
        return;
      }
      res.writeHead(head.statusCode, head.headers);
    }
    if (copy) res.addTrailers(copy as Record<string, string>);
    res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.#done) return;
    if (
      !this.#responded &&
      this.#replays < maxReplays &&
      // A request with a body is never sent again: its body stream was handed to the engine,
      // which may have sent or consumed part of it (and undici destroys it on failure).
      mayReplay(err, isIdempotent(this.#req.method ?? 'GET', this.#opts.headers), this.#body !== null)
    ) {
      // A kept-alive connection the backend had closed: the same origin again, on a new connection,
      // once the engine has finished with the failed one (undici is still inside its close handler).
      this.#replays++;
      queueMicrotask(() => {
        if (!this.#done) this.start(this.#attempt, true);
      });
      return;
    }
    const code = (err as { code?: unknown }).code;
    if (
      !this.#responded &&
      typeof code === 'string' &&
      connectErrorCodes.has(code) &&
      !(this.#body as { readableDidRead?: boolean } | null)?.readableDidRead &&
      performance.now() + retryDelayMs(this.#attempt) < this.#retryUntil
    ) {
      // Nothing was sent (the connection never opened): safe to try again, next endpoint first.
      this.#refused = true;
      setTimeout(() => {
        if (!this.#done) this.start(this.#attempt + 1, false);
      }, retryDelayMs(this.#attempt)).unref();
      return;
    }
    this.#finish();
    const res = this.#res;
    const status = isTimeout(err) && !(err instanceof DeadlineExceeded && this.#refused) ? 504 : 502;
    this.#opts.onUpstreamError?.(err, status);
    if (!res.headersSent) {
      const cold = this.#opts.coldStartHeader;
      writeError(res, status, cold === undefined ? undefined : { 'x-keda-http-cold-start': cold });
    } else {
      res.destroy(err);
    }
  }

  #finish(): void {
    this.#done = true;
    this.#opts.signal?.removeEventListener('abort', this.#onDeadline);
  }

  readonly #onClientClose = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#controller?.abort(new Error('client closed the connection'));
  };

  readonly #onDeadline = (): void => {
    if (this.#done) return;
    if (this.#controller && !this.#controller.aborted) {
      this.#controller.abort(new DeadlineExceeded());
      return;
    }
    // Between retries of a refused connection: nothing in flight to abort, answer now.
    this.#finish();
    const cold = this.#opts.coldStartHeader;
    if (!this.#res.headersSent)
      writeError(
        this.#res,
        this.#refused ? 502 : 504,
        cold === undefined ? undefined : { 'x-keda-http-cold-start': cold },
      );
    else this.#res.destroy();
  };
}

function requestHasBody(req: ProxyRequest): boolean {
  if ('stream' in req) return !req.stream.endAfterHeaders;
  const h = req.headers;
  const cl = h['content-length'];
  return (cl !== undefined && cl !== '0') || h['transfer-encoding'] !== undefined;
}
