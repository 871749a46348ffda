// The interceptor's backend connections against real backends, through a real interceptor: a
// keep-alive connection the backend closed while idle never costs a request, a request whose body
// went out is never replayed, slow uploads do not take every connection of a capped backend, and
// the Keep-Alive hint and the idle timeout retire connections before the backend does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  endpointSlice,
  interceptorRoute,
  request,
  service,
  startBackend,
  startTestInterceptor,
  type Obj,
} from '../testing/harness.ts';
import { readConfig } from '../config.ts';
import { internalsEnvNames } from '../internals/switches.ts';

/** What a raw backend saw: requests by path, connections opened. */
interface RawBackend {
  port: number;
  hits: Map<string, number>;
  connections: () => number;
  close(): Promise<void>;
}

/**
 * A backend that closes a keep-alive connection `idleCloseMs` after its last response unless another
 * request arrives, and says nothing about it (no Keep-Alive header), as many servers do. A new
 * connection gets 5 s for its first request. `/hang-after-body` reads the whole request and then
 * closes the connection without answering.
 */
async function rawBackend(idleCloseMs: number, extraHeaders = ''): Promise<RawBackend> {
  const hits = new Map<string, number>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    let idle: NodeJS.Timeout | undefined;
    const armIdle = (ms = idleCloseMs): void => {
      clearTimeout(idle);
      idle = setTimeout(() => socket.destroy(), ms);
    };
    armIdle(5000);
    socket.on('close', () => clearTimeout(idle));
    socket.on('data', (chunk: Buffer) => {
      clearTimeout(idle);
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.subarray(0, end).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.subarray(end + 4 + length);
        const path = head.split(' ')[1] ?? '';
        hits.set(path, (hits.get(path) ?? 0) + 1);
        if (path.split('?')[0] === '/hang-after-body') {
          socket.destroy();
          return;
        }
        socket.write(`HTTP/1.1 200 OK\r\n${extraHeaders}Content-Length: 2\r\n\r\nok`);
        armIdle();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    connections: () => connections,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const objects = (port: number): Obj[] => [
  interceptorRoute('app', { target: { service: 'app', portName: 'http' }, rules: [{ hosts: ['app.test'] }] }),
  service('app', [{ name: 'http', port: 80 }]),
  endpointSlice('app', [{ ip: '127.0.0.1' }], port),
];
const host = { host: 'app.test' };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** One keep-alive connection from the client to the interceptor, as a browser or a load balancer has. */
const clientAgent = (): http.Agent => new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(
  url: string,
  agent: http.Agent,
  headers: http.OutgoingHttpHeaders = host,
  method = 'GET',
): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .request(url, { agent, headers, method }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject)
      .end();
  });
}

