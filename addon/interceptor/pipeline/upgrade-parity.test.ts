// WebSocket upgrades go through the same pipeline as requests: the same routing (decoded paths),
// the same fallback Service, the same retry of a refused connection and the same backend TLS
// trust. Real WebSocket clients and servers, through a real interceptor.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { WebSocketServer, WebSocket } from 'ws';
import {
  endpointSlice,
  interceptorRoute,
  refusingPort,
  service,
  startBackend,
  startTestInterceptor,
  type Backend,
} from '../testing/harness.ts';

let primary: Backend;
let fallback: Backend;

function echo(server: http.Server, name: string): void {
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => ws.on('message', (m) => ws.send(`${name}:${req.url}:${String(m)}`)));
}

before(async () => {
  primary = await startBackend((_req, res) => res.end('primary'));
  echo(primary.server, 'primary');
  fallback = await startBackend((_req, res) => res.end('fallback'));
  echo(fallback.server, 'fallback');
});
after(async () => {
  await primary.close();
  await fallback.close();
});

/** Opens a WebSocket, sends one message, and resolves with the reply and the 101's headers. */
async function exchange(
  url: string,
  host: string,
  opts: { ca?: Buffer; servername?: string } = {},
): Promise<{ reply: string; headers: http.IncomingHttpHeaders }> {
  const ws = new WebSocket(url, { headers: { host }, ...opts });
  let headers: http.IncomingHttpHeaders = {};
  ws.once('upgrade', (res: http.IncomingMessage) => (headers = res.headers));
  const failed = new Promise<never>((_, reject) => {
    ws.once('unexpected-response', (_req, res: http.IncomingMessage) =>
      reject(new Error(`answered ${res.statusCode} instead of 101`)),
    );
    ws.once('error', reject);
  });
  try {
    await Promise.race([once(ws, 'open'), failed]);
    ws.send('hi');
    const [msg] = (await Promise.race([once(ws, 'message'), failed])) as [Buffer];
    return { reply: String(msg), headers };
  } finally {
    ws.terminate();
  }
}

test('the path is decoded for routing, as for a request; the 101 carries X-KEDA-HTTP-Cold-Start', async () => {
  const ic = await startTestInterceptor([
    interceptorRoute('app', {
      target: { service: 'app', port: 80 },
      rules: [{ hosts: ['app.test'], paths: [{ value: '/café' }] }],
    }),
    service('app', [{ name: 'http', port: 80 }]),
    endpointSlice('app', [{ ip: '127.0.0.1' }], primary.port),
  ]);
  try {
    const r = await exchange(`ws://127.0.0.1:${ic.running.proxyPort}/caf%C3%A9/socket`, 'app.test');
    assert.equal(r.reply, 'primary:/caf%C3%A9/socket:hi', 'the raw path reaches the backend unchanged');
    assert.equal(r.headers['x-keda-http-cold-start'], 'false');
  } finally {
    await ic.close();
  }
});

test('a cold upgrade goes to the fallback Service after the readiness timeout', async () => {
  const ic = await startTestInterceptor([
    interceptorRoute('app', {
      target: { service: 'app', port: 80 },
      rules: [{ hosts: ['app.test'] }],
      coldStart: { fallback: { service: { name: 'spare', port: 80 } } },
      timeouts: { readiness: '200ms' },
    }),
    service('app', [{ name: 'http', port: 80 }]),
    endpointSlice('app', [{ ip: '127.0.0.1', ready: false }], primary.port),
    service('spare', [{ name: 'http', port: 80 }]),
    endpointSlice('spare', [{ ip: '127.0.0.1' }], fallback.port),
  ]);
  try {
    const t0 = performance.now();
    const r = await exchange(`ws://127.0.0.1:${ic.running.proxyPort}/ws`, 'app.test');
    assert.equal(r.reply, 'fallback:/ws:hi');
    assert.ok(performance.now() - t0 >= 190, 'after the readiness timeout');
    assert.equal(r.headers['x-keda-http-cold-start'], undefined, 'no cold-start header from a fallback');
  } finally {
    await ic.close();
  }
});

