// The controller runtime against the real control plane: informer caching and watch recovery,
// duplicate collapsing under a burst of updates, retry with backoff, and leader election.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { kinds } from '../../addon/api/kinds.ts';
import type { KubeObject } from '../../addon/api/meta.ts';
import { KubeClient } from '../../addon/runtime/client.ts';
import { Informer } from '../../addon/runtime/informer.ts';
import { leaseKind, type Lease } from '../../addon/runtime/leader-election.ts';
import { Manager } from '../../addon/runtime/manager.ts';
import { sleep } from '../../addon/runtime/sleep.ts';
import { createLogger } from '../../addon/shared/log.ts';
import { createRegistry } from '../../addon/shared/metrics.ts';
import { testCluster } from '../harness/cluster.ts';

const configMapKind = kinds.configMap;
type ConfigMap = KubeObject & { data?: Record<string, string> };

const quietLog = () => createLogger({ component: 'test', level: 'error', stream: new PassThrough() });

async function eventually<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await sleep(50);
  }
}

const configMap = (ns: string, name: string, data: Record<string, string> = {}): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns },
  data,
});

test('the informer caches objects, follows changes, and recovers after its watch is cut', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const client = new KubeClient(c.kc);
  t.after(() => client.close());
  await client.create(configMapKind, configMap(ns, 'before', { a: '1' }));
  const inf = new Informer<ConfigMap>(client, configMapKind, {
    namespace: ns,
    silenceTimeoutMs: 400,
    minBackoffMs: 50,
    resyncPeriodMs: 300,
  });
  const seen: string[] = [];
  inf.on((e) => seen.push(`${e.type}:${e.object.metadata.name}`));
  inf.start();
  t.after(() => inf.stop());
  await inf.synced;
  assert.equal(inf.get(ns, 'before')?.data?.a, '1');

  await client.create(configMapKind, configMap(ns, 'during'));
  await eventually('add event', () => seen.includes('added:during'));
  await client.patch(configMapKind, ns, 'before', { data: { a: '2' } }, 'merge');
  await eventually('update seen in cache', () => inf.get(ns, 'before')?.data?.a === '2');

  // Resync re-announces every cached object, with nothing changed.
  await eventually('resync events', () => seen.includes('resync:before'));

  // The watchdog: nothing happens in this namespace for longer than silenceTimeoutMs, so the watch
  // is restarted; changes made afterwards must still arrive.
  await eventually('watchdog restart', () => inf.watchRestarts >= 1, 5000);
  await client.delete(configMapKind, ns, 'during');
  await eventually('delete event after restart', () => seen.includes('deleted:during'));
  assert.equal(inf.get(ns, 'during'), undefined);
  // kube-root-ca.crt is put in every namespace by kube-controller-manager.
  assert.deepEqual(
    inf
      .list(ns)
      .map((o) => o.metadata.name)
      .filter((n) => n !== 'kube-root-ca.crt'),
    ['before'],
  );
});

test('a burst of 1,000 updates to one object gives far fewer reconciles', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const mgr = new Manager({
    kubeConfig: c.kc,
    log: quietLog(),
    registry: createRegistry({ defaultMetrics: false }),
  });
  t.after(() => mgr.stop());
  await mgr.client.create(configMapKind, configMap(ns, 'hot', { n: '0' }));
  const inf = mgr.informer<ConfigMap>(configMapKind, { namespace: ns });
  let reconciles = 0;
  let lastSeen = '';
  const ctrl = mgr.controller({
    name: 'burst',
    reconcile: async (req) => {
      reconciles++;
      lastSeen = inf.get(req.namespace, req.name)?.data?.n ?? '';
      await sleep(200); // a reconcile costs something; events pile up meanwhile
    },
  });
  ctrl.watch(inf);
  mgr.start();
  await mgr.synced();
  let modified = 0;
  inf.on((e) => {
    if (e.type === 'modified') modified++;
  });
  const burstStart = performance.now();
  for (let batch = 0; batch < 20; batch++) {
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        mgr.client.patch(configMapKind, ns, 'hot', { data: { n: String(batch * 50 + i + 1) } }, 'merge'),
      ),
    );
  }
  const final = (await mgr.client.get<ConfigMap>(configMapKind, ns, 'hot'))?.data?.n;
  await eventually('the last state reconciled', () => lastSeen === final && ctrl.queue.length === 0);
  t.diagnostic(`1000 updates, ${modified} watch events, ${reconciles} reconciles`);
  assert.ok(modified >= 900, `the informer saw the burst (${modified} events)`);
  // One key is never reconciled twice at once and queued duplicates collapse, so a 200 ms reconcile
  // runs at most about once per 200 ms of burst (plus the last pass), however many events arrive.
  // Bounding by the burst's own duration keeps this exact on a loaded machine.
  const bound = Math.ceil((performance.now() - burstStart) / 200) + 2;
  assert.ok(reconciles <= bound, `duplicates collapsed: ${reconciles} reconciles, at most ${bound} expected`);
  assert.ok(reconciles * 5 < modified, `far fewer reconciles (${reconciles}) than events (${modified})`);
});

