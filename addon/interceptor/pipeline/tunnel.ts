// Step 8 for an HTTP/1.1 Upgrade (WebSocket): the request goes to the backend over a connection of
// its own, always HTTP/1.1 (no h2 offered over TLS, as Go does for upgrades). What comes back
// decides what the client's connection becomes:
// - 101 with the Upgrade asked for: the 101 is relayed as the backend wrote it, then bytes are
//   copied both ways until either side closes (the request deadline no longer applies).
// - anything else: an ordinary response, relayed like any other, after which the client's
//   connection is closed. It never becomes a raw pipe to this backend, so a next request on it
//   can never reach the backend unrouted and uncounted.
// Connecting is retried on a refused connection like a forwarded request, and fails the same way
// (502, or 504 on a timeout).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { ResolvedTarget } from '../endpoints/targets.ts';
import {
  DeadlineExceeded,
  connectErrorCodes,
  isTimeout,
  retryCapMs,
  retryDelayMs,
} from '../proxy/forward.ts';
import { inboundResponseHeaders } from '../proxy/headers.ts';
import { writeError } from '../proxy/responses.ts';
import type { PipelineDeps } from './deps.ts';
import type { Exchange, UpgradeRequest } from './exchange.ts';
import { originPicker, prepareHeaders } from './outbound.ts';
import type { RouteState } from './route-state.ts';

export function tunnelUpgrade(
  d: PipelineDeps,
  x: Exchange,
  target: ResolvedTarget,
  direct: boolean,
  coldStart: 'true' | 'false' | undefined,
): void {
  new Tunnel(d, x, target, direct, coldStart).dial(0);
}

function upgradeToken(headers: http.IncomingHttpHeaders): string {
  return (headers.upgrade ?? '').trim().toLowerCase();
}

class Tunnel {
  readonly #d: PipelineDeps;
  readonly #x: Exchange;
  readonly #upgrade: UpgradeRequest;
  readonly #res: ServerResponse;
  readonly #pick: (attempt: number) => string;
  readonly #serverName: string | undefined;
  readonly #coldStart: 'true' | 'false' | undefined;
  readonly #retryUntil: number;
  /** The backend connection being dialled or in use. */
  #backend: Socket | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #headerTimer: NodeJS.Timeout | undefined;
  #refused = false;
  /** Set once the client has an answer (101, relayed response or error) or has left. */
  #answered = false;
  #switched = false;

  constructor(
    d: PipelineDeps,
    x: Exchange,
    target: ResolvedTarget,
    direct: boolean,
    coldStart: 'true' | 'false' | undefined,
  ) {
    this.#d = d;
    this.#x = x;
    this.#upgrade = x.upgrade as UpgradeRequest;
    this.#res = x.res as ServerResponse;
    this.#pick = originPicker(d, x, target, direct);
    this.#serverName = x.scheme === 'https' ? target.serverName : undefined;
    this.#coldStart = coldStart;
    this.#retryUntil = Number.isFinite(x.retryUntil) ? x.retryUntil : performance.now() + retryCapMs;
    this.#res.once('close', this.#onClientClose);
    x.signal?.addEventListener('abort', this.#onDeadline, { once: true });
  }

  dial(attempt: number): void {
    if (this.#answered) return;
    const url = new URL(this.#pick(attempt));
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const serverName = this.#serverName;
    const d = this.#d;
    const socket: Socket =
      serverName === undefined
        ? net.connect({ host, port, noDelay: true })
        : tls.connect({
            host,
            port,
            servername: serverName,
            ca: d.backendTrust.ca,
            rejectUnauthorized: false,
            ALPNProtocols: ['http/1.1'],
          });
    this.#backend = socket;
    const connectMs = d.config.connectTimeoutMs;
    // The forwarder's code for a connect timeout, so that the same rule retries it (then 504).
    if (connectMs > 0)
      socket.setTimeout(connectMs, () =>
        socket.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })),
      );
    const onError = (err: Error): void => this.#dialFailed(err, attempt);
    socket.once('error', onError);
    socket.once(serverName === undefined ? 'connect' : 'secureConnect', () => {
      socket.setTimeout(0);
      socket.off('error', onError);
      if (serverName !== undefined) {
        socket.setNoDelay(true);
        const untrusted = d.backendTrust.check(socket as TLSSocket, serverName);
        if (untrusted !== undefined) {
          socket.destroy();
          this.#fail(untrusted);
          return;
        }
      }
      this.#send(socket);
    });
  }

