// The add-on operator on the real control plane: HTTPScaledObject -> KEDA ScaledObject (KEDA's own
// CRD), annotations, garbage collection, bad input, InterceptorRoute readiness, and the process itself.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import type { HTTPScaledObject } from '../../addon/api/http-scaled-object.ts';
import type { InterceptorRoute } from '../../addon/api/interceptor-route.ts';
import type { KubeObject } from '../../addon/api/meta.ts';
import type { ScaledObject } from '../../addon/api/scaled-object.ts';
import { readOperatorConfig } from '../../addon/operator/config.ts';
import { startOperator } from '../../addon/operator/main.ts';
import { sleep } from '../../addon/runtime/sleep.ts';
import { testCluster, type TestCluster } from '../harness/cluster.ts';

async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(150);
  }
}

const env = (ns: string) => ({
  KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_SERVICE: 'keda-add-ons-http-external-scaler',
  KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_PORT: '9090',
  KEDA_HTTP_OPERATOR_NAMESPACE: 'keda',
  KEDA_HTTP_OPERATOR_WATCH_NAMESPACE: ns,
});

/** Runs the operator in this process, watching only the test's namespace. */
async function operatorFor(t: TestContext, c: TestCluster, ns: string): Promise<void> {
  const { config } = readOperatorConfig(
    [
      '--metrics-bind-address=127.0.0.1:0',
      '--health-probe-bind-address=127.0.0.1:0',
      '--zap-log-level=error',
    ],
    env(ns),
  );
  const op = await startOperator(config, { kubeConfig: c.kc, stream: new PassThrough() });
  t.after(() => op.stop());
}

async function getJson<T>(c: TestCluster, ...args: string[]): Promise<T | undefined> {
  const r = await c.kubectl(['get', '-o', 'json', ...args]);
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as T;
}

const apply = (c: TestCluster, obj: object) => c.kubectlOk(['apply', '-f', '-'], JSON.stringify(obj));

const readyOf = (
  o:
    | { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } }
    | undefined,
) => o?.status?.conditions?.find((x) => x.type === 'Ready');

async function eventReasons(c: TestCluster, ns: string, name: string): Promise<string[]> {
  const list = await getJson<{ items: { reason: string; involvedObject: { name: string } }[] }>(
    c,
    'events',
    '-n',
    ns,
  );
  return (list?.items ?? []).filter((e) => e.involvedObject.name === name).map((e) => e.reason);
}

const httpso = (
  ns: string,
  name: string,
  extra: { spec?: object; metadata?: object } = {},
): HTTPScaledObject => ({
  apiVersion: 'http.keda.sh/v1alpha1',
  kind: 'HTTPScaledObject',
  metadata: {
    name,
    namespace: ns,
    labels: { team: 'web' },
    annotations: { note: 'hello' },
    ...extra.metadata,
  },
  spec: {
    hosts: ['app.example.com'],
    scaleTargetRef: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'app',
      service: 'app-svc',
      port: 8080,
    },
    replicas: { min: 0, max: 10 },
    scaledownPeriod: 120,
    initialCooldownPeriod: 30,
    ...extra.spec,
  },
});

