// The lean HTTP/1.1 client (h1-client.ts) against undici, byte for byte: the same scripted backend
// answers through a Forwarder on each engine, and what the client receives (and what the backend
// receives) must be identical, for well-formed, unusual and broken backend responses alike.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Forwarder } from './forward.ts';
import { outboundHeaders } from './headers.ts';

type Script = (socket: net.Socket) => void;

const manyHeaders = Array.from({ length: 40 }, (_, i) => `X-H-${i}: v${i}\r\n`).join('');
const scripts: Record<string, Script> = {
  '/cl': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'),
  '/chunked-trailers': (s) =>
    s.write(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n',
    ),
  '/close-delimited': (s) => s.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end'),
  '/http10': (s) => s.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold'),
  '/204': (s) => s.write('HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n'),
  '/304-with-length': (s) => s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'),
  '/early-hints': (s) =>
    s.write('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  '/unsolicited-100': (s) =>
    s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  '/many-headers': (s) =>
    s.write(
      `HTTP/1.1 200 OK\r\n${manyHeaders}Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nConnection: x-private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok`,
    ),
  '/split-head': (s) => {
    s.write(`HTTP/1.1 200 OK\r\n${manyHeaders.slice(0, 100)}`);
    setTimeout(() => s.write(`${manyHeaders.slice(100)}Content-Len`), 20);
    setTimeout(() => s.write('gth: 4\r\n\r\nab'), 40);
    setTimeout(() => s.write('cd'), 60);
  },
  '/garbage': (s) => s.write('NOT HTTP AT ALL\r\n\r\n'),
  '/truncated': (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    setTimeout(() => s.destroy(), 20);
  },
  '/cl-conflict': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok'),
  '/cl-and-te': (s) =>
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'),
  '/bad-header-char': (s) => s.write('HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 2\r\n\r\nok'),
  '/obs-fold': (s) => s.write('HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok'),
  '/never': () => {},
  '/reset': (s) => s.resetAndDestroy(),
  '/big': (s) => {
    const body = Buffer.alloc(2 * 1024 * 1024, 'x');
    s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
    s.write(body);
  },
  '/extra-bytes': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n'),
  '/ka-short-hint': (s) => s.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok'),
  '/echo-head': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
};

let backend: net.Server;
let backendPort = 0;
const heads: string[] = [];
/** Per request received, in order: whether it came on a connection that had served one before. */
const reused: boolean[] = [];
const fronts: { name: string; server: http.Server; port: number; forwarder: Forwarder }[] = [];

before(async () => {
  backend = net.createServer((socket) => {
    let buf = '';
    let served = 0;
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        heads.push(head);
        reused.push(served++ > 0);
        const path = head.split(' ')[1] ?? '';
        (scripts[path.split('?')[0] ?? ''] ?? scripts['/cl'])?.(socket);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  backendPort = (backend.address() as AddressInfo).port;
  for (const name of ['h1-client', 'undici']) {
    const forwarder = new Forwarder({
      connectTimeoutMs: 500,
      maxConnsPerHost: 512,
      forceHttp2: false,
      undiciOnly: name === 'undici',
    });
    const server = http.createServer((req, res) => {
      const port = req.url?.startsWith('/refused') ? 1 : backendPort;
      forwarder.forward(req, res, {
        origin: () => `http://127.0.0.1:${port}`,
        h2c: false,
        headers: outboundHeaders(req.rawHeaders, { clientIp: '127.0.0.1', proto: 'http' }),
        responseHeaderMs: 300,
        signal: undefined,
        retryUntil: performance.now() + 120,
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    fronts.push({ name, server, port: (server.address() as AddressInfo).port, forwarder });
  }
});

after(async () => {
  for (const f of fronts) {
    f.server.closeAllConnections();
    f.server.close();
    await f.forwarder.close();
  }
  backend.close();
});

/** Sends raw requests on one connection and returns everything received until it closes. */
function exchange(port: number, raw: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    const t = setTimeout(() => s.destroy(), timeoutMs);
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      resolve(out.replace(/^Date: .*\r\n/gim, 'Date: -\r\n'));
    });
    s.write(raw);
  });
}

async function both(raw: string): Promise<{ ours: string; undici: string }> {
  const [ours, undici] = await Promise.all(fronts.map((f) => exchange(f.port, raw)));
  return { ours: ours ?? '', undici: undici ?? '' };
}

const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`;

test('every scripted backend response reaches the client exactly as through undici', async () => {
  for (const path of Object.keys(scripts)) {
    const { ours, undici } = await both(get(path));
    assert.equal(ours, undici, `response to ${path}`);
  }
  // The comparison means something: spot checks of what both engines give.
  assert.match((await both(get('/cl'))).ours, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello$/);
  assert.match((await both(get('/chunked-trailers'))).ours, /0\r\nx-sum: 42\r\n\r\n$/);
  assert.match((await both(get('/garbage'))).ours, /^HTTP\/1\.1 502 Bad Gateway/);
  assert.match((await both(get('/unsolicited-100'))).ours, /^HTTP\/1\.1 502 Bad Gateway/);
  assert.match((await both(get('/never'))).ours, /^HTTP\/1\.1 504 Gateway Timeout/);
  assert.match((await both(get('/refused'))).ours, /^HTTP\/1\.1 502 Bad Gateway/);
  assert.match(
    (await both(get('/many-headers'))).ours,
    /x-h-39: v39\r\n[\s\S]*set-cookie: a=1\r\nset-cookie: b=2/,
  );
});

test('the backend receives the same request head from both engines', async () => {
  const requests = [
    get('/echo-head?q=1&r=%20'),
    'DELETE /echo-head HTTP/1.1\r\nHost: app.test\r\nX-Custom: A\r\nConnection: close\r\n\r\n',
    'POST /echo-head HTTP/1.1\r\nHost: app.test\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n',
    'OPTIONS /echo-head HTTP/1.1\r\nHost: app.test\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: close\r\n\r\n',
    'GET /echo-head HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
  ];
  for (const raw of requests) {
    const seen: string[] = [];
    for (const f of fronts) {
      heads.length = 0;
      await exchange(f.port, raw);
      seen.push(heads.join('|'));
    }
    assert.equal(seen[0], seen[1], `request head for ${JSON.stringify(raw.split('\r\n')[0])}`);
    assert.match(
      seen[0] ?? '',
      /^[A-Z]+ \/echo-head\S* HTTP\/1\.1\r\nhost: app\.test\r\nconnection: keep-alive\r\n/,
    );
  }
});

test('keep-alive: connections are reused, except after a short Keep-Alive hint or stray bytes', async () => {
  const keepAlive = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: app.test\r\n\r\n`;
  for (const path of ['/cl', '/ka-short-hint', '/extra-bytes']) {
    const seen: string[] = [];
    for (const f of fronts) {
      // Three requests one after the other on one client connection, with a pause between them.
      reused.length = 0;
      const s = net.connect(f.port, '127.0.0.1');
      s.on('error', () => {});
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve) => {
          s.once('data', () => resolve());
          s.write(keepAlive(path));
        });
        await new Promise((r) => setTimeout(r, 30));
      }
      s.destroy();
      seen.push(reused.slice(1).join());
    }
    // The first request may find a connection left by an earlier test; the next two show the rule.
    assert.deepEqual(
      seen,
      path === '/cl' ? ['true,true', 'true,true'] : ['false,false', 'false,false'],
      path,
    );
  }
});
