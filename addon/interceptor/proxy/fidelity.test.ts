// Proxy fidelity through real sockets: a real backend, the real interceptor, real clients.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { once } from 'node:events';
import { WebSocketServer, WebSocket } from 'ws';
import {
  endpointSlice,
  interceptorRoute,
  request,
  service,
  startBackend,
  startTestInterceptor,
  type Backend,
  type TestInterceptor,
} from '../testing/harness.ts';

let backend: Backend;
let h2Backend: { port: number; close(): Promise<void> };
let ic: TestInterceptor;
let lastRequest: http.IncomingMessage | undefined;

before(async () => {
  backend = await startBackend((req, res) => {
    lastRequest = req;
    const url = req.url ?? '/';
    if (url.startsWith('/sse')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      setTimeout(() => res.end('data: second\n\n'), 400);
      return;
    }
    if (url.startsWith('/trailers')) {
      res.writeHead(200, { trailer: 'x-checksum', 'content-type': 'text/plain' });
      res.write('body');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end();
      return;
    }
    if (url.startsWith('/echo')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    if (url.startsWith('/hop')) {
      res.writeHead(200, {
        connection: 'x-private',
        'x-private': 'secret',
        'keep-alive': 'timeout=5',
        'x-kept': '1',
      });
      res.end('ok');
      return;
    }
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.end(JSON.stringify({ url, headers: req.headers, version: req.httpVersion }));
  });
  const wss = new WebSocketServer({ server: backend.server, path: '/ws' });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${String(m)}`)));

  const h2 = http2.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({ version: req.httpVersion, authority: req.headers[':authority'], path: req.url }),
    );
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
  h2Backend = {
    port: (h2.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => h2.close(() => r())),
  };
  ic = await startTestInterceptor([
    interceptorRoute('app', {
      target: { service: 'app', portName: 'http' },
      rules: [{ hosts: ['app.test'] }],
    }),
    service('app', [{ name: 'http', port: 80 }]),
    endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port),
    interceptorRoute('grpcish', { target: { service: 'h2', port: 81 }, rules: [{ hosts: ['h2.test'] }] }),
    service('h2', [{ name: 'h2c', port: 81, appProtocol: 'kubernetes.io/h2c' }]),
    endpointSlice('h2', [{ ip: '127.0.0.1' }], h2Backend.port, 'h2c'),
  ]);
});

after(async () => {
  await ic.close();
  await backend.close();
  await h2Backend.close();
});

test('Host, path, raw query and method reach the backend unchanged', async () => {
  const r = await request(ic.url('/a%2Fb/c?x=1&y=%20z&x=2'), {
    method: 'PATCH',
    headers: { host: 'app.test:8080' },
  });
  assert.equal(r.status, 200);
  const seen = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, '/a%2Fb/c?x=1&y=%20z&x=2');
  assert.equal(seen.headers['host'], 'app.test:8080');
  assert.equal(lastRequest?.method, 'PATCH');
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
});

test('X-Forwarded-For is appended; incoming X-Forwarded-Host/Proto are kept, otherwise set', async () => {
  let r = await request(ic.url('/'), { headers: { host: 'app.test' } });
  let h = (JSON.parse(r.body) as { headers: Record<string, string> }).headers;
  assert.equal(h['x-forwarded-for'], '127.0.0.1');
  assert.equal(h['x-forwarded-host'], 'app.test');
  assert.equal(h['x-forwarded-proto'], 'http');
  r = await request(ic.url('/'), {
    headers: {
      host: 'app.test',
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-host': 'public.example',
      'x-forwarded-proto': 'https',
      'x-forwarded-port': '443',
    },
  });
  h = (JSON.parse(r.body) as { headers: Record<string, string> }).headers;
  assert.equal(h['x-forwarded-for'], '10.0.0.1, 127.0.0.1');
  assert.equal(h['x-forwarded-host'], 'public.example');
  assert.equal(h['x-forwarded-proto'], 'https');
  assert.equal(h['x-forwarded-port'], '443');
});

test('hop-by-hop headers are dropped both ways, including those named in Connection', async () => {
  const r = await request(ic.url('/'), {
    headers: {
      host: 'app.test',
      connection: 'keep-alive, x-hop',
      'x-hop': '1',
      'proxy-authorization': 'x',
      te: 'gzip',
      'x-end': '2',
    },
  });
  const h = (JSON.parse(r.body) as { headers: Record<string, string> }).headers;
  assert.equal(h['x-hop'], undefined);
  assert.equal(h['proxy-authorization'], undefined);
  assert.equal(h['te'], undefined);
  assert.equal(h['x-end'], '2');
  const back = await request(ic.url('/hop'), { headers: { host: 'app.test' } });
  assert.equal(back.headers['x-private'], undefined);
  assert.equal(back.headers['x-kept'], '1');
});

test('request bodies stream to the backend and back (1 MiB, chunked)', async () => {
  const big = Buffer.alloc(1 << 20, 'abcdefgh');
  const r = await new Promise<Buffer>((resolve, reject) => {
    const req = http.request(
      ic.url('/echo'),
      { method: 'POST', headers: { host: 'app.test' }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      },
    );
    req.on('error', reject);
    req.write(big.subarray(0, 1000));
    setTimeout(() => req.end(big.subarray(1000)), 50);
  });
  assert.equal(r.length, big.length);
  assert.ok(r.equals(big));
});

test('server-sent events are flushed at once, not buffered until the end', async () => {
  const t0 = performance.now();
  const firstChunkAt = await new Promise<number>((resolve, reject) => {
    const req = http.get(ic.url('/sse'), { headers: { host: 'app.test' }, agent: false }, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream');
      res.once('data', () => {
        const at = performance.now() - t0;
        res.on('end', () => resolve(at)); // read to the end so the request is no longer counted
      });
      res.resume();
    });
    req.on('error', reject);
  });
  assert.ok(firstChunkAt < 300, `first event after ${firstChunkAt.toFixed(0)} ms (backend ends at 400 ms)`);
});

test('trailers are forwarded', async () => {
  const r = await request(ic.url('/trailers'), { headers: { host: 'app.test' } });
  assert.equal(r.body, 'body');
  assert.equal(r.trailers['x-checksum'], 'abc123');
});

test('WebSocket upgrade: text echo through the interceptor, counted while open', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${ic.running.proxyPort}/ws`, { headers: { host: 'app.test' } });
  await once(ws, 'open');
  assert.equal(ic.running.queue.get('default/app')?.Concurrency, 1);
  ws.send('hello');
  const [msg] = (await once(ws, 'message')) as [Buffer];
  assert.equal(String(msg), 'echo:hello');
  ws.close();
  await once(ws, 'close');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(ic.running.queue.get('default/app')?.Concurrency, 0);
});

