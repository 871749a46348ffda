// Child process of `npm run bench:scaler`: N HTTP servers on 127.0.0.1, each answering GET /queue
// with the body an interceptor with R routes sends (written by the interceptor's own codec). It
// runs in its own process so the scaler's CPU per tick is measured alone. The bodies are prepared
// up front and alternate between two versions (+5 requests per route), so every tick has real deltas.
// Usage: node hack/bench/scaler-queue-servers.ts <servers> <routes>; prints {"ports":[...]}.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeQueueCounts, type QueueCount } from '../../addon/shared/queue-codec/queue-body.ts';

const servers = Number(process.argv[2] ?? 50);
const routes = Number(process.argv[3] ?? 10_000);

function body(pod: number, bump: number): Buffer {
  const counts = new Map<string, QueueCount>();
  for (let r = 0; r < routes; r++) {
    const key = `ns-${String(r % 100).padStart(3, '0')}/route-${String(r).padStart(5, '0')}`;
    const concurrency = (r + pod) % 7 === 0 ? (r % 5) + 1 : 0;
    counts.set(key, { Concurrency: concurrency, RequestCount: 1_000 + r + bump });
  }
  return Buffer.from(encodeQueueCounts(counts));
}

const ports: number[] = [];
for (let s = 0; s < servers; s++) {
  const versions = [body(s, 0), body(s, 5)];
  let n = 0;
  const server = http.createServer((req, res) => {
    if (req.url !== '/queue') {
      res.writeHead(404).end();
      return;
    }
    const b = versions[n++ % 2] as Buffer;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length });
    res.end(b);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ports.push((server.address() as AddressInfo).port);
}
process.stdout.write(`${JSON.stringify({ ports, bodyBytes: body(0, 0).length })}\n`);
process.on('SIGTERM', () => process.exit(0));
