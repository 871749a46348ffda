import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { KubeObject } from '../../addon/api/index.ts';
import { annotation, parseAddonConfig, type AddonConfig } from '../addon-config.ts';
import { envoyVhosts, renderAddon, renderEnvoyFilter, renderManager } from './render.ts';
import { parseManifests } from './renderer.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

function config(a: Record<string, string>): AddonConfig {
  const r = parseAddonConfig({ [annotation.enabled]: 'true', ...a });
  assert.ok(r.ok);
  return r.config;
}
const owner = { namespace: 'kyma-system', name: 'default' };
const find = (objs: KubeObject[], kind: string, name: string): KubeObject => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} rendered`);
  return o;
};
type PodTemplate = { spec: { template: { metadata: { annotations?: Record<string, string> } } } };
const podAnnotations = (o: KubeObject): Record<string, string> =>
  (o as unknown as PodTemplate).spec.template.metadata.annotations ?? {};

test('the add-on renders with upstream names, in the chosen namespace, CRDs first', () => {
  const objs = renderAddon(config({ [annotation.namespace]: 'keda' }), { owner });
  assert.equal(objs[0]?.kind, 'CustomResourceDefinition');
  assert.equal(objs[1]?.kind, 'CustomResourceDefinition');
  for (const name of [
    'keda-add-ons-http-interceptor-proxy',
    'keda-add-ons-http-interceptor-admin',
    'keda-add-ons-http-interceptor-metrics',
    'keda-add-ons-http-external-scaler',
    'keda-add-ons-http-operator-metrics',
  ]) {
    assert.equal(find(objs, 'Service', name).metadata.namespace, 'keda');
  }
  for (const o of objs) {
    const clusterScoped = ['CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind);
    assert.equal(o.metadata.namespace, clusterScoped ? undefined : 'keda', `${o.kind}/${o.metadata.name}`);
    assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'keda-http-manager');
  }
  const interceptor = find(objs, 'Deployment', 'keda-add-ons-http-interceptor') as unknown as {
    spec: { replicas?: number };
  };
  assert.equal(interceptor.spec.replicas, undefined, 'the interceptor ScaledObject owns its replica count');
  const so = find(objs, 'ScaledObject', 'keda-add-ons-http-interceptor') as unknown as {
    spec: { triggers: { metadata: Record<string, string> }[] };
  };
  assert.equal(so.spec.triggers[0]?.metadata.scalerAddress, 'keda-add-ons-http-external-scaler.keda:9090');
  const proxy = find(objs, 'Service', 'keda-add-ons-http-interceptor-proxy') as unknown as {
    spec: { ports: { port: number }[] };
  };
  assert.deepEqual(
    proxy.spec.ports.map((p) => p.port),
    [8080, 8443],
  );
});

test('Istio off: inject "false" everywhere, no excluded ports, no PeerAuthentication', () => {
  const objs = renderAddon(config({}), { owner });
  for (const d of objs.filter((o) => o.kind === 'Deployment')) {
    assert.deepEqual(podAnnotations(d), { 'sidecar.istio.io/inject': 'false' }, d.metadata.name);
  }
  assert.equal(objs.filter((o) => o.kind === 'PeerAuthentication').length, 0);
});

test('Istio on: inject "true", 9090 excluded where it carries internal traffic, PeerAuthentication for 15090', () => {
  const objs = renderAddon(config({ [annotation.istioInjection]: 'true' }), { owner });
  const ann = (name: string): Record<string, string> => podAnnotations(find(objs, 'Deployment', name));
  assert.deepEqual(ann('keda-add-ons-http-interceptor'), {
    'sidecar.istio.io/inject': 'true',
    'traffic.sidecar.istio.io/excludeInboundPorts': '9090',
  });
  assert.equal(
    ann('keda-add-ons-http-external-scaler')['traffic.sidecar.istio.io/excludeInboundPorts'],
    '9090',
  );
  assert.deepEqual(ann('keda-add-ons-http-operator'), { 'sidecar.istio.io/inject': 'true' });
  const pa = find(objs, 'PeerAuthentication', 'keda-add-ons-http-envoy-metrics') as unknown as {
    spec: { portLevelMtls: Record<string, { mode: string }>; mtls?: unknown };
  };
  assert.equal(pa.spec.portLevelMtls['15090']?.mode, 'PERMISSIVE');
  assert.equal(pa.spec.mtls, undefined);
});

test('EnvoyFilter: one retry patch per virtual host, defaults from the Kyma guide, none without hosts', () => {
  assert.deepEqual(envoyVhosts(['A.example.com', 'a.example.com', '*.w.example.com']), [
    '*.w.example.com:443',
    '*.w.example.com:80',
    'a.example.com:443',
    'a.example.com:80',
  ]);
  const [ef] = renderEnvoyFilter(config({ [annotation.istioInjection]: 'true' }), ['app.example.com']);
  assert.ok(ef);
  assert.equal(ef.metadata.namespace, 'istio-system');
  const spec = ef.spec as {
    workloadSelector: { labels: Record<string, string> };
    configPatches: {
      match: { routeConfiguration: { vhost: { name: string } } };
      patch: { value: { route: { retry_policy: unknown } } };
    }[];
  };
  assert.deepEqual(spec.workloadSelector.labels, { istio: 'ingressgateway' });
  assert.deepEqual(
    spec.configPatches.map((p) => p.match.routeConfiguration.vhost.name),
    ['app.example.com:443', 'app.example.com:80'],
  );
  assert.deepEqual(spec.configPatches[0]?.patch.value.route.retry_policy, {
    retry_on: '5xx,connect-failure,reset,refused-stream',
    num_retries: 100,
    per_try_timeout: '3s',
  });
  assert.deepEqual(renderEnvoyFilter(config({}), []), []);
});

test('the manager renders its Keda CRD, RBAC and Deployment', () => {
  const objs = renderManager('kyma-system');
  assert.deepEqual(
    objs.map((o) => o.kind),
    ['CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Deployment'],
  );
  assert.equal(objs[0]?.metadata.name, 'kedas.operator.kyma-project.io');
});

type Container = { resources: unknown; env: { name: string; value?: string }[] };
const containerOf = (o: KubeObject): Container => {
  const c = (o.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0];
  assert.ok(c);
  return c;
};

test('tunables reach the manifests: interceptor replica range, resources per component, LOG_LEVEL only when set', () => {
  const objs = renderAddon(
    config({
      [annotation.interceptorMinReplicas]: '2',
      [annotation.interceptorMaxReplicas]: '20',
      [annotation.scalerResources]: 'requests.cpu=300m,limits.cpu=none',
      [annotation.logLevel]: 'warn',
    }),
    { owner },
  );
  const so = find(objs, 'ScaledObject', 'keda-add-ons-http-interceptor').spec as Record<string, unknown>;
  assert.equal(so.minReplicaCount, 2);
  assert.equal(so.maxReplicaCount, 20);
  assert.deepEqual(containerOf(find(objs, 'Deployment', 'keda-add-ons-http-external-scaler')).resources, {
    requests: { cpu: '300m', memory: '100Mi' },
    limits: { memory: '1000Mi' },
  });
  assert.deepEqual(containerOf(find(objs, 'Deployment', 'keda-add-ons-http-operator')).resources, {
    requests: { cpu: '50m', memory: '64Mi' },
    limits: { cpu: '500m', memory: '512Mi' },
  });
  for (const d of objs.filter((o) => o.kind === 'Deployment')) {
    assert.equal(containerOf(d).env.find((e) => e.name === 'LOG_LEVEL')?.value, 'warn', d.metadata.name);
  }
  for (const d of renderAddon(config({}), { owner }).filter((o) => o.kind === 'Deployment')) {
    assert.equal(
      containerOf(d).env.find((e) => e.name === 'LOG_LEVEL'),
      undefined,
      d.metadata.name,
    );
  }
});

type Peer = { namespaceSelector?: { matchLabels?: Record<string, string> }; podSelector?: unknown };
const scalerPeers = (objs: KubeObject[]): Peer[] =>
  (
    find(objs, 'NetworkPolicy', 'keda-add-ons-http-scaler-allow-ingress').spec as {
      ingress: { from: Peer[] }[];
    }
  ).ingress[0]?.from ?? [];

test("the scaler's NetworkPolicy admits KEDA from its namespace, or from any namespace when it is not known", () => {
  const known = scalerPeers(renderAddon(config({}), { owner, kedaNamespace: 'keda' }));
  assert.deepEqual(known[0], {
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } },
    podSelector: { matchLabels: { app: 'keda-operator' } },
  });
  const unknown = scalerPeers(renderAddon(config({}), { owner }));
  assert.deepEqual(unknown[0], {
    namespaceSelector: {},
    podSelector: { matchLabels: { app: 'keda-operator' } },
  });
});

test('keda-http render addon never writes an empty namespace selector; --keda-namespace names KEDA', () => {
  const render = (...args: string[]): string =>
    execFileSync(process.execPath, [join(repoRoot, 'bin/keda-http.ts'), 'render', 'addon', ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  const plain = render();
  assert.doesNotMatch(plain, /kubernetes\.io\/metadata\.name: ""/);
  const admitted = scalerPeers(parseManifests(plain, 'render addon'));
  assert.deepEqual(admitted[0]?.namespaceSelector, {});
  const named = scalerPeers(parseManifests(render('--keda-namespace', 'keda'), 'render addon'));
  assert.deepEqual(named[0]?.namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } });
  assert.throws(
    () => render('--keda-namespace', 'Not_Valid'),
    /--keda-namespace: "Not_Valid" is not a valid namespace name/,
  );
});

test('every container with a liveness probe has a startup probe on the same check that allows at least a minute', () => {
  type Probe = { periodSeconds?: number; failureThreshold?: number; [handler: string]: unknown };
  type Container = { name: string; livenessProbe?: Probe; startupProbe?: Probe };
  type Workload = { spec: { template: { spec: { containers: Container[] } } } };
  const handlerOf = (p: Probe) => JSON.stringify(p.httpGet ?? p.grpc ?? p.tcpSocket ?? p.exec ?? 'none');
  const objs = [...renderAddon(config({}), { owner }), ...renderManager('kyma-system')];
  let checked = 0;
  for (const o of objs.filter((x) => x.kind === 'Deployment')) {
    for (const c of (o as unknown as Workload).spec.template.spec.containers) {
      if (!c.livenessProbe) continue;
      const where = `${o.metadata.name}/${c.name}`;
      assert.ok(c.startupProbe, `${where} has a startupProbe`);
      assert.equal(handlerOf(c.startupProbe), handlerOf(c.livenessProbe), `${where}: same check`);
      const budget = (c.startupProbe.periodSeconds ?? 10) * (c.startupProbe.failureThreshold ?? 3);
      assert.ok(budget >= 60, `${where}: start-up allowed ${budget}s`);
      checked++;
    }
  }
  assert.equal(checked, 4, 'interceptor, scaler, operator and manager');
});
