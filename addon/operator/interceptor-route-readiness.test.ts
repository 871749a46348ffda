import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InterceptorRoute } from '../api/interceptor-route.ts';
import {
  evaluateInterceptorRoute,
  referencedNames,
  type ConfigMap,
  type Service,
} from './interceptor-route-readiness.ts';

const svc = (name: string, ports: { name?: string; port: number }[]): Service => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'ns' },
  spec: { ports },
});
const cm = (
  name: string,
  labelled: boolean,
  data: Record<string, string> = { 'index.html': 'hi' },
): ConfigMap => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name,
    namespace: 'ns',
    ...(labelled ? { labels: { 'http.keda.sh/response-body': 'true' } } : {}),
  },
  data,
});
const route = (spec: Partial<InterceptorRoute['spec']> = {}): InterceptorRoute => ({
  apiVersion: 'http.keda.sh/v1beta1',
  kind: 'InterceptorRoute',
  metadata: { name: 'r', namespace: 'ns' },
  spec: { target: { service: 'app', port: 80 }, scalingMetric: { concurrency: { targetValue: 1 } }, ...spec },
});
const world = (services: Service[], configMaps: ConfigMap[] = []) => ({
  service: (_ns: string, name: string) => services.find((s) => s.metadata.name === name),
  configMap: (_ns: string, name: string) => configMaps.find((c) => c.metadata.name === name),
});

test('ready when the target Service and port exist', () => {
  const r = evaluateInterceptorRoute(route(), world([svc('app', [{ port: 80 }])]));
  assert.deepEqual(r, {
    status: 'True',
    reason: 'Reconciled',
    message: 'InterceptorRoute reconciled',
    problems: [],
  });
});

test('missing Service, missing port number, missing port name', () => {
  assert.equal(evaluateInterceptorRoute(route(), world([])).reason, 'ServiceNotFound');
  const byNumber = evaluateInterceptorRoute(route(), world([svc('app', [{ name: 'http', port: 8080 }])]));
  assert.equal(byNumber.reason, 'ServicePortNotFound');
  assert.match(byNumber.message, /has no port 80 \(its ports: http\/8080\)/);
  const byName = evaluateInterceptorRoute(
    route({ target: { service: 'app', portName: 'web' } }),
    world([svc('app', [{ name: 'http', port: 80 }])]),
  );
  assert.equal(byName.reason, 'ServicePortNotFound');
  assert.match(byName.message, /no port named "web"/);
});

test('fallback Service and its port are checked', () => {
  const r = route({ coldStart: { fallback: { service: { name: 'fb', portName: 'http' } } } });
  assert.equal(
    evaluateInterceptorRoute(r, world([svc('app', [{ port: 80 }])])).reason,
    'FallbackServiceNotFound',
  );
  assert.equal(
    evaluateInterceptorRoute(r, world([svc('app', [{ port: 80 }]), svc('fb', [{ name: 'x', port: 1 }])]))
      .reason,
    'FallbackServicePortNotFound',
  );
  assert.equal(
    evaluateInterceptorRoute(r, world([svc('app', [{ port: 80 }]), svc('fb', [{ name: 'http', port: 1 }])]))
      .status,
    'True',
  );
});

test('ConfigMap bodies: missing, unlabelled, missing explicit key; every problem is listed', () => {
  const r = route({
    coldStart: { placeholder: { response: { bodyFromConfigMap: { name: 'page' } } } },
    staticRoutes: [
      {
        rules: [{ paths: [{ value: '/x' }] }],
        response: { bodyFromConfigMap: { name: 'other', key: 'nope' } },
      },
    ],
  });
  const services = [svc('app', [{ port: 80 }])];
  const none = evaluateInterceptorRoute(r, world(services));
  assert.equal(none.reason, 'ConfigMapNotFound');
  assert.deepEqual(none.problems, ['ConfigMapNotFound', 'ConfigMapNotFound']);
  assert.match(none.message, /spec\.staticRoutes\[0\]\.response\.bodyFromConfigMap/);
  const unlabelled = evaluateInterceptorRoute(r, world(services, [cm('page', false), cm('other', true)]));
  assert.deepEqual(unlabelled.problems, ['ConfigMapNotLabelled', 'ConfigMapKeyNotFound']);
  assert.match(unlabelled.message, /kubectl label configmap page -n ns http\.keda\.sh\/response-body=true/);
  assert.equal(
    evaluateInterceptorRoute(r, world(services, [cm('page', true), cm('other', true, { nope: 'x' })])).status,
    'True',
  );
});

test('referencedNames lists every Service and ConfigMap a route names', () => {
  const r = route({
    coldStart: {
      fallback: { service: { name: 'fb', port: 1 } },
      placeholder: { response: { bodyFromConfigMap: { name: 'a' } } },
    },
    staticRoutes: [{ rules: [{}], response: { bodyFromConfigMap: { name: 'b' } } }],
  });
  assert.deepEqual(referencedNames(r), { services: ['app', 'fb'], configMaps: ['a', 'b'] });
});
