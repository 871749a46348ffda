// Opens N requests at once against a cold route and reports when each one is answered, for the
// "10,000 held requests" part of `npm run bench:interceptor`. Runs as its own process (own core and
// file-descriptor budget). Prints "sent <n>" once every request is on the wire, then one JSON line.
//   node hack/bench/interceptor-hold-client.ts <url> <host> <n> <timeoutMs> [keep-alive|close]
//
// One raw TCP connection per request, written and read without node:http: this client shares its
// core with the backend, and node:http's client objects cost about 60 µs per response there, more
// than half of the 1 s budget for 10,000. A request is answered when its whole response (status
// line, headers, Content-Length or chunked body) has arrived. "keep-alive" (the HTTP/1.1 default,
// what browsers and HTTP libraries send) leaves the connection open afterwards; "close" sends
// Connection: close, so the proxy also closes each connection as it answers.
import net from 'node:net';

const [url, host, nText, timeoutText, modeText] = process.argv.slice(2);
const target = new URL(url ?? '');
const n = Number(nText);
const timeoutMs = Number(timeoutText ?? 60_000);
const close = modeText === 'close';
const request = Buffer.from(
  `GET ${target.pathname} HTTP/1.1\r\nHost: ${host}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`,
  'latin1',
);
const statuses: Record<string, number> = {};
let first = 0;
let last = 0;
let done = 0;
let sent = 0;

const finish = (): void => {
  process.stdout.write(
    `${JSON.stringify({ statuses, firstAnsweredAt: first, lastAnsweredAt: last, answered: done })}\n`,
  );
  process.exit(0);
};
setTimeout(finish, timeoutMs).unref();

const count = (status: string): void => {
  statuses[status] = (statuses[status] ?? 0) + 1;
  if (++done === n) finish();
};

/** Whether `buf` holds one complete response; its status code if so. */
function complete(buf: Buffer): string | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const head = buf.toString('latin1', 0, end).toLowerCase();
  const status = head.slice(9, 12);
  const length = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (length) return buf.length - (end + 4) >= Number(length[1]) ? status : undefined;
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(head))
    return buf.subarray(buf.length - 5).toString('latin1') === '0\r\n\r\n' ? status : undefined;
  return undefined; // no length: complete at the connection's end
}

for (let i = 0; i < n; i++) {
  const socket = net.connect(Number(target.port), target.hostname);
  let buf: Buffer = Buffer.alloc(0);
  let answered = false;
  socket.once('connect', () => {
    socket.write(request);
    if (++sent === n) process.stdout.write(`sent ${n}\n`);
  });
  socket.on('data', (chunk: Buffer) => {
    if (answered) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const status = complete(buf);
    if (status === undefined) return;
    answered = true;
    last = Date.now();
    if (first === 0) first = last;
    count(status);
  });
  socket.once('end', () => {
    if (answered) return;
    answered = true;
    if (buf.length > 0) last = Date.now();
    count(buf.length > 0 ? buf.toString('latin1', 9, 12) : 'closed without a response');
  });
  socket.once('error', (err: NodeJS.ErrnoException) => {
    if (answered) return;
    answered = true;
    count(err.code ?? 'error');
  });
}
