// The proxy's listeners and their lifecycle. The plain port speaks HTTP/1.1 and h2c with prior
// knowledge (the first bytes of a connection decide, once per connection); the TLS port speaks h2 via
// ALPN and HTTP/1.1. This file also owns connection tracking for the graceful drain.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../../shared/log.ts';
import { responseMayBeInFlight, startHeaderDeadlines } from '../internals/http-server.ts';
import type { ProxyRequest, ProxyResponse } from '../proxy/forward.ts';
import { MethodFallback } from './method-fallback.ts';

export type RequestListener = (req: ProxyRequest, res: ProxyResponse) => void;
export type UpgradeListener = (req: http.IncomingMessage, socket: Socket, head: Buffer) => void;

export interface ServerLimits {
  /** Time allowed to send the request head; upstream's ReadHeaderTimeout is 1 minute. */
  readHeaderTimeoutMs: number;
  /** Largest request head accepted; Go's default is 1 MiB (+4 KiB slop). */
  maxHeaderBytes: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised on every HTTP/2 connection (Go's server: 250). */
  maxConcurrentStreams: number;
}

/**
 * What one HTTP/2 connection may hold. Held requests live until their app is ready, so without a
 * stream limit one client could open thousands on one connection. Streams over the limit are refused
 * (RST_STREAM REFUSED_STREAM) until the client has acknowledged the limit; a client that exceeds an
 * acknowledged limit breaks the protocol and nghttp2 closes its connection (GOAWAY PROTOCOL_ERROR).
 * A held request's body is not read, and Node reads
 * no further than the stream's flow-control window; the window is set here rather than left to
 * Node's default, so a held stream never buffers more than 64 KiB whatever that default becomes.
 */
function h2Options(limits: ServerLimits): http2.ServerOptions {
  return {
    maxSessionMemory: 64,
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, initialWindowSize: 65_535 },
  };
}

const h2Preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
/** Longest first line judged by its protocol word; a longer one goes to the HTTP/1 parser's limits. */
const maxJudgedLineBytes = 8192;

/**
 * Whether a connection's first line names a protocol other than HTTP/1.x in a request line's third
 * word: "PRI * HTTP/2.0" not followed by the rest of the HTTP/2 preface, "GET / HTTP/9.9", or
 * "INVALID CONNECTION PREFACE". Such a client cannot read an HTTP/1.1 status line, and for HTTP/2 an
 * invalid preface is a connection error before any frame can carry it: the connection is closed
 * unanswered. A line that is malformed otherwise (no version, a bad target) is an HTTP/1 request
 * gone wrong, answered 400 by the HTTP/1 parser like Go does. An incomplete first line is not
 * judged (clients write their request head at once; a trickled one still gets the parser's 400).
 */
function namesAnotherProtocol(seen: Buffer): boolean {
  const eol = seen.indexOf(0x0a);
  if (eol === -1 || eol > maxJudgedLineBytes) return false;
  const words = seen.toString('latin1', 0, seen[eol - 1] === 0x0d ? eol - 1 : eol).split(' ');
  return words.length === 3 && !/^HTTP\/1\.\d$/.test(words[2] ?? '');
}

