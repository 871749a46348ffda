import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../addon/api/index.ts';
import { serviceAddress, staleReferences } from './references.ts';

const o = (
  apiVersion: string,
  kind: string,
  namespace: string,
  name: string,
  spec: unknown,
  extra = {},
): KubeObject => ({ apiVersion, kind, metadata: { name, namespace, ...extra }, spec }) as KubeObject;
const found = (objs: KubeObject[], ns = 'new') =>
  staleReferences(objs, ns).map(
    (s) =>
      `${s.object.kind} ${s.object.metadata.namespace}/${s.object.metadata.name}: ${s.what} -> ${s.namespace}`,
  );

test('serviceAddress: short, namespaced and fully qualified names, with or without a port', () => {
  assert.deepEqual(serviceAddress('svc', 'home'), { service: 'svc', namespace: 'home' });
  assert.deepEqual(serviceAddress('svc.ns:9090', 'home'), { service: 'svc', namespace: 'ns' });
  assert.deepEqual(serviceAddress('svc.ns.svc.cluster.local', 'home'), { service: 'svc', namespace: 'ns' });
  assert.equal(serviceAddress('a.b.example.com', 'home'), undefined);
});

test("users' ScaledObjects asking the scaler in the old namespace; the operator's own are left to it", () => {
  const trigger = (scalerAddress: string) => ({
    scaleTargetRef: { name: 'app' },
    triggers: [{ type: 'external', metadata: { scalerAddress } }],
  });
  assert.deepEqual(
    found([
      o(
        'keda.sh/v1alpha1',
        'ScaledObject',
        'app',
        'mine',
        trigger('keda-add-ons-http-external-scaler.old:9090'),
      ),
      o(
        'keda.sh/v1alpha1',
        'ScaledObject',
        'app',
        'current',
        trigger('keda-add-ons-http-external-scaler.new:9090'),
      ),
      o('keda.sh/v1alpha1', 'ScaledObject', 'app', 'other', trigger('my-scaler.old:9090')),
      o(
        'keda.sh/v1alpha1',
        'ScaledObject',
        'app',
        'made-by-operator',
        trigger('keda-add-ons-http-external-scaler.old:9090'),
        {
          ownerReferences: [
            { apiVersion: 'http.keda.sh/v1alpha1', kind: 'HTTPScaledObject', name: 'x', uid: 'u' },
          ],
        },
      ),
    ]),
    ['ScaledObject app/mine: scalerAddress keda-add-ons-http-external-scaler.old:9090 -> old'],
  );
});

test('Ingress, HTTPRoute, ReferenceGrant and VirtualService pointing at the interceptor elsewhere', () => {
  const proxy = 'keda-add-ons-http-interceptor-proxy';
  const objs = [
    o('networking.k8s.io/v1', 'Ingress', 'old', 'ing', {
      rules: [
        { http: { paths: [{ path: '/', backend: { service: { name: proxy, port: { number: 8080 } } } }] } },
      ],
    }),
    o('networking.k8s.io/v1', 'Ingress', 'new', 'fine', { defaultBackend: { service: { name: proxy } } }),
    o('gateway.networking.k8s.io/v1', 'HTTPRoute', 'app', 'route', {
      rules: [
        { backendRefs: [{ name: proxy, namespace: 'old', port: 8080 }] },
        { backendRefs: [{ name: 'other' }] },
      ],
    }),
    o('gateway.networking.k8s.io/v1', 'HTTPRoute', 'app', 'route-new', {
      rules: [{ backendRefs: [{ name: proxy, namespace: 'new', port: 8080 }] }],
    }),
    o('gateway.networking.k8s.io/v1beta1', 'ReferenceGrant', 'old', 'grant', {
      from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'app' }],
      to: [{ group: '', kind: 'Service', name: proxy }],
    }),
    o('networking.istio.io/v1beta1', 'VirtualService', 'app', 'vs', {
      http: [
        { route: [{ destination: { host: `${proxy}.old.svc.cluster.local`, port: { number: 8080 } } }] },
      ],
    }),
    o('networking.istio.io/v1beta1', 'VirtualService', 'new', 'vs-short', {
      http: [{ route: [{ destination: { host: proxy } }] }],
    }),
  ];
  assert.deepEqual(found(objs), [
    `Ingress old/ing: backend Service ${proxy} in old -> old`,
    `HTTPRoute app/route: backendRef Service ${proxy} in old -> old`,
    `ReferenceGrant old/grant: grant to Service ${proxy} in old -> old`,
    `VirtualService app/vs: destination host ${proxy}.old.svc.cluster.local -> old`,
  ]);
});
