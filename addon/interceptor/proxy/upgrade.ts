// WebSocket (and other HTTP/1.1 Upgrade) requests: matched and counted like any request, held during a
// cold start (and queued behind a release of held requests still under way), then the request head
// is replayed to the backend over a fresh connection and bytes are copied both ways until either
// side closes (what Go's ReverseProxy does after a 101).
import type { IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { STATUS_CODES } from 'node:http';
import type { CancelWait } from '../endpoints/ready-waiters.ts';
import { TargetResolutionError, type ResolvedTarget } from '../endpoints/targets.ts';
import { outboundHeaders } from './headers.ts';
import { holdRefusalMessage, takeHoldSlot } from './holding.ts';
import type { ProxyDeps } from './handler.ts';
import { readinessTimeoutMs, requestTimeoutMs } from './timeouts.ts';

function rawError(socket: Socket, status: number, extraHeaders = '', message?: string): void {
  const body = message ?? `${STATUS_CODES[status] ?? 'Error'}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n${extraHeaders}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Resolves true once `wait` calls back; false on the timeout (0 = none) or when the client leaves. */
function waitOn(
  socket: Socket,
  wait: (onReady: () => void) => CancelWait,
  timeoutMs: number,
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const done = (ready: boolean): void => {
      clearTimeout(t);
      cancel();
      socket.off('close', onClose);
      resolve(ready);
    };
    const onClose = (): void => done(false);
    const t = timeoutMs > 0 ? setTimeout(done, timeoutMs, false) : undefined;
    const cancel = wait(() => done(true));
    socket.once('close', onClose);
  });
}

export class UpgradeProxy {
  readonly #d: ProxyDeps;
  readonly #scheme: 'http' | 'https';

  constructor(deps: ProxyDeps, scheme: 'http' | 'https') {
    this.#d = deps;
    this.#scheme = scheme;
  }

  readonly handle = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    void this.#run(req, socket, head).catch((err: unknown) => {
      this.#d.log.error('upgrade failed', { error: err instanceof Error ? err.message : String(err) });
      socket.destroy();
    });
  };

  async #run(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const d = this.#d;
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const route = d.table.current?.lookup(req.headers.host ?? '', path, (n) => req.headersDistinct[n]);
    if (!route) return rawError(socket, 404);
    let target: ResolvedTarget;
    try {
      target = d.targets.resolve(route.namespace, route.target, this.#scheme);
    } catch (err) {
      if (err instanceof TargetResolutionError) return rawError(socket, 500);
      throw err;
    }
    const count = d.queue.increase(route.key);
    socket.once('close', () => {
      if (count) d.queue.decrease(route.key, count);
    });
    let cold = false;
    const serviceKey = target.serviceKey;
    if (!d.ready.hasReadyEndpoints(serviceKey)) {
      cold = true;
      // Held like a request (handler.ts): within the same hold limits.
      const slot = takeHoldSlot(d.holds, d.metrics, route);
      if (typeof slot === 'string')
        return rawError(
          socket,
          503,
          `Retry-After: ${d.config.retryAfterSeconds}\r\n`,
          holdRefusalMessage(route.key, slot),
        );
      const readinessMs = readinessTimeoutMs(route, d.config);
      const requestMs = requestTimeoutMs(route, d.config);
      const limit = [readinessMs, requestMs].filter((v) => v > 0);
      const ok = await waitOn(
        socket,
        (onReady) => d.ready.waitReady(serviceKey, onReady),
        limit.length > 0 ? Math.min(...limit) : 0,
      );
      const timedOut =
        readinessMs > 0 && (requestMs === 0 || readinessMs <= requestMs) ? 'readiness' : 'deadline';
      slot.end(ok ? 'ready' : socket.destroyed ? 'client' : timedOut);
      if (socket.destroyed) return;
      if (!ok) return rawError(socket, 504);
    } else if (d.ready.isReleasing(serviceKey)) {
      // Ready, but requests held for its cold start are still being released: behind them, as in handler.ts.
      const deadline = requestTimeoutMs(route, d.config);
      const ok = await waitOn(socket, (onReady) => d.ready.waitBehindRelease(serviceKey, onReady), deadline);
      if (socket.destroyed) return;
      if (!ok) return rawError(socket, 504);
    }
    let host = target.serverName;
    let port = Number(new URL(target.origin).port);
    if (d.directPodRouting) {
      const c = d.ready.candidates(target.serviceKey, target.portName);
      const pick = c[Math.floor(Math.random() * c.length)];
      if (pick) ({ host, port } = pick);
    }
    const headers = outboundHeaders(req.rawHeaders, {
      clientIp: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      proto: this.#scheme,
      upgrade: true,
    });
    if (d.config.enableColdStartHeader) headers.push('x-keda-http-cold-start', cold ? 'true' : 'false');
    const upstream =
      this.#scheme === 'https'
        ? tls.connect({
            host,
            port,
            servername: target.serverName,
            rejectUnauthorized: !d.config.tls.skipVerify,
          })
        : net.connect({ host, port, noDelay: true });
    let connected = false;
    upstream.setTimeout(d.config.connectTimeoutMs > 0 ? d.config.connectTimeoutMs : 0, () => {
      if (!connected) upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }));
    });
    upstream.once(this.#scheme === 'https' ? 'secureConnect' : 'connect', () => {
      connected = true;
      upstream.setTimeout(0);
      let lines = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1\r\n`;
      for (let i = 0; i < headers.length; i += 2) lines += `${headers[i]}: ${headers[i + 1]}\r\n`;
      upstream.write(`${lines}\r\n`);
      if (head.length > 0) upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected) rawError(socket, err.code === 'ETIMEDOUT' ? 504 : 502);
      else socket.destroy();
    });
    upstream.once('close', () => socket.destroy());
    socket.once('close', () => upstream.destroy());
  }
}