test('a failing reconcile is retried with backoff until it succeeds', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const registry = createRegistry({ defaultMetrics: false });
  const mgr = new Manager({ kubeConfig: c.kc, log: quietLog(), registry });
  t.after(() => mgr.stop());
  const inf = mgr.informer<ConfigMap>(configMapKind, { namespace: ns });
  const attempts: number[] = [];
  mgr
    .controller({
      name: 'needs-key',
      baseRetryDelayMs: 100,
      reconcile: async (req) => {
        if (req.name !== 'waits') return;
        attempts.push(Date.now());
        // Fails until someone adds the key it needs, as a reconcile waiting on another object would.
        if (!inf.get(req.namespace, req.name)?.data?.ready) throw new Error('not ready yet');
      },
    })
    .watch(inf);
  mgr.start();
  await mgr.client.create(configMapKind, configMap(ns, 'waits'));
  await eventually('four failed attempts', () => attempts.length >= 4);
  const gaps = attempts.slice(1, 4).map((t1, i) => t1 - (attempts[i] ?? 0));
  assert.ok(
    (gaps[1] ?? 0) > (gaps[0] ?? 0) * 1.5 && (gaps[2] ?? 0) > (gaps[1] ?? 0) * 1.5,
    `gaps grow: ${gaps.join(', ')}ms`,
  );
  await mgr.client.patch(configMapKind, ns, 'waits', { data: { ready: 'yes' } }, 'merge');
  await eventually('success recorded', async () =>
    /controller_runtime_reconcile_total\{controller="needs-key",result="success"\} [1-9]/.test(
      await registry.metrics(),
    ),
  );
});

test('a second replica stays passive until the leader lease expires', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const lease = {
    namespace: ns,
    name: 'runtime-test',
    leaseDurationMs: 3000,
    renewDeadlineMs: 2000,
    retryPeriodMs: 250,
  };
  const reconciled: Record<string, number> = { a: 0, b: 0 };
  let lostA = false;
  const replica = (id: 'a' | 'b', releaseOnCancel: boolean) => {
    const mgr = new Manager({
      kubeConfig: c.kc,
      log: quietLog(),
      registry: createRegistry({ defaultMetrics: false }),
      leaderElection: { ...lease, identity: `replica-${id}`, releaseOnCancel },
      onLostLeadership: () => (lostA ||= id === 'a'),
    });
    mgr
      .controller({
        name: `le-${id}`,
        reconcile: async () => {
          reconciled[id] = (reconciled[id] ?? 0) + 1;
        },
      })
      .watch(mgr.informer<ConfigMap>(configMapKind, { namespace: ns }));
    return mgr;
  };
  const a = replica('a', false);
  a.start();
  await eventually('a leads', () => a.isLeader);
  const b = replica('b', true);
  t.after(() => b.stop());
  b.start();
  await b.synced();
  await a.client.create(configMapKind, configMap(ns, 'work'));
  await eventually('a reconciles', () => (reconciled.a ?? 0) > 0);
  await sleep(1500);
  assert.equal(b.isLeader, false);
  assert.equal(reconciled.b, 0, 'the standby reconciled nothing');

  // "Crash" a: stop without releasing the lease. b must wait for the lease to expire.
  const crashedAt = Date.now();
  await a.stop();
  assert.equal(lostA, false, 'a clean stop is not a lost election');
  await eventually('b takes over', () => b.isLeader, 10_000);
  const waited = Date.now() - crashedAt;
  assert.ok(waited >= 2000, `b waited for the lease to expire (${waited}ms)`);
  await a.client.patch(configMapKind, ns, 'work', { data: { x: '1' } }, 'merge').catch(() => undefined);
  await b.client.patch(configMapKind, ns, 'work', { data: { x: '2' } }, 'merge');
  await eventually('b reconciles', () => (reconciled.b ?? 0) > 0);
  const held = await b.client.get<Lease>(leaseKind, ns, 'runtime-test');
  assert.equal(held?.spec?.holderIdentity, 'replica-b');
  assert.equal(held?.spec?.leaseTransitions, 1);

  // A clean stop releases the lease at once.
  await b.stop();
  const released = await new KubeClient(c.kc).get<Lease>(leaseKind, ns, 'runtime-test');
  assert.equal(released?.spec?.holderIdentity, '');
});
