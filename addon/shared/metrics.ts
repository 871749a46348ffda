// Prometheus metrics (prom-client). Each service owns one Registry, so tests and several services in
// one process never share counters; the process/Node collectors are added once per registry.
import type http from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(opts: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/** Serves `GET /metrics` in the text exposition format. */
export async function writeMetrics(registry: Registry, res: http.ServerResponse): Promise<void> {
  try {
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(body);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}
