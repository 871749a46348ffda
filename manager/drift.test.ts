import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../addon/api/index.ts';
import { annotation, parseAddonConfig } from './addon-config.ts';
import { annotationFor, tunableDrift } from './drift.ts';
import { renderAddon } from './render/render.ts';

const r = parseAddonConfig({ [annotation.enabled]: 'true', [annotation.logLevel]: 'debug' });
assert.ok(r.ok);
const rendered = renderAddon(r.config, { owner: { namespace: 'kyma-system', name: 'default' } });
const find = (kind: string, name: string): KubeObject => {
  const o = rendered.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o);
  return o;
};
type Spec = {
  replicas?: number;
  minReplicaCount?: number;
  template: {
    spec: {
      containers: {
        resources: { limits: Record<string, string> };
        env: { name: string; value?: string }[];
      }[];
    };
  };
};
const specOf = (o: KubeObject): Spec => o.spec as Spec;

test('no drift when the live object carries the rendered values, spelled as the server spells them', () => {
  const live = structuredClone(find('Deployment', 'keda-add-ons-http-interceptor'));
  const c = specOf(live).template.spec.containers[0];
  assert.ok(c);
  c.resources.limits.memory = '1000Mi';
  c.resources.limits.cpu = '1000m'; // the same as "1"
  assert.deepEqual(tunableDrift(find('Deployment', 'keda-add-ons-http-interceptor'), live), []);
  assert.deepEqual(tunableDrift(find('Deployment', 'keda-add-ons-http-interceptor'), undefined), []);
});

test('kubectl set resources, scale and set env LOG_LEVEL are found, with the annotation to use', () => {
  const interceptor = structuredClone(find('Deployment', 'keda-add-ons-http-interceptor'));
  const c = specOf(interceptor).template.spec.containers[0];
  assert.ok(c);
  c.resources.limits.memory = '2Gi';
  c.env = c.env.map((e) => (e.name === 'LOG_LEVEL' ? { name: 'LOG_LEVEL', value: 'error' } : e));
  const drift = tunableDrift(find('Deployment', 'keda-add-ons-http-interceptor'), interceptor);
  assert.deepEqual(
    drift.map((d) => `${d.field}: ${d.live} -> ${d.rendered} (${annotationFor(d)})`),
    [
      'container interceptor resources.limits.memory: 2Gi -> 1000Mi (keda.kyma-project.io/addon-interceptor-resources)',
      'container interceptor env LOG_LEVEL: error -> debug (keda.kyma-project.io/addon-log-level)',
    ],
  );

  const scaler = structuredClone(find('Deployment', 'keda-add-ons-http-external-scaler'));
  specOf(scaler).replicas = 3;
  assert.deepEqual(
    tunableDrift(find('Deployment', 'keda-add-ons-http-external-scaler'), scaler).map(
      (d) => `${d.field}: ${d.live} -> ${d.rendered}`,
    ),
    ['spec.replicas: 3 -> 1'],
  );

  const so = structuredClone(find('ScaledObject', 'keda-add-ons-http-interceptor'));
  specOf(so).minReplicaCount = 4;
  const soDrift = tunableDrift(find('ScaledObject', 'keda-add-ons-http-interceptor'), so);
  assert.deepEqual(
    soDrift.map((d) => `${d.field}: ${d.live} -> ${d.rendered} (${annotationFor(d)})`),
    ['spec.minReplicaCount: 4 -> 1 (keda.kyma-project.io/addon-interceptor-min-replicas)'],
  );
});
