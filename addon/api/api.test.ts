import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StoredObject } from '../shared/store/store.ts';
import {
  apiVersionOf,
  httpScaledObjectKind,
  interceptorRouteKind,
  kedaKind,
  scaledObjectKind,
  type HTTPScaledObject,
  type InterceptorRoute,
  type KubeObject,
} from './index.ts';

test('apiVersion constants agree with the kind descriptors', () => {
  assert.equal(apiVersionOf(interceptorRouteKind), 'http.keda.sh/v1beta1');
  assert.equal(apiVersionOf(httpScaledObjectKind), 'http.keda.sh/v1alpha1');
  assert.equal(apiVersionOf(scaledObjectKind), 'keda.sh/v1alpha1');
  assert.equal(apiVersionOf(kedaKind), 'operator.kyma-project.io/v1alpha1');
  assert.equal(apiVersionOf({ group: '', version: 'v1' }), 'v1');
});

test('typed kinds fit the object store and the generic KubeObject', () => {
  const ir: InterceptorRoute = {
    apiVersion: 'http.keda.sh/v1beta1',
    kind: 'InterceptorRoute',
    metadata: { name: 'r', namespace: 'ns' },
    spec: { target: { service: 's', port: 80 }, scalingMetric: { concurrency: { targetValue: 10 } } },
  };
  // These assignments are the real test: tsc rejects the file if the shapes drift apart.
  const stored: StoredObject = ir;
  const generic: KubeObject = ir;
  const so: HTTPScaledObject = {
    apiVersion: 'http.keda.sh/v1alpha1',
    kind: 'HTTPScaledObject',
    metadata: { name: 'h' },
    spec: { scaleTargetRef: { service: 's', port: 80 } },
  };
  const stored2: StoredObject = so;
  assert.equal(stored.metadata.name, generic.metadata.name);
  assert.equal(stored2.kind, 'HTTPScaledObject');
});