// Both engines: the lean HTTP/1.1 client (the default) and undici (KEDA_HTTP_INTERNALS_LEAN_HTTP1_CLIENT=false).
for (const [engine, env] of [
  ['lean client', {}],
  ['undici', { KEDA_HTTP_INTERNALS_LEAN_HTTP1_CLIENT: 'false' }],
] as const) {
  test(`${engine}: 300 GETs at gaps around a backend's 30 ms idle close all answer 200`, async () => {
    const backend = await rawBackend(30);
    const ic = await startTestInterceptor(objects(backend.port), env);
    assert.equal(ic.running.forwarder.h1 === undefined, engine === 'undici', 'the engine under test');
    const agent = clientAgent();
    try {
      const statuses = new Map<number, number>();
      for (let i = 0; i < 300; i++) {
        const status = await get(ic.url(`/race-${i}`), agent);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        await sleep(25 + Math.random() * 10);
      }
      assert.deepEqual([...statuses], [[200, 300]]);
      // The race was real: the backend closed connections under the interceptor again and again.
      assert.ok(backend.connections() > 30, `${backend.connections()} backend connections`);
    } finally {
      agent.destroy();
      await ic.close();
      await backend.close();
    }
  });

  test(`${engine}: a POST whose body went out is never replayed`, async () => {
    const backend = await rawBackend(60_000);
    const ic = await startTestInterceptor(objects(backend.port), env);
    try {
      // Warm a keep-alive connection first, so the POST goes out on a reused one.
      const agent = clientAgent();
      assert.equal(await get(ic.url('/warm'), agent), 200);
      agent.destroy();
      const res = await request(ic.url('/hang-after-body'), {
        method: 'POST',
        headers: { ...host, 'content-type': 'text/plain' },
        body: 'charge the card once',
      });
      assert.equal(res.status, 502);
      assert.equal(backend.hits.get('/hang-after-body'), 1);
      // A PUT is idempotent, but its body went out: also not replayed.
      const put = await request(ic.url('/hang-after-body'), {
        method: 'PUT',
        headers: host,
        body: 'x',
      });
      assert.equal(put.status, 502);
      assert.equal(backend.hits.get('/hang-after-body'), 2);
    } finally {
      await ic.close();
      await backend.close();
    }
  });

  test(`${engine}: a bodyless request on a reused connection the backend dropped goes again once, on a new connection, if it is idempotent`, async () => {
    const backend = await rawBackend(60_000);
    const ic = await startTestInterceptor(objects(backend.port), env);
    const agent = clientAgent();
    try {
      const send = async (method: string, path: string, headers: http.OutgoingHttpHeaders = {}) => {
        // A kept-alive connection to reuse, in the pool this kind of request goes through.
        assert.equal(await get(ic.url('/warm'), agent, { ...host, ...headers }, method), 200);
        const res = await request(ic.url(path), { method, headers: { ...host, ...headers } });
        return { method, status: res.status, hits: backend.hits.get(path) ?? 0 };
      };
      // Sent on the reused connection, then once more on a new one, which fails too: 502.
      assert.deepEqual(await send('GET', '/hang-after-body?get'), { method: 'GET', status: 502, hits: 2 });
      assert.deepEqual(await send('DELETE', '/hang-after-body?delete'), {
        method: 'DELETE',
        status: 502,
        hits: 2,
      });
      // Not idempotent and its head went out: once only.
      assert.deepEqual(await send('POST', '/hang-after-body?post'), { method: 'POST', status: 502, hits: 1 });
      // Marked idempotent by the client, as Go's transport honours.
      assert.deepEqual(await send('POST', '/hang-after-body?keyed', { 'idempotency-key': 'k1' }), {
        method: 'POST',
        status: 502,
        hits: 2,
      });
    } finally {
      agent.destroy();
      await ic.close();
      await backend.close();
    }
  });

  test(`${engine}: idle connections close after KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT and after the backend's Keep-Alive hint`, async () => {
    const plain = await rawBackend(60_000);
    // "timeout=3": kept 3 s less a 2 s margin.
    const hinted = await rawBackend(60_000, 'Keep-Alive: timeout=3\r\n');
    const agent = clientAgent();
    const ic = await startTestInterceptor(objects(plain.port), {
      ...env,
      KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT: '200ms',
    });
    try {
      assert.equal(await get(ic.url('/a'), agent), 200);
      assert.equal(await get(ic.url('/b'), agent), 200);
      assert.equal(plain.connections(), 1, 'kept alive within the idle timeout');
      await sleep(700);
      assert.equal(await get(ic.url('/c'), agent), 200);
      assert.equal(plain.connections(), 2, 'a new connection after the idle timeout');
      const ic2 = await startTestInterceptor(objects(hinted.port), env);
      try {
        assert.equal(await get(ic2.url('/a'), agent), 200);
        await sleep(500);
        assert.equal(await get(ic2.url('/b'), agent), 200);
        assert.equal(hinted.connections(), 1, 'kept alive within the hinted lifetime');
        await sleep(2500);
        assert.equal(await get(ic2.url('/c'), agent), 200);
        assert.equal(hinted.connections(), 2, 'a new connection after the hinted lifetime');
      } finally {
        await ic2.close();
      }
    } finally {
      agent.destroy();
      await ic.close();
      await plain.close();
      await hinted.close();
    }
  });

  test(`${engine}: slow uploads do not take the connections other requests need (cap 4)`, async () => {
    const backend = await startBackend((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(`got ${Buffer.concat(chunks).length}`));
    });
    const ic = await startTestInterceptor(objects(backend.port), {
      ...env,
      KEDA_HTTP_MAX_CONNS_PER_HOST: '4',
    });
    const port = Number(new URL(ic.url('/')).port);
    // Four uploads that send a byte every 2 s: each holds a backend connection for minutes.
    const slow = [0, 1, 2, 3].map(() => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write('POST /upload HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\nx');
      });
      s.on('error', () => {});
      const drip = setInterval(() => s.write('x'), 2000);
      s.on('close', () => clearInterval(drip));
      return s;
    });
    try {
      await sleep(300); // the uploads are on their backend connections
      const t0 = performance.now();
      const [getRes, postRes] = await Promise.all([
        request(ic.url('/get'), { headers: host, timeoutMs: 3000 }),
        request(ic.url('/post'), { method: 'POST', headers: host, body: 'small', timeoutMs: 3000 }),
      ]);
      assert.equal(getRes.status, 200);
      assert.equal(postRes.status, 200);
      assert.equal(postRes.body, 'got 5');
      assert.ok(performance.now() - t0 < 1000, `answered in ${(performance.now() - t0).toFixed(0)} ms`);
    } finally {
      for (const s of slow) s.destroy();
      await ic.close();
      await backend.close();
    }
  });

  test(`${engine}: the pool of an address that left the EndpointSlices, or sat idle, is released`, async () => {
    const a = await rawBackend(60_000);
    const b = await rawBackend(60_000);
    const agent = clientAgent();
    const ic = await startTestInterceptor(objects(a.port), {
      ...env,
      KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT: '300ms',
    });
    const originA = `http://127.0.0.1:${a.port}`;
    const originB = `http://127.0.0.1:${b.port}`;
    try {
      assert.equal(await get(ic.url('/a'), agent), 200);
      assert.equal(ic.running.forwarder.pools().get(originA), 1);
      await ic.update(objects(b.port)); // the pod at A is gone
      assert.equal(ic.running.forwarder.pools().get(originA), undefined);
      assert.equal(await get(ic.url('/b'), agent), 200);
      assert.equal(ic.running.forwarder.pools().get(originB), 1);
      for (let i = 0; i < 40 && ic.running.forwarder.pools().has(originB); i++) await sleep(100);
      assert.equal(ic.running.forwarder.pools().get(originB), undefined, 'idle past its timeout');
      assert.equal(ic.running.forwarder.pools().size, 0);
    } finally {
      agent.destroy();
      await ic.close();
      await a.close();
      await b.close();
    }
  });
}

test('KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT: 4 s by default, a Go duration, never 0; the internals switches default to on', () => {
  const base = { KEDA_HTTP_PROXY_PORT: '8080', KEDA_HTTP_ADMIN_PORT: '9090' };
  const { config } = readConfig(base);
  assert.equal(config.backendIdleConnTimeoutMs, 4000);
  // Every piece of the internals layer, each on by default.
  assert.deepEqual(Object.keys(config.internals).sort(), Object.keys(internalsEnvNames).sort());
  assert.ok(Object.values(config.internals).every((on) => on === true));
  assert.equal(
    readConfig({ ...base, KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT: '1500ms' }).config.backendIdleConnTimeoutMs,
    1500,
  );
  assert.throws(
    () => readConfig({ ...base, KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT: '0s' }),
    /KEDA_HTTP_BACKEND_IDLE_CONN_TIMEOUT must be > 0/,
  );
  const off = readConfig({ ...base, KEDA_HTTP_INTERNALS_LEAN_HTTP1_CLIENT: 'false' }).config.internals;
  assert.equal(off.leanHttp1Client, false);
});