test('HTTPScaledObject lifecycle: ScaledObject created, updated, garbage-collected; finalizer removed', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  await operatorFor(t, c, ns);
  await apply(c, httpso(ns, 'app'));

  const so = await eventually('ScaledObject', () =>
    getJson<ScaledObject>(c, 'scaledobject', 'app', '-n', ns),
  );
  const h = await eventually('Ready=True', async () => {
    const o = await getJson<HTTPScaledObject>(c, 'httpso', 'app', '-n', ns);
    return readyOf(o)?.status === 'True' ? o : undefined;
  });
  assert.deepEqual(so.spec.triggers, [
    {
      type: 'external-push',
      metadata: { scalerAddress: 'keda-add-ons-http-external-scaler.keda:9090', httpScaledObject: 'app' },
    },
  ]);
  assert.deepEqual(so.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'app' });
  assert.equal(so.spec.pollingInterval, 15);
  assert.equal(so.spec.minReplicaCount, 0);
  assert.equal(so.spec.maxReplicaCount, 10);
  assert.equal(so.spec.cooldownPeriod, 120);
  assert.equal(so.spec.initialCooldownPeriod, 30);
  assert.equal(so.spec.advanced?.restoreToOriginalReplicaCount, true);
  assert.equal(so.metadata.labels?.team, 'web');
  assert.equal(so.metadata.annotations?.note, 'hello');
  assert.deepEqual(so.metadata.ownerReferences, [
    {
      apiVersion: 'http.keda.sh/v1alpha1',
      kind: 'HTTPScaledObject',
      name: 'app',
      uid: h.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ]);
  assert.deepEqual(h.metadata.finalizers, ['httpscaledobject.http.keda.sh']);
  assert.equal(h.status?.targetWorkload, 'apps/v1/Deployment/app');
  assert.equal(h.status?.targetService, 'app-svc:8080');
  assert.deepEqual(
    { reason: readyOf(h)?.reason, message: readyOf(h)?.message },
    { reason: 'Reconciled', message: 'ScaledObject created and configured' },
  );

  // An update to the HTTPScaledObject is patched into the ScaledObject.
  await apply(
    c,
    httpso(ns, 'app', {
      spec: { replicas: { min: 1, max: 20 } },
      metadata: { labels: { team: 'web', tier: 'front' } },
    }),
  );
  await eventually('ScaledObject updated', async () => {
    const o = await getJson<ScaledObject>(c, 'scaledobject', 'app', '-n', ns);
    return (
      o?.spec.maxReplicaCount === 20 && o.spec.minReplicaCount === 1 && o.metadata.labels?.tier === 'front'
    );
  });

  // A hand edit of the owned ScaledObject is put back.
  await c.kubectlOk([
    'patch',
    'scaledobject',
    'app',
    '-n',
    ns,
    '--type=merge',
    '-p',
    '{"spec":{"pollingInterval":99}}',
  ]);
  await eventually(
    'drift corrected',
    async () =>
      (await getJson<ScaledObject>(c, 'scaledobject', 'app', '-n', ns))?.spec.pollingInterval === 15,
  );

  // Delete: the finalizer comes off, the HTTPScaledObject goes, GC removes the ScaledObject.
  await c.kubectlOk(['delete', 'httpso', 'app', '-n', ns, '--wait=false']);
  await eventually(
    'HTTPScaledObject gone',
    async () => (await c.kubectl(['get', 'httpso', 'app', '-n', ns])).code !== 0,
  );
  await eventually(
    'ScaledObject garbage-collected',
    async () => (await c.kubectl(['get', 'scaledobject', 'app', '-n', ns])).code !== 0,
    60_000,
  );
});

test('skip-scaledobject-creation deletes our ScaledObject; orphan-scaledobject keeps it past deletion', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  await operatorFor(t, c, ns);
  const skip = 'httpscaledobject.keda.sh/skip-scaledobject-creation';
  const orphan = 'httpscaledobject.keda.sh/orphan-scaledobject';

  await apply(c, httpso(ns, 'skipper'));
  await eventually('ScaledObject', () => getJson<ScaledObject>(c, 'scaledobject', 'skipper', '-n', ns));
  await c.kubectlOk(['annotate', 'httpso', 'skipper', '-n', ns, `${skip}=true`]);
  await eventually(
    'ScaledObject deleted',
    async () => (await c.kubectl(['get', 'scaledobject', 'skipper', '-n', ns])).code !== 0,
  );
  const h = await getJson<HTTPScaledObject>(c, 'httpso', 'skipper', '-n', ns);
  assert.equal(readyOf(h)?.status, 'True');
  await sleep(500);
  assert.notEqual(
    (await c.kubectl(['get', 'scaledobject', 'skipper', '-n', ns])).code,
    0,
    'not recreated while skipped',
  );

  await apply(c, httpso(ns, 'keeper'));
  await eventually('ScaledObject', () => getJson<ScaledObject>(c, 'scaledobject', 'keeper', '-n', ns));
  await c.kubectlOk(['annotate', 'httpso', 'keeper', '-n', ns, `${orphan}=true`]);
  await eventually('owner reference removed', async () => {
    const so = await getJson<ScaledObject>(c, 'scaledobject', 'keeper', '-n', ns);
    return so !== undefined && (so.metadata.ownerReferences ?? []).length === 0;
  });
  await c.kubectlOk(['delete', 'httpso', 'keeper', '-n', ns]);
  await sleep(1500); // give the garbage collector its chance
  assert.ok(
    await getJson<ScaledObject>(c, 'scaledobject', 'keeper', '-n', ns),
    'the orphaned ScaledObject survives',
  );
});

