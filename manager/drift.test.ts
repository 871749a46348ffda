import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../addon/api/index.ts';
import { annotation, parseAddonConfig } from './addon-config.ts';
import { howToChange, ownedFieldDrift } from './drift.ts';
import { renderAddon } from './render/render.ts';

const r = parseAddonConfig({ [annotation.enabled]: 'true', [annotation.logLevel]: 'debug' });
assert.ok(r.ok);
const rendered = renderAddon(r.config, { owner: { namespace: 'kyma-system', name: 'default' } });
const find = (kind: string, name: string): KubeObject => {
  const o = rendered.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o);
  return o;
};
type Container = {
  image: string;
  resources: { limits: Record<string, string> };
  env: { name: string; value?: string }[];
};
type Spec = {
  replicas?: number;
  minReplicaCount?: number;
  template: { spec: { containers: Container[] } };
};
const specOf = (o: KubeObject): Spec => o.spec as Spec;
const describe = (drift: ReturnType<typeof ownedFieldDrift>): string[] =>
  drift.map((d) => `${d.field}: ${d.live} -> ${d.rendered} (${howToChange(d)})`);

/** A live copy as the API server returns it: defaults and status added, quantities respelled. */
function live(o: KubeObject): KubeObject {
  const l = structuredClone(o) as KubeObject & { status?: unknown };
  l.metadata = {
    ...l.metadata,
    uid: 'u',
    resourceVersion: '7',
    labels: { ...l.metadata.labels, extra: 'x' },
  };
  l.status = { replicas: 1 };
  if (o.kind === 'Deployment') {
    const c = specOf(l).template.spec.containers[0];
    assert.ok(c);
    Object.assign(c, { terminationMessagePath: '/dev/termination-log' });
    if (c.resources.limits.cpu === '1') c.resources.limits.cpu = '1000m';
    c.env.push({ name: 'KEDA_HTTP_REQUEST_TIMEOUT', value: '5s' }); // a user's kubectl set env
  }
  return l;
}

test('no drift for unchanged objects, whatever the server adds or respells, or a user adds', () => {
  for (const o of rendered) assert.deepEqual(ownedFieldDrift(o, live(o)), [], `${o.kind} ${o.metadata.name}`);
  assert.deepEqual(ownedFieldDrift(find('Deployment', 'keda-add-ons-http-interceptor'), undefined), []);
});

test('kubectl set resources, set image, scale and set env LOG_LEVEL are found, with the annotation to use', () => {
  const interceptor = live(find('Deployment', 'keda-add-ons-http-interceptor'));
  const c = specOf(interceptor).template.spec.containers[0];
  assert.ok(c);
  c.resources.limits.memory = '2Gi';
  c.image = 'example.com/other:1';
  c.env = c.env.map((e) => (e.name === 'LOG_LEVEL' ? { name: 'LOG_LEVEL', value: 'error' } : e));
  assert.deepEqual(
    describe(ownedFieldDrift(find('Deployment', 'keda-add-ons-http-interceptor'), interceptor)),
    [
      `spec.template.spec.containers[interceptor].image: example.com/other:1 -> ghcr.io/keda-http/keda-http-addon:0.1.0 (set KEDA_HTTP_ADDON_IMAGE on the manager's Deployment)`,
      'spec.template.spec.containers[interceptor].env[LOG_LEVEL].value: error -> debug (set the annotation keda.kyma-project.io/addon-log-level on the Keda object)',
      'spec.template.spec.containers[interceptor].resources.limits.memory: 2Gi -> 1000Mi (set the annotation keda.kyma-project.io/addon-interceptor-resources on the Keda object)',
    ],
  );

  const scaler = live(find('Deployment', 'keda-add-ons-http-external-scaler'));
  specOf(scaler).replicas = 3;
  assert.deepEqual(
    describe(ownedFieldDrift(find('Deployment', 'keda-add-ons-http-external-scaler'), scaler)),
    ['spec.replicas: 3 -> 1 (the manager renders this field; it is not configurable)'],
  );

  const so = live(find('ScaledObject', 'keda-add-ons-http-interceptor'));
  specOf(so).minReplicaCount = 4;
  assert.deepEqual(describe(ownedFieldDrift(find('ScaledObject', 'keda-add-ons-http-interceptor'), so)), [
    'spec.minReplicaCount: 4 -> 1 (set the annotation keda.kyma-project.io/addon-interceptor-min-replicas on the Keda object)',
  ]);

  const svc = live(find('Service', 'keda-add-ons-http-interceptor-proxy'));
  (svc.metadata.labels ?? {})['app.kubernetes.io/managed-by'] = 'me';
  assert.deepEqual(describe(ownedFieldDrift(find('Service', 'keda-add-ons-http-interceptor-proxy'), svc)), [
    'metadata.labels.app.kubernetes.io/managed-by: me -> keda-http-manager (the manager renders this field; it is not configurable)',
  ]);
});
