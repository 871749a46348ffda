import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HTTPScaledObject } from '../api/http-scaled-object.ts';
import {
  desiredScaledObject,
  isSubset,
  ownedByHTTPScaledObject,
  targetService,
  targetWorkload,
} from './scaled-object.ts';

const base: HTTPScaledObject = {
  apiVersion: 'http.keda.sh/v1alpha1',
  kind: 'HTTPScaledObject',
  metadata: { name: 'app', namespace: 'ns', uid: 'u-1', labels: { a: '1' }, annotations: { b: '2' } },
  spec: { scaleTargetRef: { name: 'app', service: 'svc', portName: 'http' } },
};

test('the ScaledObject matches upstream: name, owner, trigger, polling, restore', () => {
  const so = desiredScaledObject(base, 'scaler.keda:9090');
  assert.deepEqual(so, {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: {
      name: 'app',
      namespace: 'ns',
      labels: { a: '1' },
      annotations: { b: '2' },
      ownerReferences: [
        {
          apiVersion: 'http.keda.sh/v1alpha1',
          kind: 'HTTPScaledObject',
          name: 'app',
          uid: 'u-1',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      scaleTargetRef: { name: 'app' },
      pollingInterval: 15,
      advanced: { restoreToOriginalReplicaCount: true },
      triggers: [
        { type: 'external-push', metadata: { scalerAddress: 'scaler.keda:9090', httpScaledObject: 'app' } },
      ],
    },
  });
});

test('replicas, cooldown and initial cooldown are copied only when set', () => {
  const so = desiredScaledObject(
    {
      ...base,
      spec: { ...base.spec, replicas: { min: 0, max: 3 }, scaledownPeriod: 60, initialCooldownPeriod: 0 },
    },
    'x:1',
  );
  assert.equal(so.spec.minReplicaCount, 0);
  assert.equal(so.spec.maxReplicaCount, 3);
  assert.equal(so.spec.cooldownPeriod, 60);
  assert.equal(so.spec.initialCooldownPeriod, 0);
});

test('status strings as upstream writes them', () => {
  assert.equal(targetWorkload(base), '//app');
  assert.equal(targetService(base), 'svc:0');
  const full: HTTPScaledObject = {
    ...base,
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'x', service: 's', port: 80 },
    },
  };
  assert.equal(targetWorkload(full), 'apps/v1/Deployment/x');
  assert.equal(targetService(full), 's:80');
});

test('ownership by kind (any case) and name', () => {
  const ref = { apiVersion: 'http.keda.sh/v1alpha1', kind: 'HTTPScaledObject', name: 'app', uid: 'u' };
  assert.ok(ownedByHTTPScaledObject(ref, 'app'));
  assert.ok(ownedByHTTPScaledObject({ ...ref, kind: 'httpscaledobject' }, 'app'));
  assert.ok(!ownedByHTTPScaledObject(ref, 'other'));
  assert.ok(!ownedByHTTPScaledObject({ ...ref, kind: 'Deployment' }, 'app'));
});

test('isSubset ignores server defaults but not changed or missing values', () => {
  assert.ok(isSubset({ a: 1, b: { c: [1, { d: 2 }] } }, { a: 1, x: 9, b: { c: [1, { d: 2, e: 3 }] } }));
  assert.ok(!isSubset({ a: 1 }, { a: 2 }));
  assert.ok(!isSubset({ a: [1, 2] }, { a: [1] }));
  assert.ok(!isSubset({ a: { b: 1 } }, {}));
});