test('both scaling metrics: Ready=False with a clear message and an Event; other objects still reconcile', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  await operatorFor(t, c, ns);
  await apply(
    c,
    httpso(ns, 'both', {
      spec: { scalingMetric: { concurrency: { targetValue: 5 }, requestRate: { targetValue: 5 } } },
    }),
  );
  await apply(c, httpso(ns, 'fine'));
  const ready = await eventually('Ready=False', async () => {
    const r = readyOf(await getJson<HTTPScaledObject>(c, 'httpso', 'both', '-n', ns));
    return r?.status === 'False' ? r : undefined;
  });
  assert.equal(ready.reason, 'CreateError');
  assert.match(ready.message, /concurrency and \.spec\.scalingMetric\.rate are mutually exclusive/);
  assert.equal(
    (await c.kubectl(['get', 'scaledobject', 'both', '-n', ns])).code === 0,
    false,
    'no ScaledObject for it',
  );
  await eventually('Warning event', async () => (await eventReasons(c, ns, 'both')).includes('CreateError'));
  await eventually(
    'the other one is fine',
    async () => readyOf(await getJson<HTTPScaledObject>(c, 'httpso', 'fine', '-n', ns))?.status === 'True',
  );

  // Fixing the spec makes it Ready.
  await c.kubectlOk([
    'patch',
    'httpso',
    'both',
    '-n',
    ns,
    '--type=json',
    '-p',
    '[{"op":"remove","path":"/spec/scalingMetric/requestRate"}]',
  ]);
  await eventually(
    'fixed',
    async () => readyOf(await getJson<HTTPScaledObject>(c, 'httpso', 'both', '-n', ns))?.status === 'True',
  );
});

test('InterceptorRoute Ready follows its Service, port, fallback and ConfigMap', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  await operatorFor(t, c, ns);
  const route = (spec: Partial<InterceptorRoute['spec']> = {}): InterceptorRoute => ({
    apiVersion: 'http.keda.sh/v1beta1',
    kind: 'InterceptorRoute',
    metadata: { name: 'web', namespace: ns },
    spec: {
      target: { service: 'web', portName: 'http' },
      scalingMetric: { concurrency: { targetValue: 10 } },
      rules: [{ hosts: ['web.example.com'] }],
      ...spec,
    },
  });
  const service = (name: string, ports: { name: string; port: number }[]): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns },
    spec: { ports, selector: { app: name } },
  });
  const readyIs = (status: string, reason: string) =>
    eventually(`Ready=${status} ${reason}`, async () => {
      const r = readyOf(await getJson<InterceptorRoute>(c, 'interceptorroute', 'web', '-n', ns));
      return r?.status === status && r.reason === reason ? r : undefined;
    });

  await apply(c, route());
  const missing = await readyIs('False', 'ServiceNotFound');
  assert.match(missing.message, /Service "web" \(spec\.target\) does not exist/);
  await apply(c, service('web', [{ name: 'grpc', port: 9000 }]));
  const noPort = await readyIs('False', 'ServicePortNotFound');
  assert.match(noPort.message, /no port named "http" \(its ports: grpc\/9000\)/);
  await apply(
    c,
    service('web', [
      { name: 'grpc', port: 9000 },
      { name: 'http', port: 80 },
    ]),
  );
  await readyIs('True', 'Reconciled');

  await apply(c, route({ coldStart: { fallback: { service: { name: 'sorry', port: 8080 } } } }));
  await readyIs('False', 'FallbackServiceNotFound');
  await apply(c, service('sorry', [{ name: 'http', port: 8080 }]));
  await readyIs('True', 'Reconciled');

  await c.kubectlOk([
    'create',
    'configmap',
    'page',
    '-n',
    ns,
    '--from-literal=index.html=<h1>waking up</h1>',
  ]);
  await apply(
    c,
    route({
      coldStart: { placeholder: { response: { bodyFromConfigMap: { name: 'page', key: 'index.html' } } } },
    }),
  );
  const unlabelled = await readyIs('False', 'ConfigMapNotLabelled');
  assert.match(unlabelled.message, /kubectl label configmap page/);
  await c.kubectlOk(['label', 'configmap', 'page', '-n', ns, 'http.keda.sh/response-body=true']);
  await readyIs('True', 'Reconciled');
  await c.kubectlOk(['delete', 'configmap', 'page', '-n', ns]);
  await readyIs('False', 'ConfigMapNotFound');
  await c.kubectlOk(['create', 'configmap', 'page', '-n', ns, '--from-literal=other=x']);
  await c.kubectlOk(['label', 'configmap', 'page', '-n', ns, 'http.keda.sh/response-body=true']);
  await readyIs('False', 'ConfigMapKeyNotFound');

  await apply(c, route());
  await readyIs('True', 'Reconciled');
  await c.kubectlOk(['delete', 'service', 'web', '-n', ns]);
  await readyIs('False', 'ServiceNotFound');

  const reasons = await eventReasons(c, ns, 'web');
  for (const r of ['ServiceNotFound', 'ServicePortNotFound', 'Ready', 'ConfigMapNotLabelled'])
    assert.ok(reasons.includes(r), `event ${r} recorded (got ${reasons.join(', ')})`);
});