test('a refused connection to a just-ready endpoint is retried until it listens', async () => {
  const port = await refusingPort();
  const ic = await startTestInterceptor([
    interceptorRoute('app', {
      target: { service: 'app', port: 80 },
      rules: [{ hosts: ['app.test'] }],
      timeouts: { request: '3s' },
    }),
    service('app', [{ name: 'http', port: 80 }]),
    endpointSlice('app', [{ ip: '127.0.0.1' }], port),
  ]);
  const late = http.createServer();
  echo(late, 'late');
  try {
    setTimeout(() => late.listen(port, '127.0.0.1'), 300);
    const r = await exchange(`ws://127.0.0.1:${ic.running.proxyPort}/ws`, 'app.test');
    assert.equal(r.reply, 'late:/ws:hi');
  } finally {
    late.closeAllConnections();
    late.close();
    await ic.close();
  }
});

test("over the TLS listener, the backend's certificate is trusted exactly as for a request", async () => {
  const dir = new URL('../testing/tls/', import.meta.url).pathname;
  const ca = readFileSync(`${dir}ca.crt`);
  // The backend presents the interceptor's own certificate (SANs include "app.default", svc.ns):
  // trusted because the interceptor loaded it, not because any system root signed it.
  const backend = https.createServer({
    cert: readFileSync(`${dir}tls.crt`),
    key: readFileSync(`${dir}tls.key`),
  });
  backend.on('request', (_req, res: http.ServerResponse) => res.end('https'));
  echo(backend as unknown as http.Server, 'tls');
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const ic = await startTestInterceptor(
    [
      interceptorRoute('app', {
        target: { service: 'app', port: 443 },
        rules: [{ hosts: ['default.test'] }],
      }),
      service('app', [{ name: 'https', port: 443 }]),
      endpointSlice('app', [{ ip: '127.0.0.1' }], (backend.address() as AddressInfo).port, 'https'),
    ],
    {
      KEDA_HTTP_PROXY_TLS_ENABLED: 'true',
      KEDA_HTTP_PROXY_TLS_PORT: '0',
      KEDA_HTTP_PROXY_TLS_CERT_PATH: `${dir}tls.crt`,
      KEDA_HTTP_PROXY_TLS_KEY_PATH: `${dir}tls.key`,
    },
  );
  try {
    const r = await exchange(`wss://127.0.0.1:${ic.running.tlsPort}/secure`, 'default.test', {
      ca,
      servername: 'default.test',
    });
    assert.equal(r.reply, 'tls:/secure:hi');
  } finally {
    await ic.close();
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
  }
});

test('a 101 that switches to another protocol than the one asked for: 502, no tunnel', async () => {
  const odd = await startBackend((_req, res) => res.end('no'));
  odd.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) =>
    socket.end('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'),
  );
  const ic = await startTestInterceptor([
    interceptorRoute('app', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] }),
    service('app', [{ name: 'http', port: 80 }]),
    endpointSlice('app', [{ ip: '127.0.0.1' }], odd.port),
  ]);
  try {
    const answer = await new Promise<string>((resolve, reject) => {
      const s = net.connect(ic.running.proxyPort, '127.0.0.1', () =>
        s.write('GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
      );
      let got = '';
      s.on('data', (c: Buffer) => (got += c.toString('latin1')));
      s.once('close', () => resolve(got));
      s.once('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 502 /);
    assert.match(answer, /Bad Gateway\n$/);
  } finally {
    await ic.close();
    await odd.close();
  }
});

test('a held upgrade whose client leaves frees its hold slot and count at once', async () => {
  const ic = await startTestInterceptor([
    interceptorRoute('app', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] }),
    service('app', [{ name: 'http', port: 80 }]),
    endpointSlice('app', [{ ip: '127.0.0.1', ready: false }], primary.port),
  ]);
  try {
    const s = net.connect(ic.running.proxyPort, '127.0.0.1', () =>
      s.write('GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
    );
    s.on('error', () => {});
    const waiting = (): number => ic.running.ready.waiting;
    for (let i = 0; i < 100 && waiting() !== 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(waiting(), 1);
    assert.equal(ic.running.queue.get('default/app')?.Concurrency, 1);
    s.destroy();
    for (let i = 0; i < 30 && waiting() !== 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(waiting(), 0);
    assert.equal(ic.running.queue.get('default/app')?.Concurrency, 0);
  } finally {
    await ic.close();
  }
});
