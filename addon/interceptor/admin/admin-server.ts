// The admin server: /queue for the scaler, /queue/watch (push activation),
// /readyz and /livez for the kubelet, with upstream's bodies. Exact paths; anything else is 404.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen, type ListeningServer } from '../../shared/http-server.ts';
import type { RequestQueue } from '../queue/queue.ts';
import type { QueueWatch } from '../queue/watch.ts';

export interface AdminDeps {
  queue: RequestQueue;
  watch: QueueWatch;
  /** Ready once the route table was built, and not while draining. */
  ready: () => boolean;
}

export function adminRoutes(
  deps: AdminDeps,
): Record<string, (req: IncomingMessage, res: ServerResponse) => void> {
  return {
    '/queue': (_req, res) => {
      const body = deps.queue.toJSON();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
    '/queue/watch': deps.watch.handle,
    '/readyz': (_req, res) => {
      const ok = deps.ready();
      const body = ok ? 'OK' : 'Service Unavailable';
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(body);
    },
    '/livez': (_req, res) => {
      res.writeHead(200);
      res.end();
    },
  };
}

export function startAdminServer(deps: AdminDeps, port: number, host = '0.0.0.0'): Promise<ListeningServer> {
  return listen(adminRoutes(deps), port, host);
}