/** Go writes these for malformed requests; a clear status, and the connection is closed. */
function clientErrorResponse(err: NodeJS.ErrnoException & { code?: string }): string {
  let status = '400 Bad Request';
  if (err.code === 'HPE_HEADER_OVERFLOW') status = '431 Request Header Fields Too Large';
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') status = '408 Request Timeout';
  else if (err.code === 'HPE_URI_TOO_LONG' || err.code === 'HPE_INVALID_URL') status = '400 Bad Request';
  const body = `${status}\n`;
  return `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** Whether a 'clientError' comes from node:http (a request it refused), not from a TLS handshake. */
function isHttpClientError(err: NodeJS.ErrnoException): boolean {
  return err.code?.startsWith('HPE_') === true || err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
}

/**
 * How long before a bounded drain gives up its last call comes: time to write thousands of short
 * answers and for clients to read them (1 s), or half the drain when it is shorter than 2 s.
 */
function answerMarginMs(drainTimeoutMs: number): number {
  return Math.min(1000, drainTimeoutMs / 2);
}

export class ProxyServers {
  readonly #log: Logger;
  readonly #limits: ServerLimits;
  readonly #h1Options: http.ServerOptions;
  readonly #listeners: net.Server[] = [];
  readonly #h1: http.Server;
  /** Connections whose HTTP/1.1 methods node:http's parser does not know (method-fallback.ts). */
  readonly #plainFallback: MethodFallback;
  #tlsFallback: MethodFallback | undefined;
  readonly #h2c: http2.Http2Server;
  #tls: http2.Http2SecureServer | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  /** Hijacked (upgraded) connections, closed last in a drain like upstream's hijacked contexts. */
  readonly #upgraded = new Set<Socket>();
  #active = 0;
  /** Per connection: requests in flight, and when it was accepted (for Go's "new connection" grace). */
  readonly #connState = new WeakMap<Socket, { inflight: number; served: number }>();
  readonly #acceptedAt = new WeakMap<Socket, number>();
  #idleWaiters: (() => void)[] = [];

  constructor(log: Logger, limits: ServerLimits, onRequest: RequestListener, onUpgrade: UpgradeListener) {
    this.#log = log;
    this.#limits = limits;
    const tracked = this.#track(onRequest);
    const h1Options: http.ServerOptions = {
      headersTimeout: limits.readHeaderTimeoutMs,
      // How often Node checks header deadlines; its 30s default would let a slow client linger.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.readHeaderTimeoutMs / 4))),
      requestTimeout: 0,
      keepAliveTimeout: 120_000,
      maxHeaderSize: limits.maxHeaderBytes,
      requireHostHeader: false,
    };
    this.#h1Options = h1Options;
    this.#h1 = http.createServer(h1Options, tracked);
    this.#plainFallback = this.#methodFallback(onRequest, this.#upgradeListener(onUpgrade));
    this.#h1.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (!this.#plainFallback.takeOver(err, socket)) this.#onClientError(err, socket);
    });
    // This server never listens itself (the sniffing listener hands it connections), but Node starts
    // its header-deadline checker on 'listening': start it the same way.
    startHeaderDeadlines(this.#h1);
    this.#h1.on('upgrade', this.#upgradeListener(onUpgrade));
    this.#h2c = http2.createServer(h2Options(limits), tracked);
    this.#h2c.on('session', this.#trackSession);
  }

  get activeRequests(): number {
    return this.#active;
  }

  get upgradedConnections(): number {
    return this.#upgraded.size;
  }

  /** Counts in-flight requests so a drain knows when it is done. */
  #track(listener: RequestListener): RequestListener {
    return (req, res) => {
      this.#active++;
      const socket = req.socket as Socket | undefined;
      let st = socket ? this.#connState.get(socket) : undefined;
      if (socket && !st) this.#connState.set(socket, (st = { inflight: 0, served: 0 }));
      if (st) {
        st.inflight++;
        st.served++;
      }
      // A response closes once: on() spares the wrapper once() allocates per request.
      res.on('close', () => {
        if (st) st.inflight--;
        if (--this.#active === 0) {
          const waiters = this.#idleWaiters;
          this.#idleWaiters = [];
          for (const w of waiters) w();
        }
      });
      listener(req, res);
    };
  }

  /** The 'upgrade' listener: tracks the hijacked connection for the drain, then hands it on. */
  #upgradeListener(onUpgrade: UpgradeListener): UpgradeListener {
    return (req, socket, head) => {
      this.#upgraded.add(socket);
      socket.once('close', () => this.#upgraded.delete(socket));
      onUpgrade(req, socket, head);
    };
  }

  /** The method fallback for one listener, with the same limits, answers and tracking as its server. */
  #methodFallback(onRequest: RequestListener, onUpgrade: UpgradeListener): MethodFallback {
    return new MethodFallback({
      log: this.#log,
      serverOptions: this.#h1Options,
      onRequest: this.#track(onRequest) as http.RequestListener,
      onUpgrade,
      onClientError: this.#onClientError,
      idle: (raw) => (this.#connState.get(raw)?.inflight ?? 0) === 0,
      // Requests on the rewritten connection count on the client's connection, which the drain
      // closes only when none is in flight.
      adopt: (raw, conn) => {
        let st = this.#connState.get(raw);
        if (!st) this.#connState.set(raw, (st = { inflight: 0, served: 0 }));
        this.#connState.set(conn, st);
      },
      setUp: (server) => startHeaderDeadlines(server),
    });
  }

  readonly #trackSession = (session: http2.ServerHttp2Session): void => {
    this.#sessions.add(session);
    session.once('close', () => this.#sessions.delete(session));
  };

  readonly #onClientError = (err: NodeJS.ErrnoException, socket: Socket): void => {
    this.#log.debug('rejected a malformed or slow request', { error: err.message, code: err.code });
    if (socket.writable && !responseMayBeInFlight(socket)) {
      socket.end(clientErrorResponse(err));
    } else {
      socket.destroy();
    }
  };

  /** The plain port: one connection's first bytes choose HTTP/1.1 or h2c (prior knowledge). */
  async listenPlain(port: number, host = '0.0.0.0'): Promise<number> {
    const server = net.createServer({ noDelay: true }, (socket) => {
      this.#trackSocket(socket);
      this.#route(socket);
    });
    return this.#listen(server, port, host);
  }

  /** The TLS port: h2 via ALPN and HTTP/1.1 on one listener. */
  async listenTls(
    port: number,
    options: SecureContextOptions & http2.SecureServerOptions,
    host: string,
    onRequest: RequestListener,
    onUpgrade: UpgradeListener,
  ): Promise<number> {
    const tls = http2.createSecureServer(
      { ...options, ...h2Options(this.#limits), allowHTTP1: true },
      this.#track(onRequest) as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    // HTTP/1.1 over TLS goes through the same limits as the plain port.
    tls.on('connection', (s: Socket) => this.#trackSocket(s));
    tls.on('session', this.#trackSession);
    const upgrade = this.#upgradeListener(onUpgrade);
    tls.on('upgrade', upgrade);
    const fallback = (this.#tlsFallback = this.#methodFallback(onRequest, upgrade));
    // Both HTTP/1.1 parse errors and failed TLS handshakes come here.
    tls.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (fallback.takeOver(err, socket)) return;
      if (isHttpClientError(err)) this.#onClientError(err, socket);
      else socket.destroy();
    });
    tls.setTimeout(0);
    this.#tls = tls;
    return this.#listen(tls, port, host);
  }

  #trackSocket(socket: Socket): void {
    this.#sockets.add(socket);
    this.#acceptedAt.set(socket, performance.now());
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #route(socket: Socket): void {
    let seen: Buffer | undefined;
    // A connection that never sends its first bytes is closed like a slow request head.
    socket.setTimeout(this.#limits.readHeaderTimeoutMs, () => socket.destroy());
    const decide = (): void => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null)
        seen = seen ? Buffer.concat([seen, chunk]) : chunk;
      if (seen === undefined || socket.readableEnded) {
        if (socket.readableEnded) socket.destroy();
        else socket.once('readable', decide);
        return;
      }
      const n = Math.min(seen.length, h2Preface.length);
      const head = seen.toString('latin1', 0, n);
      if (n < h2Preface.length && head === h2Preface.slice(0, n)) {
        socket.once('readable', decide); // a prefix of the HTTP/2 preface: wait for the rest
        return;
      }
      socket.setTimeout(0);
      if (head !== h2Preface && namesAnotherProtocol(seen)) {
        this.#log.debug('closed a connection whose first line is neither HTTP/1.x nor the HTTP/2 preface');
        socket.destroy();
        return;
      }
      socket.unshift(seen);
      if (head === h2Preface) this.#h2c.emit('connection', socket);
      else this.#h1.emit('connection', socket);
    };
    socket.once('readable', decide);
  }

  async #listen(server: net.Server, port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Node's default accept backlog is 511; a burst of thousands of clients (everyone retrying at
      // a cold app) then overflows it and the kernel drops handshakes. Go asks for somaxconn, and
      // the kernel caps whatever is asked at that, so ask for the most.
      server.listen({ port, host, backlog: 65_535 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#listeners.push(server);
    return (server.address() as AddressInfo).port;
  }

  /**
   * Upstream's drain: stop accepting, let in-flight requests finish (HTTP/1 keep-alive connections
   * close after their current response, HTTP/2 sessions get GOAWAY), then close upgraded
   * connections, all within `timeoutMs` (0 = no bound). Returns whether everything finished in time.
   * `lastCall` runs shortly before a bounded drain gives up (answerMarginMs), so that requests still
   * waiting for something other than their backend can be answered while their connections are open.
   */
  async drain(timeoutMs: number, lastCall?: () => void): Promise<boolean> {
    for (const l of this.#listeners) l.close();
    this.#closeIdle();
    for (const s of this.#sessions) s.close();
    const idle = this.#active === 0 ? Promise.resolve() : new Promise<void>((r) => this.#idleWaiters.push(r));
    let timer: NodeJS.Timeout | undefined;
    let lastCallTimer: NodeJS.Timeout | undefined;
    if (lastCall && timeoutMs > 0)
      lastCallTimer = setTimeout(lastCall, timeoutMs - answerMarginMs(timeoutMs));
    const timeout =
      timeoutMs > 0
        ? new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)))
        : undefined;
    // Connections that finish a response are closed by its Connection: close header; sweep the
    // ones that go idle without one.
    const sweep = setInterval(() => this.#closeIdle(), 100);
    const result = await (timeout ? Promise.race([idle, timeout]) : idle);
    clearInterval(sweep);
    clearTimeout(timer);
    clearTimeout(lastCallTimer);
    for (const s of this.#upgraded) s.destroy();
    this.#destroyAll();
    return result !== 'timeout';
  }

  /**
   * Closes HTTP/1 connections with no request in flight, like Go's Shutdown: idle keep-alive
   * connections at once, connections that have not sent a request yet only after 5 s (their request
   * may be on the wire right now; closing them would reset it).
   */
  #closeIdle(): void {
    const now = performance.now();
    for (const s of this.#sockets) {
      if (this.#upgraded.has(s) || (s as Socket & { alpnProtocol?: string | false }).alpnProtocol === 'h2')
        continue;
      const st = this.#connState.get(s);
      if (st === undefined) {
        if (now - (this.#acceptedAt.get(s) ?? now) > 5000) s.destroy();
      } else if (st.inflight === 0) {
        s.destroy();
      }
    }
  }

  /** Immediate stop (tests, second signal). */
  close(): void {
    for (const l of this.#listeners) l.close();
    this.#destroyAll();
  }

  #destroyAll(): void {
    for (const s of this.#sessions) s.destroy();
    for (const s of this.#upgraded) s.destroy();
    for (const s of this.#sockets) s.destroy();
    this.#h1.closeAllConnections();
    this.#plainFallback.server.closeAllConnections();
    this.#tlsFallback?.server.closeAllConnections();
    this.#tls?.close();
  }
}
