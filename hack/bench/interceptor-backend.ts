// The trivial backend every interceptor benchmark proxies to: answers "ok" on any path, on 127.0.0.1.
// Run as its own process (pinned by the benchmark) so it never shares a core with the proxy under test.
//   node hack/bench/interceptor-backend.ts [port]     prints the port it listens on
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const body = Buffer.from('ok');
const server = http.createServer({ keepAliveTimeout: 120_000 }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.maxConnections = 100_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', 4096, () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
