// QueueWatcher against a local HTTP server that plays the /queue/watch contract (this tests the
// client, not aggregation across interceptors; those tests use real interceptor processes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../../shared/log.ts';
import { QueueWatcher } from './queue-watch.ts';

function capture(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ component: 'test', stream, level: 'debug' }), lines };
}

async function serve(
  handler: http.RequestListener,
): Promise<{ endpoint: string; server: http.Server; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { endpoint: `127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits: () => hits };
}

const until = async (cond: () => boolean, ms = 2_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('transitions arrive as they are written; malformed events are skipped; a dropped stream reconnects', async () => {
  const clients: http.ServerResponse[] = [];
  const s = await serve((req, res) => {
    assert.equal(req.url, '/queue/watch');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('event: snapshot\ndata: {"ns/r":{"Concurrency":0,"RequestCount":3}}\n\n');
    clients.push(res);
  });
  const { log } = capture();
  const got: string[] = [];
  const w = new QueueWatcher({
    log,
    connectTimeoutMs: 1_000,
    idleTimeoutMs: 5_000,
    reconnectMinMs: 20,
    onTransition: (pod, kind, key, c, n) => got.push(`${pod === s.endpoint} ${kind} ${key} ${c} ${n}`),
  });
  try {
    w.sync([s.endpoint]);
    await until(() => w.connected === 1);
    clients[0]?.write('event: active\ndata: {"key":"ns/r","Concurrency":1,"RequestCount":4}\n\n');
    clients[0]?.write(': heartbeat\n\nevent: active\ndata: not json\n\n');
    clients[0]?.write('event: idle\ndata: {"key":"ns/r","Concurrency":0,"RequestCount":4}\n\n');
    await until(() => got.length === 2);
    assert.deepEqual(got, ['true active ns/r 1 4', 'true idle ns/r 0 4']);
    clients[0]?.destroy(); // the interceptor restarts or the connection drops
    await until(() => clients.length === 2 && w.connected === 1);
    clients[1]?.write('event: active\ndata: {"key":"ns/r","Concurrency":2,"RequestCount":9}\n\n');
    await until(() => got.length === 3);
    // The pod leaves the EndpointSlice: its stream is closed.
    w.sync([]);
    await until(() => w.connected === 0);
  } finally {
    await w.close();
    s.server.closeAllConnections();
    s.server.close();
  }
});

test('an interceptor without /queue/watch (404) is polled only: one info log, no retries', async () => {
  const s = await serve((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('404 page not found\n');
  });
  const { log, lines } = capture();
  const w = new QueueWatcher({
    log,
    connectTimeoutMs: 1_000,
    idleTimeoutMs: 5_000,
    reconnectMinMs: 10,
    onTransition: () => {},
  });
  try {
    w.sync([s.endpoint]);
    await until(() => lines.some((l) => String(l['message']).includes('no /queue/watch')));
    for (let i = 0; i < 5; i++) w.sync([s.endpoint]); // every tick re-syncs the same pods
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.hits(), 1);
    assert.equal(lines.filter((l) => String(l['message']).includes('no /queue/watch')).length, 1);
    assert.equal(lines.find((l) => String(l['message']).includes('no /queue/watch'))?.['level'], 'info');
  } finally {
    await w.close();
    s.server.close();
  }
});
