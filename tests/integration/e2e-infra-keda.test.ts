// Real KEDA on the local control plane, run as pods by the process kubelet: the operator activates
// a Deployment from 0 to 1 when an external-push scaler says so, the HPA (kube-controller-manager)
// scales it 1 -> N on the metric KEDA's metrics API server serves as external.metrics.k8s.io, and
// both go back down to 0. The scaler is a small test scaler (hack/apps/external-scaler.ts), so this
// proves the infrastructure, not the add-on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeClient } from '../../addon/runtime/index.ts';
import { kinds, type KubeObject } from '../../addon/api/index.ts';
import { startTestExternalScaler, type TestExternalScaler } from '../../hack/apps/external-scaler.ts';
import { installKeda, type KedaInstallation } from '../../hack/keda.ts';
import { echoImage } from '../../hack/kubelet/images.ts';
import { startKubelet, type Kubelet } from '../../hack/kubelet/kubelet.ts';
import type { Pod } from '../../hack/kubelet/types.ts';
import { podKind } from '../../hack/kubelet/types.ts';
import { testCluster, testClusterDir, type TestCluster } from '../harness/cluster.ts';
import { eventually } from '../harness/eventually.ts';

let cluster: TestCluster;
let kubelet: Kubelet;
let keda: KedaInstallation | undefined;
let client: KubeClient;

before(async () => {
  cluster = await testCluster();
  client = new KubeClient(cluster.kc);
  kubelet = await startKubelet({
    kubeconfig: cluster.kubeconfigPath,
    stateDir: testClusterDir,
    restartBackoff: { initialMs: 1000, maxMs: 5000 },
  });
  keda = await installKeda({ kubeconfig: cluster.kubeconfigPath, timeoutSeconds: 240 });
});

after(async () => {
  // KEDA's APIService must not outlive its pods: other tests' discovery would see it failing.
  await keda?.uninstall();
  await kubelet?.stop();
  await client?.close();
});

const scaledObjectKind = kinds.scaledObject;
const deploymentKind = kinds.deployment;
type Deployment = KubeObject & { spec: { replicas?: number }; status?: { readyReplicas?: number } };

async function replicas(ns: string): Promise<{ spec: number; ready: number }> {
  const d = await client.get<Deployment>(deploymentKind, ns, 'app');
  return { spec: d?.spec.replicas ?? -1, ready: d?.status?.readyReplicas ?? 0 };
}

function scaledApp(ns: string, scalerAddress: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'app', namespace: ns },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'app' } },
          template: {
            metadata: { labels: { app: 'app' } },
            spec: {
              terminationGracePeriodSeconds: 5,
              containers: [
                {
                  name: 'echo',
                  image: echoImage,
                  ports: [{ name: 'http', containerPort: 8080 }],
                  readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'app', namespace: ns },
        spec: {
          scaleTargetRef: { name: 'app' },
          pollingInterval: 1,
          cooldownPeriod: 3,
          minReplicaCount: 0,
          maxReplicaCount: 3,
          advanced: {
            horizontalPodAutoscalerConfig: {
              behavior: {
                scaleDown: {
                  stabilizationWindowSeconds: 0,
                  policies: [{ type: 'Percent', value: 100, periodSeconds: 1 }],
                },
              },
            },
          },
          triggers: [{ type: 'external-push', metadata: { scalerAddress } }],
        },
      },
    ],
  });
}

test('KEDA scales 0 -> 1 on a push, 1 -> 3 through the HPA and its metrics API server, and back to 0', async (t) => {
  const ns = await cluster.freshNamespace(t);
  // The KEDA pods have network namespaces of their own: they reach this process on the node's address.
  const scaler: TestExternalScaler = await startTestExternalScaler({
    host: kubelet.nodeIP,
    active: false,
    value: 0,
    target: 10,
  });
  t.after(() => scaler.stop());
  await cluster.kubectlOk(['apply', '-f', '-'], scaledApp(ns, scaler.address));

  const soReady = await eventually(
    'the ScaledObject Ready',
    async () => {
      const so = await client.get<
        KubeObject & { status?: { conditions?: { type: string; status: string }[] } }
      >(scaledObjectKind, ns, 'app');
      return so?.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
    },
    { timeoutMs: 60_000 },
  );
  assert.ok(soReady);
  await eventually(
    'KEDA to open the push stream',
    () => (scaler.calls.StreamIsActive > 0 ? true : undefined),
    {
      timeoutMs: 30_000,
    },
  );
  assert.equal((await replicas(ns)).spec, 0, 'inactive: stays at 0');

  const t0 = Date.now();
  scaler.set({ active: true, value: 5 });
  await eventually(
    '1 ready replica after the push',
    async () => ((await replicas(ns)).ready === 1 ? true : undefined),
    {
      timeoutMs: 60_000,
    },
  );
  const activationSeconds = (Date.now() - t0) / 1000;
  t.diagnostic(`activation 0 -> 1 Ready took ${activationSeconds.toFixed(1)}s`);

  // 30 against a target of 10 per replica: the HPA asks for 3, reading the metric through
  // external.metrics.k8s.io (kube-apiserver -> KEDA's metrics API server -> KEDA's operator -> scaler).
  scaler.set({ value: 30 });
  await eventually(
    '3 ready replicas through the HPA',
    async () => ((await replicas(ns)).ready === 3 ? true : undefined),
    {
      timeoutMs: 90_000,
    },
  );
  assert.ok(scaler.calls.GetMetrics > 0);
  const pods = await client.list<Pod>(podKind, { namespace: ns, labelSelector: 'app=app' });
  assert.equal(
    new Set(pods.items.map((p) => p.status?.podIP)).size,
    pods.items.length,
    'each pod its own address',
  );

  scaler.set({ active: false, value: 0 });
  await eventually(
    'back to 0 replicas after the cooldown',
    async () => ((await replicas(ns)).spec === 0 ? true : undefined),
    {
      timeoutMs: 90_000,
    },
  );

  // While KEDA still runs: its finalizer on the ScaledObject must be removed by KEDA itself.
  await client.delete(scaledObjectKind, ns, 'app');
  await eventually('the ScaledObject gone (KEDA removed its finalizer)', async () =>
    (await client.get(scaledObjectKind, ns, 'app')) ? undefined : true,
  );
});
