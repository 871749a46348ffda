// Cluster mode: `keda-http scaler --kubeconfig` reads the InterceptorRoute and the admin
// EndpointSlice through a real kube-apiserver (the test harness's local control plane) and polls a
// real interceptor process. The API server refuses loopback addresses in EndpointSlices, so the
// slice names this machine's own interface address (traffic still never leaves the machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { testCluster } from '../harness/cluster.ts';
import { KedaClient, routeRef } from '../../addon/scaler/testing/keda-client.ts';
import {
  startInterceptorProcess,
  startScalerCommand,
  writeObjects,
} from '../../addon/scaler/testing/processes.ts';

async function eventually<T>(
  what: string,
  get: () => Promise<T>,
  ok: (v: T) => boolean,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await get();
      if (ok(v)) return v;
      last = v;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    if (Date.now() > end) assert.fail(`${what}: still ${JSON.stringify(last)} after ${ms}ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('cluster mode: routes and interceptor endpoints from the API server, edits followed', async (t) => {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
  assert.ok(address, 'this test needs a non-loopback IPv4 address on the machine for the EndpointSlice');
  const cluster = await testCluster();
  const ns = await cluster.freshNamespace(t);
  const route = {
    apiVersion: 'http.keda.sh/v1beta1',
    kind: 'InterceptorRoute',
    metadata: { name: 'cold', namespace: ns },
    spec: {
      target: { service: 'app', port: 80 },
      rules: [{ hosts: ['cold.test'] }],
      timeouts: { readiness: '30s' },
      scalingMetric: { concurrency: { targetValue: 3 } },
    },
  };
  const dir = await mkdtemp(join(tmpdir(), 'scaler-cluster-'));
  const file = join(dir, 'interceptor.yaml');
  await writeObjects(file, [
    route,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'app', namespace: ns },
      spec: { ports: [{ port: 80 }] },
    },
  ]);
  const interceptor = await startInterceptorProcess(file);
  t.after(() => interceptor.kill());
  await cluster.kubectlOk(['apply', '-f', '-'], stringify(route));
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'interceptor-admin-1',
      namespace: ns,
      labels: { 'kubernetes.io/service-name': 'interceptor-admin' },
    },
    addressType: 'IPv4',
    ports: [{ name: 'admin', port: interceptor.adminPort }],
    endpoints: [{ addresses: [address], conditions: { ready: true } }],
  };
  await cluster.kubectlOk(['apply', '-f', '-'], stringify(slice));

  const scaler = await startScalerCommand(['--kubeconfig', cluster.kubeconfigPath], {
    KEDA_HTTP_SCALER_TARGET_ADMIN_NAMESPACE: ns,
    KEDA_HTTP_SCALER_TARGET_ADMIN_SERVICE: 'interceptor-admin',
    KEDA_HTTP_SCALER_TARGET_ADMIN_PORT: String(interceptor.adminPort),
    KEDA_HTTP_QUEUE_TICK_DURATION: '200ms',
  });
  t.after(() => scaler.kill());
  const keda = new KedaClient(`127.0.0.1:${scaler.grpcPort}`);
  t.after(() => keda.close());

  await eventually(
    'readiness',
    () => keda.healthStatus('readiness'),
    (s) => s === 'SERVING',
  );
  assert.deepEqual(await keda.metricSpecs(routeRef(ns, 'cold')), [
    { metricName: 'http_cold_concurrency', targetSize: '0', targetSizeFloat: 3 },
  ]);
  const ac = new AbortController();
  void request(`http://127.0.0.1:${interceptor.proxyPort}/`, {
    headers: { host: 'cold.test' },
    signal: ac.signal,
  }).then(
    (r) => r.body.dump(),
    () => {},
  );
  await eventually(
    'held request counted',
    () => keda.metrics(routeRef(ns, 'cold')),
    (v) => v[0]?.metricValueFloat === 1,
  );
  ac.abort();

  // An edit through the API server reaches the scaler; a deletion makes it NotFound, as upstream.
  await cluster.kubectlOk([
    'patch',
    'interceptorroute',
    'cold',
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"spec":{"scalingMetric":{"concurrency":{"targetValue":7}}}}',
  ]);
  await eventually(
    'target edited',
    () => keda.metricSpecs(routeRef(ns, 'cold')),
    (s) => s[0]?.targetSizeFloat === 7,
  );
  await cluster.kubectlOk(['delete', 'interceptorroute', 'cold', '-n', ns]);
  await eventually(
    'route deleted',
    () =>
      keda.metricSpecs(routeRef(ns, 'cold')).then(
        () => 'still there',
        (err: Error) => err.message,
      ),
    (m) => m.includes('interceptorroutes.http.keda.sh "cold" not found'),
  );
  // The interceptor leaves the EndpointSlice: no endpoint, health goes NOT_SERVING.
  await cluster.kubectlOk(['delete', 'endpointslice', 'interceptor-admin-1', '-n', ns]);
  await eventually(
    'readiness down',
    () => keda.healthStatus('readiness'),
    (s) => s === 'NOT_SERVING',
  );
  assert.equal(await scaler.terminate(), 0);
});
