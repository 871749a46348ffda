// Small HTTP servers for probes, metrics and admin APIs: a path table, exact matches, 404 otherwise.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { writeMetrics } from './metrics.ts';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>;

export interface ListeningServer {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

/** Starts a server with exact-path routes; resolves once it listens. Port 0 picks a free port. */
export async function listen(
  routes: Readonly<Record<string, Handler>>,
  port: number,
  host = '0.0.0.0',
): Promise<ListeningServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const handler = routes[path];
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('404 page not found\n');
      return;
    }
    Promise.resolve(handler(req, res)).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A probe handler: 200 "ok" while `check()` is true, 503 with the reason otherwise. */
export function probe(check: () => true | string): Handler {
  return (_req, res) => {
    const result = check();
    if (result === true) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end(`${result}\n`);
    }
  };
}

export function metricsRoute(registry: Registry): Handler {
  return (_req, res) => writeMetrics(registry, res);
}
