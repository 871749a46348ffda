import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Keda, KubeObject } from '../addon/api/index.ts';
import { annotation, parseAddonConfig, type AddonConfig } from './addon-config.ts';
import {
  applyDue,
  chooseAction,
  desiredObjects,
  installBlocker,
  installedCondition,
  planApply,
  uninstallBlocker,
} from './decide.ts';
import { describeRef, refOf, type ObjectRef } from './inventory.ts';

function keda(
  name: string,
  created: string,
  annotations: Record<string, string> = {},
  deleting = false,
): Keda {
  return {
    apiVersion: 'operator.kyma-project.io/v1alpha1',
    kind: 'Keda',
    metadata: {
      name,
      namespace: 'kyma-system',
      uid: `uid-${name}`,
      creationTimestamp: created,
      annotations,
      ...(deleting ? { deletionTimestamp: '2026-01-02T00:00:00Z' } : {}),
    },
    spec: {},
  };
}
const enabled = { [annotation.enabled]: 'true' };
const someRef: ObjectRef = { apiVersion: 'v1', kind: 'Service', namespace: 'kyma-system', name: 'x' };

function config(a: Record<string, string>): AddonConfig {
  const r = parseAddonConfig({ ...enabled, ...a });
  assert.ok(r.ok, r.ok ? '' : r.errors.join('; '));
  return r.config;
}
const owner = { owner: { namespace: 'kyma-system', name: 'default' } };
const describe = (refs: readonly ObjectRef[]): string[] => refs.map(describeRef).sort();
const envoyFilterRef: ObjectRef = {
  apiVersion: 'networking.istio.io/v1alpha3',
  kind: 'EnvoyFilter',
  namespace: 'istio-system',
  name: 'keda-add-ons-http-cold-start-retry',
};

test('chooseAction: deleting first, then who is served, then the annotations', () => {
  const oldest = keda('a', '2026-01-01T00:00:00Z', enabled);
  const newer = keda('b', '2026-01-01T00:00:01Z', enabled);
  assert.deepEqual(chooseAction(keda('a', '2026-01-01T00:00:00Z', enabled, true), [oldest], []), {
    kind: 'uninstall',
    why: 'deleting',
  });
  const notServed = chooseAction(newer, [newer, oldest], []);
  assert.equal(notServed.kind, 'notServed');
  assert.equal(notServed.kind === 'notServed' && notServed.served.metadata.name, 'a');
  assert.deepEqual(chooseAction(newer, [newer, oldest], [someRef]), { kind: 'uninstall', why: 'disabled' });
  const invalid = chooseAction(keda('a', 't', { [annotation.enabled]: 'yes' }), [], []);
  assert.equal(invalid.kind, 'invalid');
  assert.deepEqual(chooseAction(keda('a', 't', {}), [], []), { kind: 'uninstall', why: 'disabled' });
  const install = chooseAction(oldest, [oldest, newer], []);
  assert.equal(install.kind, 'install');
});

test('installBlocker: KEDA core missing, then a namespace being deleted', () => {
  assert.match(installBlocker(false, 'ns', 'present')?.message ?? '', /KEDA core is not installed/);
  assert.match(installBlocker(true, 'ns', 'deleting')?.message ?? '', /namespace ns is being deleted/);
  assert.equal(installBlocker(true, 'ns', 'missing'), undefined);
  assert.equal(installBlocker(true, 'ns', 'present'), undefined);
});

