// The manager, driven with kubectl as a user would, against the real control plane: a real
// `keda-http manager` process installs, reconfigures, moves and removes the add-on.
// Steps run in order and build on each other, like a user's session.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Keda, KubeObject } from '../../addon/api/index.ts';
import { KubeClient } from '../../addon/runtime/index.ts';
import { kinds } from '../../manager/kinds.ts';
import { testCluster, type TestCluster } from '../harness/cluster.ts';
import { installCrds, istioCrdFile } from '../../hack/cluster/crds.ts';
import { eventually } from '../harness/eventually.ts';
import { startKedaHttp, type ServiceProcess } from '../../hack/keda-http-process.ts';
import { reportPodsReady } from '../harness/ready-pods.ts';

const run = process.pid.toString(36);
const kedaNs = `mgr-keda-${run}`;
const ns1 = `mgr-addon-a-${run}`;
const ns2 = `mgr-addon-b-${run}`;
const appNs = `mgr-app-${run}`;
const ns3 = `mgr-addon-c-${run}`;
const kedaOperatorNs = `mgr-keda-operator-${run}`;
const A = 'keda.kyma-project.io/';

let c: TestCluster;
let client: KubeClient;
let manager: ServiceProcess | undefined;
let pods: { stop(): Promise<void> } | undefined;
let podsReady = false;

function startManager(): ServiceProcess {
  manager = startKedaHttp(
    [
      'manager',
      '--kubeconfig',
      c.kubeconfigPath,
      '--metrics-bind-address=127.0.0.1:0',
      '--health-probe-bind-address=0',
    ],
    { KEDA_HTTP_MANAGER_REAPPLY_INTERVAL: '0s', KEDA_HTTP_ADDON_IMAGE: 'keda-http-addon:test' },
  );
  return manager;
}

/** A crash and a restart: SIGKILL (no clean shutdown), then a new process. */
async function restartManager(): Promise<void> {
  await manager?.stop('SIGKILL');
  startManager();
}

const managerLog = (): string => `manager output (last 3000 chars):\n${manager?.output().slice(-3000) ?? ''}`;

async function keda(name = 'default'): Promise<Keda | undefined> {
  return client.get<Keda>(kinds.keda, kedaNs, name);
}

let lastSeen: unknown;

async function waitCondition(
  reason: string,
  opts: { name?: string; message?: RegExp; timeoutMs?: number } = {},
) {
  return eventually(
    `Keda ${opts.name ?? 'default'} AddonInstalled reason ${reason}${opts.message ? ` matching ${opts.message}` : ''}`,
    async () => {
      const k = await keda(opts.name);
      const cond = k?.status?.conditions?.find((x) => x.type === 'AddonInstalled');
      lastSeen = cond;
      if (cond?.reason === reason && (!opts.message || opts.message.test(cond.message))) return cond;
      return undefined;
    },
    {
      timeoutMs: opts.timeoutMs ?? 60_000,
      detail: () => `last condition: ${JSON.stringify(lastSeen)}\n${managerLog()}`,
    },
  );
}

async function annotate(...pairs: string[]): Promise<void> {
  await c.kubectlOk(['annotate', 'keda', 'default', '-n', kedaNs, '--overwrite', ...pairs]);
}

/** Every object carrying the manager's label in a namespace, as "Kind/name". */
async function addonObjectsIn(namespace: string): Promise<string[]> {
  const out = await c.kubectlOk([
    'get',
    'deployments,services,serviceaccounts,networkpolicies,roles,rolebindings,scaledobjects,configmaps',
    '-n',
    namespace,
    '-l',
    'app.kubernetes.io/managed-by=keda-http-manager',
    '-o',
    'jsonpath={range .items[*]}{.kind}/{.metadata.name}{"\\n"}{end}',
  ]);
  return out.split('\n').filter(Boolean).sort();
}

async function deployment(
  namespace: string,
  name: string,
): Promise<
  KubeObject & {
    spec: {
      template: {
        metadata: { annotations?: Record<string, string> };
        spec: { containers: { env?: { name: string; value?: string }[] }[] };
      };
    };
  }
> {
  const d = await client.get(kinds.deployment, namespace, name);
  assert.ok(d, `Deployment ${namespace}/${name} exists`);
  return d as never;
}

