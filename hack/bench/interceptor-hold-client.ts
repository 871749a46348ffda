// Opens N requests at once against a cold route and reports when each one is answered, for the
// "10,000 held requests" part of `npm run bench:interceptor`. Runs as its own process (own core and
// file-descriptor budget). Prints "sent <n>" once every request is on the wire, then one JSON line.
//   node hack/bench/interceptor-hold-client.ts <url> <host> <n> <timeoutMs>
import http from 'node:http';

const [url, host, nText, timeoutText] = process.argv.slice(2);
const n = Number(nText);
const timeoutMs = Number(timeoutText ?? 60_000);
const statuses: Record<string, number> = {};
let last = 0;
let done = 0;
let sent = 0;

const finish = (): void => {
  process.stdout.write(`${JSON.stringify({ statuses, lastAnsweredAt: last, answered: done })}\n`);
  process.exit(0);
};
setTimeout(finish, timeoutMs).unref();

for (let i = 0; i < n; i++) {
  const req = http.request(url ?? '', { headers: { host }, agent: false }, (res) => {
    res.resume();
    res.on('end', () => {
      statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
      last = Date.now();
      if (++done === n) finish();
    });
  });
  req.on('error', (err: NodeJS.ErrnoException) => {
    statuses[err.code ?? 'error'] = (statuses[err.code ?? 'error'] ?? 0) + 1;
    if (++done === n) finish();
  });
  // Counted as sent once its request head is flushed to the socket.
  req.on('socket', (s) =>
    s.once('connect', () => {
      if (++sent === n) process.stdout.write(`sent ${n}\n`);
    }),
  );
  req.end();
}
