import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { ReadAheadBudget, RequestBody } from './request-body.ts';

let server: http.Server;
let port = 0;
let onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void = () => {};
before(async () => {
  server = http.createServer((req, res) => onRequest(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

/** Sends a POST head with `length` announced, then `chunks` one by one; returns the socket. */
async function post(
  length: number,
  chunks: Buffer[] = [],
): Promise<{ socket: net.Socket; got: () => string }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let got = '';
  socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
  socket.on('error', () => {});
  socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n`);
  for (const c of chunks) socket.write(c);
  return { socket, got: () => got };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('bodyless requests and HTTP/1.x requests already complete get no watch', async () => {
  let body: RequestBody | undefined | null = null;
  onRequest = (req, res) => {
    body = RequestBody.of(req, res, 100);
    res.end();
  };
  const r = await fetch(`http://127.0.0.1:${port}/`);
  await r.text();
  assert.equal(body, undefined);
});

test('a body that stops arriving while it is being read: 408 and Connection: close', async () => {
  let body: RequestBody | undefined;
  onRequest = (req, res) => {
    body = RequestBody.of(req, res, 150);
  };
  const c = await post(100, [Buffer.from('some')]);
  await sleep(600);
  assert.match(c.got(), /^HTTP\/1\.1 408 /);
  assert.match(c.got(), /\r\nconnection: close\r\n/i);
  body?.end();
  c.socket.destroy();
});

test('a socket nobody reads (the consumer pushes back) never counts as a stall', async () => {
  let body: RequestBody | undefined;
  onRequest = (req, res) => {
    body = RequestBody.of(req, res, 100);
  };
  const c = await post(4 << 20, [Buffer.alloc(2 << 20, 97)]);
  await sleep(600);
  assert.equal(c.got(), '', 'no 408 while the interceptor itself is not reading');
  body?.end();
  c.socket.destroy();
});

test('read-ahead stops at the per-request bound and gives every byte back in order', async () => {
  const budget = new ReadAheadBudget(64 << 10, 1 << 20);
  let body: RequestBody | undefined;
  let res: http.ServerResponse | undefined;
  onRequest = (req, r) => {
    res = r;
    body = RequestBody.of(req, r, 0);
    body?.readAhead(budget);
  };
  const total = 256 << 10;
  const payload = Buffer.alloc(total);
  for (let i = 0; i < total; i++) payload[i] = i % 251;
  const c = await post(total, [payload.subarray(0, 128 << 10)]);
  await sleep(200);
  assert.ok(budget.used >= 64 << 10 && budget.used < 128 << 10, `read ahead ${budget.used} bytes`);
  const forwarded = (body as RequestBody).forwardable();
  assert.ok(forwarded);
  assert.equal(budget.used, 0, 'the budget is given back once the bytes move on');
  c.socket.write(payload.subarray(128 << 10));
  const parts: Buffer[] = [];
  for await (const chunk of forwarded) parts.push(chunk as Buffer);
  assert.ok(Buffer.concat(parts).equals(payload));
  res?.end();
  c.socket.destroy();
});

test('read-ahead stops at the total bound across requests; end() gives the bytes back', async () => {
  const budget = new ReadAheadBudget(1 << 20, 32 << 10);
  const bodies: RequestBody[] = [];
  onRequest = (req, r) => {
    const b = RequestBody.of(req, r, 0) as RequestBody;
    b.readAhead(budget);
    bodies.push(b);
  };
  const a = await post(1 << 20, [Buffer.alloc(256 << 10)]);
  await sleep(150);
  const used = budget.used;
  assert.ok(used >= 32 << 10 && used < 256 << 10, `read ahead ${used} bytes`);
  const b = await post(1 << 20, [Buffer.alloc(64 << 10)]);
  await sleep(150);
  assert.ok(
    budget.used - used <= 64 << 10,
    'the second request reads at most one chunk past the full budget',
  );
  for (const body of bodies) body.end();
  assert.equal(budget.used, 0);
  a.socket.destroy();
  b.socket.destroy();
});

test('a client that leaves while its body is read ahead is seen at once', async () => {
  const budget = new ReadAheadBudget();
  let closed = false;
  onRequest = (req, res) => {
    RequestBody.of(req, res, 0)?.readAhead(budget);
    res.on('close', () => (closed = true));
  };
  const c = await post(4 << 20, [Buffer.alloc(512 << 10)]);
  await sleep(150);
  c.socket.destroy();
  await sleep(100);
  assert.ok(closed);
});
