// The proxy's listeners and their lifecycle. The plain port speaks HTTP/1.1 and h2c with prior
// knowledge (the first bytes of a connection decide, once per connection); the TLS port speaks h2 via
// ALPN and HTTP/1.1. This file also owns connection tracking for the graceful drain (§2.15).
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../../shared/log.ts';
import { responseMayBeInFlight, startHeaderDeadlines } from '../internals/http-server.ts';
import type { ProxyRequest, ProxyResponse } from '../proxy/forward.ts';

export type RequestListener = (req: ProxyRequest, res: ProxyResponse) => void;
export type UpgradeListener = (req: http.IncomingMessage, socket: Socket, head: Buffer) => void;

export interface ServerLimits {
  /** Time allowed to send the request head; upstream's ReadHeaderTimeout is 1 minute. */
  readHeaderTimeoutMs: number;
  /** Largest request head accepted; Go's default is 1 MiB (+4 KiB slop). */
  maxHeaderBytes: number;
}

const h2Preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

/** Go writes these for malformed requests; a clear status, and the connection is closed. */
function clientErrorResponse(err: NodeJS.ErrnoException & { code?: string }): string {
  let status = '400 Bad Request';
  if (err.code === 'HPE_HEADER_OVERFLOW') status = '431 Request Header Fields Too Large';
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') status = '408 Request Timeout';
  else if (err.code === 'HPE_URI_TOO_LONG' || err.code === 'HPE_INVALID_URL') status = '400 Bad Request';
  const body = `${status}\n`;
  return `HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export class ProxyServers {
  readonly #log: Logger;
  readonly #limits: ServerLimits;
  readonly #onUpgrade: UpgradeListener;
  readonly #listeners: net.Server[] = [];
  readonly #h1: http.Server;
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
    this.#onUpgrade = onUpgrade;
    const tracked = this.#track(onRequest);
    this.#h1 = http.createServer(
      {
        headersTimeout: limits.readHeaderTimeoutMs,
        // How often Node checks header deadlines; its 30s default would let a slow client linger.
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.readHeaderTimeoutMs / 4))),
        requestTimeout: 0,
        keepAliveTimeout: 120_000,
        maxHeaderSize: limits.maxHeaderBytes,
        requireHostHeader: false,
      },
      tracked,
    );
    this.#h1.on('clientError', this.#onClientError);
    // This server never listens itself (the sniffing listener hands it connections), but Node starts
    // its header-deadline checker on 'listening': start it the same way.
    startHeaderDeadlines(this.#h1);
    this.#h1.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      this.#upgraded.add(socket);
      socket.once('close', () => this.#upgraded.delete(socket));
      this.#onUpgrade(req, socket, head);
    });
    this.#h2c = http2.createServer({ maxSessionMemory: 64 }, tracked);
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
      { ...options, allowHTTP1: true, maxSessionMemory: 64 },
      this.#track(onRequest) as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    // HTTP/1.1 over TLS goes through the same limits as the plain port.
    tls.on('connection', (s: Socket) => this.#trackSocket(s));
    tls.on('session', this.#trackSession);
    tls.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      this.#upgraded.add(socket);
      socket.once('close', () => this.#upgraded.delete(socket));
      onUpgrade(req, socket, head);
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
   */
  async drain(timeoutMs: number): Promise<boolean> {
    for (const l of this.#listeners) l.close();
    this.#closeIdle();
    for (const s of this.#sessions) s.close();
    const idle = this.#active === 0 ? Promise.resolve() : new Promise<void>((r) => this.#idleWaiters.push(r));
    let timer: NodeJS.Timeout | undefined;
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
    this.#tls?.close();
  }
}