test('keda-http operator: clear config errors; probes, metrics, lease and a clean SIGTERM', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const node = process.execPath;
  const bad = spawn(node, ['bin/keda-http.ts', 'operator'], {
    env: { ...process.env, KUBECONFIG: c.kubeconfigPath },
  });
  let badErr = '';
  bad.stderr.on('data', (d: Buffer) => (badErr += d.toString()));
  const [badCode] = (await once(bad, 'exit')) as [number];
  assert.equal(badCode, 1);
  assert.match(badErr, /KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_SERVICE is required/);

  const child = spawn(
    node,
    [
      'bin/keda-http.ts',
      'operator',
      '--leader-elect',
      '--metrics-bind-address=127.0.0.1:18480',
      '--health-probe-bind-address=127.0.0.1:18481',
    ],
    { env: { ...process.env, ...env(ns), KEDA_HTTP_OPERATOR_NAMESPACE: ns, KUBECONFIG: c.kubeconfigPath } },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  t.after(() => child.kill('SIGKILL'));
  await eventually(
    'readyz',
    async () => (await fetch('http://127.0.0.1:18481/readyz')).status === 200,
    20_000,
  );
  assert.equal((await fetch('http://127.0.0.1:18481/healthz')).status, 200);
  await eventually('lease held', async () => {
    const lease = await getJson<{ spec?: { holderIdentity?: string } }>(
      c,
      'lease',
      'http-add-on.keda.sh',
      '-n',
      ns,
    );
    return (lease?.spec?.holderIdentity ?? '') !== '';
  });
  await apply(c, httpso(ns, 'via-binary'));
  await eventually('ScaledObject from the binary', () =>
    getJson<ScaledObject>(c, 'scaledobject', 'via-binary', '-n', ns),
  );
  // The ScaledObject appears before the reconcile that made it has finished; wait for its count.
  const metrics = await eventually('reconcile counted', async () => {
    const text = await (await fetch('http://127.0.0.1:18480/metrics')).text();
    return /controller_runtime_reconcile_total\{controller="httpscaledobject",result="success"\} [1-9]/.test(
      text,
    )
      ? text
      : undefined;
  });
  assert.match(metrics, /leader_election_master_status\{name="http-add-on.keda.sh"\} 1/);
  // Every log line is JSON.
  for (const line of out.trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line);

  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number];
  assert.equal(code, 0, out);
  const lease = await getJson<{ spec?: { holderIdentity?: string } }>(
    c,
    'lease',
    'http-add-on.keda.sh',
    '-n',
    ns,
  );
  assert.equal(lease?.spec?.holderIdentity ?? '', '', 'the lease was released');
});
