// Smoke tests proving the harness is a real control plane: CEL validation, server-side apply
// conflicts, watches that survive an API server restart, and kube-controller-manager at work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { serviceCidrFor } from '../../hack/cluster/control-plane.ts';
import { testCluster, testClusterDir } from '../harness/cluster.ts';

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

test('a CRD with a CEL rule refuses an invalid object with the rule message', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const group = `smoke${process.pid}.example.com`;
  await c.kubectlOk(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `ranges.${group}` },
      spec: {
        group,
        names: { kind: 'Range', plural: 'ranges', singular: 'range' },
        scope: 'Namespaced',
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: {
                    type: 'object',
                    properties: { min: { type: 'integer' }, max: { type: 'integer' } },
                    'x-kubernetes-validations': [
                      { rule: 'self.min <= self.max', message: 'min must not exceed max' },
                    ],
                  },
                },
              },
            },
          },
        ],
      },
    }),
  );
  t.after(() => c.kubectl(['delete', 'crd', `ranges.${group}`, '--wait=false']));
  await c.kubectlOk(['wait', '--for=condition=Established', '--timeout=30s', `crd/ranges.${group}`]);
  const obj = (min: number, max: number): string =>
    JSON.stringify({
      apiVersion: `${group}/v1`,
      kind: 'Range',
      metadata: { name: `r${min}-${max}`, namespace: ns },
      spec: { min, max },
    });

  await eventually('the new kind to be served', async () =>
    (await c.kubectl(['apply', '-f', '-'], obj(1, 2))).code === 0 ? true : undefined,
  );
  const bad = await c.kubectl(['apply', '-f', '-'], obj(5, 2));
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /min must not exceed max/);
});

test('server-side apply: a second manager changing an owned field gets 409 unless it forces', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const objects = k8s.KubernetesObjectApi.makeApiClient(c.kc);
  const cm = (value: string): k8s.KubernetesObject & { data: Record<string, string> } => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'owned', namespace: ns },
    data: { key: value },
  });
  await objects.patch(
    cm('first'),
    undefined,
    undefined,
    'manager-a',
    true,
    k8s.PatchStrategy.ServerSideApply,
  );

  await assert.rejects(
    objects.patch(cm('second'), undefined, undefined, 'manager-b', false, k8s.PatchStrategy.ServerSideApply),
    (err: unknown) => {
      assert.ok(err instanceof k8s.ApiException, `expected ApiException, got ${String(err)}`);
      assert.equal(err.code, 409);
      assert.match(String(err.body), /conflict/i);
      assert.match(String(err.body), /manager-a/);
      return true;
    },
  );
  const forced = (await objects.patch(
    cm('second'),
    undefined,
    undefined,
    'manager-b',
    true,
    k8s.PatchStrategy.ServerSideApply,
  )) as k8s.V1ConfigMap;
  assert.equal(forced.data?.key, 'second');
  const managers = forced.metadata?.managedFields?.map((f) => f.manager) ?? [];
  assert.ok(managers.includes('manager-b'), `managedFields names manager-b: ${managers.join(',')}`);
});

test('an informer sees add, update and delete, and recovers after the API server restarts', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const core = c.kc.makeApiClient(k8s.CoreV1Api);
  const informer = k8s.makeInformer<k8s.V1ConfigMap>(c.kc, `/api/v1/namespaces/${ns}/configmaps`, () =>
    core.listNamespacedConfigMap({ namespace: ns }),
  );
  const events: string[] = [];
  informer.on('add', (o) => events.push(`add ${o.metadata?.name}`));
  informer.on('update', (o) => events.push(`update ${o.metadata?.name} ${o.data?.v}`));
  informer.on('delete', (o) => events.push(`delete ${o.metadata?.name}`));
  // client-node stops an informer on any error other than 410; restart it, as a controller must.
  let stopped = false;
  informer.on('error', () => {
    if (!stopped) setTimeout(() => void informer.start().catch(() => undefined), 500);
  });
  await informer.start();
  t.after(async () => {
    stopped = true;
    await informer.stop();
  });
  const seen = (e: string): Promise<true> =>
    eventually(`informer event "${e}" (seen: ${events.join('; ')})`, async () =>
      events.includes(e) ? true : undefined,
    );

  await core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'a' }, data: { v: '1' } },
  });
  await seen('add a');
  await core.patchNamespacedConfigMap(
    { name: 'a', namespace: ns, body: { data: { v: '2' } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
  await seen('update a 2');
  await core.deleteNamespacedConfigMap({ name: 'a', namespace: ns });
  await seen('delete a');

  await c.local.restartApiServer(1000);
  await core.createNamespacedConfigMap({
    namespace: ns,
    body: { metadata: { name: 'after-restart' }, data: { v: '1' } },
  });
  await seen('add after-restart');
});

test('kube-controller-manager turns a Deployment into a ReplicaSet and Pods, and garbage-collects them', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const apps = c.kc.makeApiClient(k8s.AppsV1Api);
  const core = c.kc.makeApiClient(k8s.CoreV1Api);
  await eventually('the default ServiceAccount in the new namespace', () =>
    core.readNamespacedServiceAccount({ name: 'default', namespace: ns }),
  );
  await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'example.invalid/web:1' }] },
        },
      },
    },
  });
  const rs = await eventually('a ReplicaSet', async () => {
    const list = await apps.listNamespacedReplicaSet({ namespace: ns });
    return list.items[0];
  });
  assert.equal(rs.metadata?.ownerReferences?.[0]?.kind, 'Deployment');
  const pods = await eventually('two Pods', async () => {
    const list = await core.listNamespacedPod({ namespace: ns });
    return list.items.length === 2 ? list.items : undefined;
  });
  for (const p of pods) {
    assert.equal(p.metadata?.ownerReferences?.[0]?.name, rs.metadata?.name);
    assert.equal(p.status?.phase, 'Pending', 'no kubelet here, so pods stay Pending');
  }

  await apps.deleteNamespacedDeployment({ name: 'web', namespace: ns, propagationPolicy: 'Background' });
  await eventually('the ReplicaSet and Pods to be garbage-collected', async () => {
    const [r, p] = await Promise.all([
      apps.listNamespacedReplicaSet({ namespace: ns }),
      core.listNamespacedPod({ namespace: ns }),
    ]);
    return r.items.length === 0 && p.items.every((x) => x.metadata?.deletionTimestamp) ? true : undefined;
  });
});

test("Services get ClusterIPs from the cluster's own range, so concurrent clusters never share one", async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  await c.kubectlOk(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'ranged', namespace: ns },
      spec: { ports: [{ port: 80 }] },
    }),
  );
  const ip = await c.kubectlOk(['get', 'service', 'ranged', '-n', ns, '-o', 'jsonpath={.spec.clusterIP}']);
  const [base, bits] = serviceCidrFor(testClusterDir).split('/');
  const toInt = (a: string): number => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  const mask = 2 ** 32 - 2 ** (32 - Number(bits));
  assert.equal((toInt(ip) & mask) >>> 0, toInt(base ?? ''), `${ip} in ${serviceCidrFor(testClusterDir)}`);
});