test('inbound h2c with prior knowledge on the plain port', async () => {
  const client = http2.connect(ic.url('/'));
  try {
    const s = client.request({ ':path': '/h2in?q=1', ':authority': 'app.test' });
    let body = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (body += c));
    const [headers] = (await once(s, 'response')) as [http2.IncomingHttpHeaders];
    await once(s, 'end');
    assert.equal(headers[':status'], 200);
    const seen = JSON.parse(body) as { url: string; headers: Record<string, string>; version: string };
    assert.equal(seen.url, '/h2in?q=1');
    assert.equal(seen.headers['host'], 'app.test');
    assert.equal(seen.version, '1.1', 'the backend is spoken to in HTTP/1.1 unless its port says h2c');
  } finally {
    client.close();
  }
});

test('outbound h2c when the Service port has appProtocol kubernetes.io/h2c', async () => {
  const r = await request(ic.url('/over-h2c'), { headers: { host: 'h2.test' } });
  assert.equal(r.status, 200);
  const seen = JSON.parse(r.body) as { version: string; authority: string; path: string };
  assert.equal(seen.version, '2.0');
  assert.equal(seen.authority, 'h2.test');
  assert.equal(seen.path, '/over-h2c');
});

test('an unknown host gets 404 Not Found and reaches no backend', async () => {
  lastRequest = undefined;
  const r = await request(ic.url('/'), { headers: { host: 'nope.test' } });
  assert.equal(r.status, 404);
  assert.equal(r.body, 'Not Found\n');
  assert.equal(lastRequest, undefined);
});