test('unknown route hosts keep the EnvoyFilter applied earlier: neither re-rendered nor pruned', () => {
  const c = config({ [annotation.istioInjection]: 'true' });
  const installed = [...renderedRefs(c, ['shop.example.com'])];
  assert.ok(describe(installed).includes('EnvoyFilter istio-system/keda-add-ons-http-cold-start-retry'));

  const unknown = desiredObjects(c, owner, undefined, installed);
  assert.deepEqual(unknown.held, [envoyFilterRef]);
  assert.equal(unknown.objects.filter((o) => o.kind === 'EnvoyFilter').length, 0, 'not re-rendered');
  const plan = planApply(installed, unknown);
  assert.deepEqual(plan.prune, [], 'nothing pruned');
  assert.ok(describe(plan.recordAfter).includes(describeRef(envoyFilterRef)), 'still in the inventory');

  // Once the informers have synced, an empty host list does remove it: no routes, no retries.
  const none = planApply(installed, desiredObjects(c, owner, [], installed));
  assert.deepEqual(none.prune, [envoyFilterRef]);
  // And the EnvoyFilter switched off is removed whatever the hosts.
  const off = config({ [annotation.istioInjection]: 'true', [annotation.envoyFilter]: 'false' });
  assert.deepEqual(planApply(installed, desiredObjects(off, owner, undefined, installed)).prune, [
    envoyFilterRef,
  ]);
});

test('planApply: records the union first, prunes what is no longer rendered, records the new set', () => {
  const before = renderedRefs(config({ [annotation.namespace]: 'old' }), []);
  const desired = desiredObjects(config({ [annotation.namespace]: 'new' }), owner, [], before);
  const plan = planApply(before, desired);
  const after = desired.objects.map(refOf);
  assert.equal(plan.apply, desired.objects);
  assert.deepEqual(plan.recordAfter, after);
  assert.equal(plan.recordFirst.length, new Set([...before, ...after].map(describeRef)).size);
  // Namespaced objects move; the cluster-scoped ones (CRDs, ClusterRoles) are kept, not pruned.
  assert.ok(plan.prune.length > 0);
  for (const r of plan.prune) assert.equal(r.namespace, 'old', describeRef(r));
  assert.ok(!plan.prune.some((r) => r.kind === 'CustomResourceDefinition'));
});

test('applyDue: a changed rendering, no record, or an old apply', () => {
  assert.equal(applyDue('h', undefined, 1000, 300), true);
  assert.equal(applyDue('h', { hash: 'g', at: 1000 }, 1000, 300), true);
  assert.equal(applyDue('h', { hash: 'h', at: 1000 }, 1200, 300), false);
  assert.equal(applyDue('h', { hash: 'h', at: 1000 }, 1301, 300), true);
});

test('installedCondition: True only when every Deployment is Available for its current generation', () => {
  const available = (generation: number, observed: number): KubeObject =>
    ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'd', generation },
      status: { observedGeneration: observed, conditions: [{ type: 'Available', status: 'True' }] },
    }) as KubeObject;
  const waiting = installedCondition('ns', (name) =>
    name === 'keda-add-ons-http-operator' ? undefined : available(2, 2),
  );
  assert.equal(waiting.condition.reason, 'HTTPAddonInstalling');
  assert.match(waiting.condition.message, /waiting for Deployment\(s\) keda-add-ons-http-operator to/);
  assert.equal(waiting.requeueAfterMs, 10_000);
  const stale = installedCondition('ns', () => available(3, 2));
  assert.equal(stale.condition.reason, 'HTTPAddonInstalling');
  const done = installedCondition('ns', () => available(2, 2));
  assert.equal(done.condition.status, 'True');
  assert.equal(done.requeueAfterMs, undefined);
});

test('uninstallBlocker: routes still in use, or usage that cannot be counted, block removal', () => {
  assert.equal(uninstallBlocker('disabled', { count: 0, examples: [] }), undefined);
  const inUse = uninstallBlocker('deleting', {
    count: 4,
    examples: ['HTTPScaledObject a/x', 'HTTPScaledObject a/y', 'InterceptorRoute b/z'],
  });
  assert.equal(inUse?.reason, 'HTTPAddonInUse');
  assert.match(
    inUse?.message ?? '',
    /4 HTTPScaledObject.*InterceptorRoute b\/z, \.\.\.\); delete them before deleting/,
  );
  assert.match(
    uninstallBlocker('disabled', { error: 'forbidden' })?.message ?? '',
    /Cannot verify.*forbidden/,
  );
});

function renderedRefs(c: AddonConfig, hosts: string[]): ObjectRef[] {
  return desiredObjects(c, owner, hosts, []).objects.map(refOf);
}