  #dialFailed(err: Error, attempt: number): void {
    if (this.#answered) return;
    const code = (err as NodeJS.ErrnoException).code;
    const delay = retryDelayMs(attempt);
    if (code !== undefined && connectErrorCodes.has(code) && performance.now() + delay < this.#retryUntil) {
      // Nothing was sent: safe to try again, next endpoint first.
      this.#refused = true;
      this.#retryTimer = setTimeout(() => this.dial(attempt + 1), delay);
      return;
    }
    this.#fail(err);
  }

  #send(socket: Socket): void {
    const x = this.#x;
    const state = x.state as RouteState;
    const req = http.request({
      method: x.req.method,
      path: x.req.url,
      headers: prepareHeaders(x),
      setHost: false,
      createConnection: () => socket,
    });
    if (state.responseHeaderMs > 0)
      this.#headerTimer = setTimeout(
        () => socket.destroy(Object.assign(new Error('response header timeout'), { code: 'ETIMEDOUT' })),
        state.responseHeaderMs,
      );
    req.once('upgrade', (res: IncomingMessage, _socket: Socket, head: Buffer) => this.#switch(res, head));
    req.once('response', (res: IncomingMessage) => this.#relay(res));
    req.once('error', (err) => {
      if (!this.#answered) this.#fail(err);
      else if (!this.#switched) this.#res.destroy();
    });
    req.end();
  }

  /** 101: relays the backend's head as it is, then copies bytes both ways. */
  #switch(res: IncomingMessage, head: Buffer): void {
    if (this.#answered) return;
    const backend = this.#backend as Socket;
    const asked = upgradeToken(this.#x.req.headers);
    if (upgradeToken(res.headers) !== asked) {
      backend.destroy();
      this.#fail(
        new Error(`backend switched to "${res.headers.upgrade ?? ''}" when "${asked}" was asked for`),
      );
      return;
    }
    this.#settle();
    this.#switched = true;
    const client = this.#upgrade.socket;
    let lines = `HTTP/1.1 101 ${res.statusMessage || 'Switching Protocols'}\r\n`;
    const raw = res.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) lines += `${raw[i]}: ${raw[i + 1]}\r\n`;
    if (this.#coldStart !== undefined) lines += `X-KEDA-HTTP-Cold-Start: ${this.#coldStart}\r\n`;
    client.write(`${lines}\r\n`);
    if (head.length > 0) client.write(head);
    // What the client sent past its request head waited for the 101, as Go does.
    if (this.#upgrade.head.length > 0) backend.write(this.#upgrade.head);
    // The status the metrics and the access log record for the tunnel when it ends.
    this.#res.statusCode = 101;
    backend.on('error', () => client.destroy());
    backend.once('close', () => client.destroy());
    client.pipe(backend);
    backend.pipe(client);
  }

  /** Anything but 101: an ordinary response; the client's connection closes after it. */
  #relay(res: IncomingMessage): void {
    if (this.#answered) {
      res.destroy();
      return;
    }
    this.#settle();
    const headers = inboundResponseHeaders(res.headers);
    if (this.#coldStart !== undefined) headers['x-keda-http-cold-start'] = this.#coldStart;
    const out = this.#res;
    out.writeHead(res.statusCode ?? 502, headers);
    res.pipe(out);
    res.once('end', () => this.#backend?.destroy());
    res.once('error', () => out.destroy());
  }

  #fail(err: Error): void {
    if (this.#answered) return;
    this.#settle();
    this.#backend?.destroy();
    const status = isTimeout(err) && !(err instanceof DeadlineExceeded && this.#refused) ? 504 : 502;
    (this.#x.state as RouteState).onUpstreamError(err, status);
    if (this.#x.trace !== undefined) this.#x.trace.upstreamError = err;
    const cold = this.#coldStart;
    writeError(this.#res, status, cold === undefined ? undefined : { 'x-keda-http-cold-start': cold });
  }

  /** The client has its answer: no more retries, deadline or header timeout. */
  #settle(): void {
    this.#answered = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#headerTimer);
    this.#x.signal?.removeEventListener('abort', this.#onDeadline);
  }

  readonly #onDeadline = (): void => {
    if (this.#answered) return;
    this.#fail(new DeadlineExceeded());
  };

  readonly #onClientClose = (): void => {
    if (!this.#answered) this.#settle();
    this.#backend?.destroy();
  };
}
