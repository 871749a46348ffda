import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../addon/api/index.ts';
import { kedaNamespaceFrom } from './keda-location.ts';

const apiService = (namespace: string, name: string) =>
  ({
    apiVersion: 'apiregistration.k8s.io/v1',
    kind: 'APIService',
    metadata: { name: 'v1beta1.external.metrics.k8s.io' },
    spec: { service: { namespace, name } },
  }) as KubeObject & { spec: { service: { namespace: string; name: string } } };
const operator = (namespace: string): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'keda-operator', namespace },
});

test("KEDA's namespace: from its APIService, else from its only operator Deployment", () => {
  assert.equal(kedaNamespaceFrom(apiService('keda', 'keda-operator-metrics-apiserver'), []), 'keda');
  assert.equal(kedaNamespaceFrom(apiService('kyma-system', 'keda-metrics-apiserver'), []), 'kyma-system');
  // Another metrics server owns the APIService: the operator Deployment decides.
  assert.equal(kedaNamespaceFrom(apiService('monitoring', 'prometheus-adapter'), [operator('keda')]), 'keda');
  assert.equal(kedaNamespaceFrom(undefined, [operator('keda'), operator('keda')]), 'keda');
  assert.equal(kedaNamespaceFrom(undefined, [operator('a'), operator('b')]), undefined);
  assert.equal(kedaNamespaceFrom(undefined, []), undefined);
});