async function reconcileCount(): Promise<number> {
  const m = /"metrics":"([\d.]+):(\d+)"/.exec(manager?.output() ?? '');
  assert.ok(m, 'manager logged its metrics address');
  const text = await (await fetch(`http://${m[1]}:${m[2]}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('controller_runtime_reconcile_total{')) total += Number(line.split(' ').pop());
  }
  return total;
}

/** Makes the manager reconcile (an unrelated annotation) and waits until it has done so twice. */
async function forceReconcile(tag: string): Promise<void> {
  const before = await reconcileCount();
  await annotate(`test.example.com/touch=${tag}`);
  await eventually('the manager to reconcile', async () =>
    (await reconcileCount()) >= before + 1 ? true : undefined,
  );
  await new Promise((r) => setTimeout(r, 1500));
}

/** Waits until the current manager process has reconciled at least `n` times. */
async function waitReconciles(n: number): Promise<void> {
  let count: number | string = 0;
  await eventually(
    `the manager to reconcile ${n} times`,
    async () => {
      count = await reconcileCount().catch(String);
      return typeof count === 'number' && count >= n ? true : undefined;
    },
    { detail: () => `reconciles: ${count}\n${managerLog()}` },
  );
}

async function referencesCondition() {
  const k = await keda();
  return k?.status?.conditions?.find((x) => x.type === 'AddonReferencesCurrent');
}

async function eventsAbout(kind: string, namespace: string, name: string, reason: string): Promise<string> {
  return c.kubectlOk([
    'get',
    'events',
    '-n',
    namespace,
    '--field-selector',
    `involvedObject.kind=${kind},involvedObject.name=${name},reason=${reason}`,
    '-o',
    'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
  ]);
}

const appYaml = (kind: 'hso' | 'ir', name: string, host: string): string =>
  JSON.stringify(
    kind === 'hso'
      ? {
          apiVersion: 'http.keda.sh/v1alpha1',
          kind: 'HTTPScaledObject',
          metadata: { name, namespace: appNs },
          spec: {
            hosts: [host],
            scaleTargetRef: {
              name: 'app',
              kind: 'Deployment',
              apiVersion: 'apps/v1',
              service: 'app',
              port: 8080,
            },
            replicas: { min: 0, max: 3 },
          },
        }
      : {
          apiVersion: 'http.keda.sh/v1beta1',
          kind: 'InterceptorRoute',
          metadata: { name, namespace: appNs },
          spec: {
            target: { service: 'app', port: 8080 },
            rules: [{ hosts: [host] }],
            scalingMetric: { concurrency: { targetValue: 100 } },
          },
        },
  );

describe('manager', { concurrency: false }, () => {
  before(async () => {
    c = await testCluster();
    client = new KubeClient(c.kc);
    for (const ns of [kedaNs, appNs, kedaOperatorNs]) await c.kubectlOk(['create', 'namespace', ns]);
    // Where KEDA's operator runs, as the manager finds it when KEDA has no external metrics APIService.
    await c.kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'keda-operator', namespace: kedaOperatorNs, labels: { app: 'keda-operator' } },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'keda-operator' } },
          template: {
            metadata: { labels: { app: 'keda-operator' } },
            spec: { containers: [{ name: 'keda-operator', image: 'example.invalid/keda:1' }] },
          },
        },
      }),
    );
    // Istio starts out absent (an earlier run on a kept cluster may have installed its CRDs).
    await c.kubectlOk([
      'delete',
      'crd',
      '--ignore-not-found',
      'peerauthentications.security.istio.io',
      'envoyfilters.networking.istio.io',
    ]);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'operator.kyma-project.io/v1alpha1',
        kind: 'Keda',
        metadata: { name: 'default', namespace: kedaNs },
        spec: {},
      }),
    );
    // Pods are reported Ready only once the test has seen the manager wait for them.
    pods = reportPodsReady(c.kc, () => (podsReady ? [ns1, ns2] : []));
    startManager();
  });

  after(async () => {
    await manager?.stop();
    await pods?.stop();
    // Leave the cluster as other test files expect it: no Keda objects, the CRDs installed.
    await c.kubectl(['delete', 'keda', '--all', '-n', kedaNs, '--wait=false']);
    await c.kubectl([
      'patch',
      'keda',
      'default',
      '-n',
      kedaNs,
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    ]);
    await c.kubectl([
      'patch',
      'keda',
      'second',
      '-n',
      kedaNs,
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    ]);
    for (const ns of [kedaNs, appNs, ns1, ns2, ns3, kedaOperatorNs])
      await c.kubectl(['delete', 'namespace', ns, '--wait=false']);
    installCrds(c.kubeconfigPath);
  });

  test('with no annotation the add-on is reported disabled and nothing is installed', async () => {
    await waitCondition('HTTPAddonDisabled');
    assert.equal((await keda())?.metadata.finalizers?.length ?? 0, 0);
  });

  test('an unknown addon-enabled value is a clear error and changes nothing', async () => {
    await annotate(`${A}addon-enabled=yes`, `${A}addon-namespace=${ns1}`);
    const cond = await waitCondition('HTTPAddonInvalidConfig');
    assert.match(cond.message, /addon-enabled: "yes" is not true or false/);
    assert.equal(await client.get(kinds.namespace, '', ns1), undefined, 'no namespace was created');
  });

  test('enable installs every object; AddonInstalled waits for the Deployments to be Available', async () => {
    await annotate(`${A}addon-enabled=true`);
    await restartManager(); // in the middle of the install
    await eventually('the add-on namespace labelled for Istio injection', async () => {
      const ns = await client.get(kinds.namespace, '', ns1);
      return ns?.metadata.labels?.['istio-injection'] === 'enabled' ? ns : undefined;
    });
    const installing = await waitCondition('HTTPAddonInstalling');
    assert.match(
      installing.message,
      /waiting for Deployment\(s\) keda-add-ons-http-interceptor, keda-add-ons-http-external-scaler, keda-add-ons-http-operator to become Available/,
    );
    podsReady = true;
    const cond = await waitCondition('HTTPAddonInstalled', {
      message: new RegExp(`installed in namespace ${ns1}`),
    });
    assert.equal(cond.status, 'True');
    const objs = await addonObjectsIn(ns1);
    for (const expected of [
      'Deployment/keda-add-ons-http-interceptor',
      'Deployment/keda-add-ons-http-external-scaler',
      'Deployment/keda-add-ons-http-operator',
      'Service/keda-add-ons-http-interceptor-proxy',
      'Service/keda-add-ons-http-interceptor-admin',
      'Service/keda-add-ons-http-interceptor-metrics',
      'Service/keda-add-ons-http-external-scaler',
      'Service/keda-add-ons-http-operator-metrics',
      'ServiceAccount/keda-add-ons-http-interceptor',
      'ScaledObject/keda-add-ons-http-interceptor',
      'Role/keda-add-ons-http-operator',
      'NetworkPolicy/keda-add-ons-http-interceptor-allow-ingress-proxy',
    ]) {
      assert.ok(objs.includes(expected), `${expected} in ${objs.join(', ')}`);
    }
    for (const crd of ['httpscaledobjects.http.keda.sh', 'interceptorroutes.http.keda.sh']) {
      assert.ok(await client.get(kinds.crd, '', crd), crd);
    }
    const k = await keda();
    assert.equal(k?.metadata.annotations?.[`${A}addon-installed-namespace`], ns1);
    assert.equal(k?.metadata.annotations?.[`${A}addon-installed-version`], '0.1.0');
    assert.ok(k?.metadata.finalizers?.includes('keda-http.kyma-project.io/addon'));
    const d = await deployment(ns1, 'keda-add-ons-http-interceptor');
    assert.equal(d.spec.template.metadata.annotations?.['sidecar.istio.io/inject'], 'false');
    const events = await c.kubectlOk([
      'get',
      'events',
      '-n',
      kedaNs,
      '--field-selector',
      'involvedObject.kind=Keda',
      '-o',
      'jsonpath={.items[*].reason}',
    ]);
    assert.match(events, /HTTPAddonInstalling/);
    assert.match(events, /HTTPAddonInstalled/);
  });

  test("the scaler's NetworkPolicy admits KEDA's operator from the namespace KEDA runs in", async () => {
    const apiService = (await client.get(kinds.apiService, '', 'v1beta1.external.metrics.k8s.io')) as
      (KubeObject & { spec?: { service?: { namespace?: string; name?: string } } }) | undefined;
    const service = apiService?.spec?.service;
    const expected = service?.name?.startsWith('keda-') ? service.namespace : kedaOperatorNs;
    const np = (await client.get(kinds.networkPolicy, ns1, 'keda-add-ons-http-scaler-allow-ingress')) as
      | (KubeObject & {
          spec: { ingress: { from: { namespaceSelector?: { matchLabels?: Record<string, string> } }[] }[] };
        })
      | undefined;
    assert.ok(np);
    assert.deepEqual(np.spec.ingress[0]?.from[0]?.namespaceSelector?.matchLabels, {
      'kubernetes.io/metadata.name': expected,
    });
  });

  test('a steady state makes no writes: resourceVersions are unchanged after a full re-apply', async () => {
    const snapshot = async (): Promise<Record<string, string>> => {
      const out = await c.kubectlOk([
        'get',
        'deployments,services,serviceaccounts,networkpolicies,roles,rolebindings,scaledobjects,configmaps',
        '-A',
        '-l',
        'app.kubernetes.io/managed-by=keda-http-manager',
        '-o',
        'jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}={.metadata.resourceVersion}{"\\n"}{end}',
      ]);
      return Object.fromEntries(
        out
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split('=') as [string, string]),
      );
    };
    await forceReconcile('1');
    const before = await snapshot();
    assert.ok(
      Object.keys(before).length > 20,
      `snapshot has the add-on's objects: ${Object.keys(before).length}`,
    );
    await forceReconcile('2');
    assert.deepEqual(await snapshot(), before);
  });

  test("a user's env patch on an add-on Deployment survives the manager's reconciles", async () => {
    await c.kubectlOk([
      'set',
      'env',
      '-n',
      ns1,
      'deployment/keda-add-ons-http-interceptor',
      'KEDA_HTTP_REQUEST_TIMEOUT=5s',
    ]);
    await forceReconcile('3');
    const env =
      (await deployment(ns1, 'keda-add-ons-http-interceptor')).spec.template.spec.containers[0]?.env ?? [];
    assert.deepEqual(
      env.map((e) => `${e.name}=${e.value}`),
      ['KEDA_HTTP_PROXY_PORT=8080', 'KEDA_HTTP_ADMIN_PORT=9090', 'KEDA_HTTP_REQUEST_TIMEOUT=5s'],
    );
  });

  test('replica range, resources and log level from annotations; an invalid one changes nothing', async () => {
    type Container = { resources: { requests?: Record<string, string>; limits?: Record<string, string> } };
    const interceptorSo = async () =>
      (await client.get(kinds.scaledObject, ns1, 'keda-add-ons-http-interceptor')) as unknown as {
        spec: { minReplicaCount: number; maxReplicaCount: number };
      };
    const container = async (name: string) =>
      (await deployment(ns1, name)).spec.template.spec.containers[0] as unknown as Container;

    await annotate(
      `${A}addon-interceptor-min-replicas=2`,
      `${A}addon-interceptor-max-replicas=7`,
      `${A}addon-interceptor-resources=requests.cpu=200m,limits.memory=1500Mi`,
      `${A}addon-log-level=debug`,
    );
    await eventually('the ScaledObject and the Deployments follow the annotations', async () => {
      const so = await interceptorSo();
      const c = await container('keda-add-ons-http-interceptor');
      const scalerEnv =
        (await deployment(ns1, 'keda-add-ons-http-external-scaler')).spec.template.spec.containers[0]?.env ??
        [];
      return so.spec.minReplicaCount === 2 &&
        so.spec.maxReplicaCount === 7 &&
        c.resources.requests?.cpu === '200m' &&
        c.resources.limits?.memory === '1500Mi' &&
        scalerEnv.find((e) => e.name === 'LOG_LEVEL')?.value === 'debug'
        ? true
        : undefined;
    });

    await annotate(`${A}addon-interceptor-min-replicas=9`);
    const cond = await waitCondition('HTTPAddonInvalidConfig');
    assert.match(cond.message, /\(9\) and .*\(7\): the minimum is above the maximum/);
    await forceReconcile('invalid-range');
    assert.equal((await interceptorSo()).spec.minReplicaCount, 2, 'nothing changed');
    await annotate(`${A}addon-interceptor-min-replicas=2`);
    await waitCondition('HTTPAddonInstalled');
  });

  test('kubectl set resources on an owned field is reported with Events, then set back', async () => {
    await c.kubectlOk([
      'set',
      'resources',
      '-n',
      ns1,
      'deployment/keda-add-ons-http-interceptor',
      '--limits=memory=3Gi',
    ]);
    const field = 'spec.template.spec.containers[interceptor].resources.limits.memory';
    const reverted = 'HTTPAddonOwnedFieldReverted';
    const onDeployment = (): Promise<string> =>
      eventsAbout('Deployment', ns1, 'keda-add-ons-http-interceptor', reverted);
    await eventually('an Event on the Deployment naming the field and the annotation', async () =>
      (await onDeployment()).includes(`${field} was changed to 3Gi`) ? true : undefined,
    );
    assert.match(
      await onDeployment(),
      /set it back to 1500Mi\. To change it, set the annotation keda\.kyma-project\.io\/addon-interceptor-resources/,
    );
    assert.match(
      await eventsAbout('Keda', kedaNs, 'default', reverted),
      new RegExp(`Deployment ${ns1}/keda-add-ons-http-interceptor: `),
    );
    await eventually("the limit set back to the annotation's value", async () => {
      const c0 = (await deployment(ns1, 'keda-add-ons-http-interceptor')).spec.template.spec
        .containers[0] as unknown as {
        resources: { limits?: Record<string, string> };
      };
      return c0.resources.limits?.memory === '1500Mi' ? true : undefined;
    });
  });

  test('Istio on without Istio installed: a clear error naming the missing kinds', async () => {
    await annotate(`${A}addon-istio-injection=true`);
    await restartManager(); // in the middle of the Istio switch
    const cond = await waitCondition('HTTPAddonInstallErr', {
      message: /PeerAuthentication.*is Istio installed\?/,
    });
    assert.equal(cond.status, 'False');
  });

  test('Istio on: injection annotations, excluded ports, PeerAuthentication and an EnvoyFilter for every host', async () => {
    await c.kubectlOk(['apply', '--server-side', '-f', istioCrdFile()]);
    await c.kubectlOk(['create', 'namespace', 'istio-system']).catch(() => undefined);
    await c.kubectlOk(['apply', '-f', '-'], appYaml('hso', 'shop', 'shop.example.com'));
    await c.kubectlOk(['apply', '-f', '-'], appYaml('ir', 'api', 'api.example.com'));
    await waitCondition('HTTPAddonInstalled');
    const ann =
      (await deployment(ns1, 'keda-add-ons-http-interceptor')).spec.template.metadata.annotations ?? {};
    assert.equal(ann['sidecar.istio.io/inject'], 'true');
    assert.equal(ann['traffic.sidecar.istio.io/excludeInboundPorts'], '9090');
    assert.ok(await client.get(kinds.peerAuthentication, ns1, 'keda-add-ons-http-envoy-metrics'));
    const vhosts = async (): Promise<string[]> => {
      const ef = (await client.get(
        kinds.envoyFilter,
        'istio-system',
        'keda-add-ons-http-cold-start-retry',
      )) as
        | (KubeObject & {
            spec: { configPatches: { match: { routeConfiguration: { vhost: { name: string } } } }[] };
          })
        | undefined;
      return ef?.spec.configPatches.map((p) => p.match.routeConfiguration.vhost.name) ?? [];
    };
    await eventually('EnvoyFilter with both hosts', async () =>
      (await vhosts()).join(',') ===
      'api.example.com:443,api.example.com:80,shop.example.com:443,shop.example.com:80'
        ? true
        : undefined,
    );

    await c.kubectlOk(['delete', 'interceptorroute', 'api', '-n', appNs]);
    await eventually('EnvoyFilter without the removed host', async () =>
      (await vhosts()).join(',') === 'shop.example.com:443,shop.example.com:80' ? true : undefined,
    );
  });

  test('restarts never delete or empty the EnvoyFilter while the route informers catch up', async () => {
    const seen: string[] = [];
    const abort = new AbortController();
    const watching = client
      .watch<KubeObject & { spec?: { configPatches?: unknown[] } }>(
        kinds.envoyFilter,
        { namespace: 'istio-system', fieldSelector: 'metadata.name=keda-add-ons-http-cold-start-retry' },
        (e) => {
          if (e.type !== 'BOOKMARK') seen.push(`${e.type}:${e.object.spec?.configPatches?.length ?? 0}`);
        },
        abort.signal,
      )
      .catch((err: unknown) => seen.push(`watch failed: ${String(err)}`));
    try {
      for (let i = 0; i < 2; i++) {
        await restartManager();
        // The first pass runs before the route informers have synced; the next ones after.
        await waitReconciles(2);
        await waitCondition('HTTPAddonInstalled');
        await new Promise((r) => setTimeout(r, 6000));
      }
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      abort.abort();
      await watching;
    }
    assert.ok(seen.length > 0, 'the watch saw the EnvoyFilter');
    assert.deepEqual(
      seen.filter((e) => !/^(ADDED|MODIFIED):2$/.test(e)),
      [],
      `every event keeps both patches of shop.example.com: ${seen.join(', ')}`,
    );
    assert.equal(
      (await client.get(kinds.envoyFilter, 'istio-system', 'keda-add-ons-http-cold-start-retry')) !==
        undefined,
      true,
    );
  });

  test('Istio off again: annotations back to "false", PeerAuthentication and EnvoyFilter gone', async () => {
    await annotate(`${A}addon-istio-injection=false`);
    await eventually('sidecar injection off', async () => {
      const ann =
        (await deployment(ns1, 'keda-add-ons-http-interceptor')).spec.template.metadata.annotations ?? {};
      return ann['sidecar.istio.io/inject'] === 'false' &&
        ann['traffic.sidecar.istio.io/excludeInboundPorts'] === undefined
        ? true
        : undefined;
    });
    await eventually('PeerAuthentication and EnvoyFilter removed', async () =>
      !(await client.get(kinds.peerAuthentication, ns1, 'keda-add-ons-http-envoy-metrics')) &&
      !(await client.get(kinds.envoyFilter, 'istio-system', 'keda-add-ons-http-cold-start-retry'))
        ? true
        : undefined,
    );
    await waitCondition('HTTPAddonInstalled');
  });

  test('an invalid namespace name is refused and the installed add-on is left alone', async () => {
    await annotate(`${A}addon-namespace=Not_Valid`);
    const cond = await waitCondition('HTTPAddonInvalidConfig');
    assert.match(cond.message, /addon-namespace: "Not_Valid" is not a valid namespace name/);
    assert.ok((await addonObjectsIn(ns1)).includes('Deployment/keda-add-ons-http-interceptor'));
  });

  test('a namespace being deleted is refused with a clear message, nothing is moved', async () => {
    const doomed = `mgr-doomed-${run}`;
    await c.kubectlOk(['create', 'namespace', doomed]);
    await c.kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'hold', namespace: doomed, finalizers: ['test.example.com/hold'] },
      }),
    );
    await c.kubectlOk(['delete', 'namespace', doomed, '--wait=false']);
    await annotate(`${A}addon-namespace=${doomed}`);
    const cond = await waitCondition('HTTPAddonInstallErr', { message: /being deleted/ });
    assert.match(cond.message, new RegExp(`namespace ${doomed} is being deleted`));
    assert.ok((await addonObjectsIn(ns1)).includes('Deployment/keda-add-ons-http-interceptor'));
    await c.kubectlOk([
      'patch',
      'configmap',
      'hold',
      '-n',
      doomed,
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    ]);
  });

  test("objects of the add-on that Kyma's keda-manager manages stop the install with a clear condition", async () => {
    await c.kubectlOk(['create', 'namespace', ns3]);
    // As Kyma's keda-manager leaves it: its label, server-side applied under its field manager.
    await c.kubectlOk(
      ['apply', '--server-side', '--field-manager=keda-manager', '-f', '-'],
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: {
          name: 'keda-add-ons-http-operator',
          namespace: ns3,
          labels: { 'app.kubernetes.io/managed-by': 'keda-manager' },
        },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'kyma-operator' } },
          template: {
            metadata: { labels: { app: 'kyma-operator' } },
            spec: { containers: [{ name: 'operator', image: 'example.invalid/kyma:1' }] },
          },
        },
      }),
    );
    await annotate(`${A}addon-namespace=${ns3}`);
    const cond = await waitCondition('HTTPAddonManagedElsewhere');
    assert.match(
      cond.message,
      new RegExp(
        `Deployment ${ns3}/keda-add-ons-http-operator \\(label app.kubernetes.io/managed-by=keda-manager\\)`,
      ),
    );
    const theirs = await client.get(kinds.deployment, ns3, 'keda-add-ons-http-operator');
    assert.equal(theirs?.metadata.labels?.['app.kubernetes.io/managed-by'], 'keda-manager', 'not taken over');
    assert.deepEqual(await addonObjectsIn(ns3), [], 'nothing installed beside it');
    assert.ok(
      (await addonObjectsIn(ns1)).includes('Deployment/keda-add-ons-http-interceptor'),
      'nothing moved',
    );

    await annotate(`${A}addon-namespace=${ns1}`);
    await waitCondition('HTTPAddonInstalled', { message: new RegExp(`installed in namespace ${ns1}`) });
  });

  test("moving namespaces (with a manager restart in the middle) leaves the old namespace and users' routes alone", async () => {
    // Unrelated objects that share the old namespace.
    await c.kubectlOk(['create', 'configmap', 'mine', '-n', ns1, '--from-literal=a=b']);
    await c.kubectlOk(['create', 'service', 'clusterip', 'mine', '-n', ns1, '--tcp=80:80']);
    await c.kubectlOk(['create', 'deployment', 'mine', '-n', ns1, '--image=example.invalid/mine:1']);
    const uid = async (kind: string) =>
      c.kubectlOk(['get', kind, 'mine', '-n', ns1, '-o', 'jsonpath={.metadata.uid}']);
    const uids = { cm: await uid('configmap'), svc: await uid('service'), deploy: await uid('deployment') };
    // Users' objects pointing at the add-on in its old namespace: reported, never rewritten.
    const proxy = 'keda-add-ons-http-interceptor-proxy';
    const scalerAddress = `keda-add-ons-http-external-scaler.${ns1}:9090`;
    const userObjects = [
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'mine', namespace: appNs },
        spec: {
          scaleTargetRef: { name: 'app' },
          triggers: [{ type: 'external', metadata: { scalerAddress, host: 'mine.example.com' } }],
        },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'mine', namespace: ns1 },
        spec: { defaultBackend: { service: { name: proxy, port: { number: 8080 } } } },
      },
      {
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'VirtualService',
        metadata: { name: 'mine', namespace: appNs },
        spec: {
          hosts: ['mine.example.com'],
          http: [
            {
              route: [{ destination: { host: `${proxy}.${ns1}.svc.cluster.local`, port: { number: 8080 } } }],
            },
          ],
        },
      },
    ];
    for (const o of userObjects) await c.kubectlOk(['apply', '-f', '-'], JSON.stringify(o));

    await manager?.stop('SIGKILL');
    await annotate(`${A}addon-namespace=${ns2}`);
    startManager();

    await waitCondition('HTTPAddonInstalled', { message: new RegExp(`installed in namespace ${ns2}`) });
    const moved = await client.get(kinds.namespace, '', ns2);
    assert.equal(moved?.metadata.labels?.['istio-injection'], 'enabled');
    assert.ok((await addonObjectsIn(ns2)).includes('Deployment/keda-add-ons-http-interceptor'));
    await eventually('old namespace free of add-on objects', async () =>
      (await addonObjectsIn(ns1)).length === 0 ? true : undefined,
    );
    assert.deepEqual(
      { cm: await uid('configmap'), svc: await uid('service'), deploy: await uid('deployment') },
      uids,
      'unrelated objects untouched',
    );
    assert.ok(await client.get(kinds.namespace, '', ns1), 'the old namespace stays');
    assert.ok(
      await client.get(kinds.httpScaledObject, appNs, 'shop'),
      "the user's HTTPScaledObject survives",
    );
    assert.equal((await keda())?.metadata.annotations?.[`${A}addon-installed-namespace`], ns2);

    const refs = await eventually('AddonReferencesCurrent naming the stale objects', async () => {
      const cond = await referencesCondition();
      return cond?.reason === 'HTTPAddonStaleReferences' ? cond : undefined;
    });
    assert.equal(refs.status, 'False');
    for (const named of [
      `ScaledObject ${appNs}/mine (scalerAddress ${scalerAddress})`,
      `Ingress ${ns1}/mine (backend Service ${proxy} in ${ns1})`,
      `VirtualService ${appNs}/mine (destination host ${proxy}.${ns1}.svc.cluster.local)`,
    ]) {
      assert.ok(refs.message.includes(named), `${named} in: ${refs.message}`);
    }
    for (const [kind, namespace] of [
      ['ScaledObject', appNs],
      ['Ingress', ns1],
      ['VirtualService', appNs],
    ] as const) {
      assert.match(
        await eventsAbout(kind, namespace, 'mine', 'HTTPAddonStaleReferences'),
        new RegExp(`does not run in ${ns1} but in ${ns2}`),
        `an Event on ${kind} ${namespace}/mine`,
      );
    }
    const so = await client.get(kinds.scaledObject, appNs, 'mine');
    assert.equal(
      (so?.spec as { triggers: { metadata: { scalerAddress: string } }[] }).triggers[0]?.metadata
        .scalerAddress,
      scalerAddress,
      "the user's ScaledObject is not rewritten",
    );

    await c.kubectlOk(['delete', 'scaledobject', 'mine', '-n', appNs]);
    await c.kubectlOk(['delete', 'ingress', 'mine', '-n', ns1]);
    await c.kubectlOk(['delete', 'virtualservice', 'mine', '-n', appNs]);
    await annotate('test.example.com/touch=references-fixed');
    await eventually('AddonReferencesCurrent True once they are gone', async () =>
      (await referencesCondition())?.status === 'True' ? true : undefined,
    );
  });

  test('a second Keda object is told it is not served', async () => {
    await c.kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'operator.kyma-project.io/v1alpha1',
        kind: 'Keda',
        metadata: { name: 'second', namespace: kedaNs, annotations: { [`${A}addon-enabled`]: 'true' } },
        spec: {},
      }),
    );
    const cond = await waitCondition('HTTPAddonNotServed', { name: 'second' });
    assert.match(cond.message, new RegExp(`Keda ${kedaNs}/default manages the HTTP add-on`));
    await c.kubectlOk(['delete', 'keda', 'second', '-n', kedaNs]);
  });

  test('disable is refused while HTTPScaledObjects exist, then removes everything once they are gone', async () => {
    await annotate(`${A}addon-enabled=false`);
    await restartManager(); // in the middle of the disable
    const cond = await waitCondition('HTTPAddonInUse');
    assert.match(cond.message, new RegExp(`HTTPScaledObject ${appNs}/shop`));
    assert.ok(
      (await addonObjectsIn(ns2)).includes('Deployment/keda-add-ons-http-interceptor'),
      'nothing removed yet',
    );

    await c.kubectlOk(['delete', 'httpscaledobject', 'shop', '-n', appNs]);
    // The guard re-checks every 30 s; nudging the Keda object makes the test quicker, not different.
    await annotate('test.example.com/touch=after-delete');
    await waitCondition('HTTPAddonDisabled', { timeoutMs: 60_000 });
    assert.deepEqual(await addonObjectsIn(ns2), []);
    for (const kind of ['clusterroles', 'clusterrolebindings', 'customresourcedefinitions']) {
      const left = await c.kubectlOk([
        'get',
        kind,
        '-l',
        'app.kubernetes.io/managed-by=keda-http-manager',
        '-o',
        'name',
      ]);
      assert.equal(left.trim(), '', `no ${kind} left`);
    }
    const k = await keda();
    assert.equal(k?.metadata.annotations?.[`${A}addon-installed-version`], undefined);
    assert.equal(k?.metadata.finalizers?.includes('keda-http.kyma-project.io/addon') ?? false, false);
    assert.ok(await client.get(kinds.namespace, '', ns2), 'the namespace is not deleted');
  });

  test('without KEDA core, enabling reports it clearly; deleting the Keda object removes the add-on behind its finalizer', async () => {
    const kedaCrd = await c.kubectlOk(['get', 'crd', 'scaledobjects.keda.sh', '-o', 'json']);
    await c.kubectlOk(['delete', 'crd', 'scaledobjects.keda.sh']);
    try {
      await annotate(`${A}addon-enabled=true`);
      const cond = await waitCondition('HTTPAddonInstallErr', { message: /KEDA core is not installed/ });
      assert.match(cond.message, /scaledobjects\.keda\.sh/);
    } finally {
      const crd = JSON.parse(kedaCrd) as KubeObject;
      delete crd.metadata.resourceVersion;
      delete crd.metadata.uid;
      await c.kubectlOk(['create', '-f', '-'], JSON.stringify(crd));
      await c.kubectlOk(['wait', '--for=condition=Established', 'crd/scaledobjects.keda.sh']);
    }
    // The manager retries on its own (every 30 s); a nudge makes the test quicker.
    await annotate('test.example.com/touch=keda-back');
    await waitCondition('HTTPAddonInstalled', { message: new RegExp(ns2), timeoutMs: 90_000 });

    await c.kubectlOk(['delete', 'keda', 'default', '-n', kedaNs, '--wait=false']);
    await restartManager(); // in the middle of the removal behind the finalizer
    await eventually('the Keda object to be gone', async () => ((await keda()) ? undefined : true), {
      detail: managerLog,
    });
    assert.deepEqual(await addonObjectsIn(ns2), []);
  });
});
