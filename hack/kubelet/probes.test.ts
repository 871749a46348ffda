// The process kubelet's probes against real servers on loopback: HTTP status ranges, named ports,
// TCP, the gRPC health check with a service name, timeouts, and the threshold logic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { probeOnce, runProbe } from './probes.ts';
import type { Container } from './types.ts';

const container: Container = { name: 'app', image: 'x', ports: [{ name: 'admin', containerPort: 0 }] };

async function httpServer(status: () => number, delayMs = 0): Promise<{ port: number; close(): void }> {
  const server = http.createServer((_req, res) => setTimeout(() => res.writeHead(status()).end(), delayMs));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

test('httpGet: 200-399 succeed, other codes fail with the status in the message', async (t) => {
  let code = 200;
  const s = await httpServer(() => code);
  t.after(() => s.close());
  const probe = { httpGet: { path: '/readyz', port: s.port } };
  assert.deepEqual(await probeOnce(probe, container, '127.0.0.1'), { ok: true });
  code = 302;
  assert.deepEqual(await probeOnce(probe, container, '127.0.0.1'), { ok: true });
  code = 503;
  const r = await probeOnce(probe, container, '127.0.0.1');
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.message : '', /statuscode: 503/);
});

test('httpGet on a named port uses the container port of that name', async (t) => {
  const s = await httpServer(() => 200);
  t.after(() => s.close());
  const named: Container = { ...container, ports: [{ name: 'admin', containerPort: s.port }] };
  assert.deepEqual(await probeOnce({ httpGet: { port: 'admin' } }, named, '127.0.0.1'), { ok: true });
  const r = await probeOnce({ httpGet: { port: 'nope' } }, named, '127.0.0.1');
  assert.match(!r.ok ? r.message : '', /no port named nope/);
});

test('a probe slower than timeoutSeconds fails', async (t) => {
  const s = await httpServer(() => 200, 1500);
  t.after(() => s.close());
  const r = await probeOnce({ httpGet: { port: s.port }, timeoutSeconds: 1 }, container, '127.0.0.1');
  assert.equal(r.ok, false);
});

test('tcpSocket succeeds on a listener and fails on a closed port', async (t) => {
  const s = await httpServer(() => 200);
  t.after(() => s.close());
  assert.deepEqual(await probeOnce({ tcpSocket: { port: s.port } }, container, '127.0.0.1'), { ok: true });
  s.close();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await probeOnce({ tcpSocket: { port: s.port } }, container, '127.0.0.1')).ok, false);
});

test('grpc asks grpc.health.v1 for the named service and needs SERVING', async (t) => {
  const health = new HealthImplementation({ readiness: 'NOT_SERVING', liveness: 'SERVING' });
  const server = new grpc.Server();
  health.addToServer(server);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  t.after(() => server.forceShutdown());
  assert.deepEqual(await probeOnce({ grpc: { port, service: 'liveness' } }, container, '127.0.0.1'), {
    ok: true,
  });
  const notServing = await probeOnce({ grpc: { port, service: 'readiness' } }, container, '127.0.0.1');
  assert.match(!notServing.ok ? notServing.message : '', /NOT_SERVING/);
  health.setStatus('readiness', 'SERVING');
  assert.deepEqual(await probeOnce({ grpc: { port, service: 'readiness' } }, container, '127.0.0.1'), {
    ok: true,
  });
  const unknown = await probeOnce({ grpc: { port, service: 'other' } }, container, '127.0.0.1');
  assert.equal(unknown.ok, false);
});

test('exec probes are refused with a message saying why', async () => {
  const r = await probeOnce({ exec: { command: ['true'] } }, container, '127.0.0.1');
  assert.match(!r.ok ? r.message : '', /exec needs a container/);
});

test('runProbe flips only after failureThreshold failures and successThreshold successes', async (t) => {
  let code = 200;
  const s = await httpServer(() => code);
  t.after(() => s.close());
  const changes: boolean[] = [];
  const stop = runProbe(
    { httpGet: { port: s.port }, periodSeconds: 0.05, failureThreshold: 3, successThreshold: 2 },
    container,
    '127.0.0.1',
    (healthy) => changes.push(healthy),
  );
  t.after(stop);
  const until = async (n: number): Promise<void> => {
    for (let i = 0; i < 100 && changes.length < n; i++) await new Promise((r) => setTimeout(r, 20));
  };
  await until(1);
  assert.deepEqual(changes, [true]);
  code = 500;
  await until(2);
  assert.deepEqual(changes, [true, false]);
  code = 200;
  await until(3);
  assert.deepEqual(changes, [true, false, true]);
});
