// The demo's local port (`npm start` prints `curl http://127.0.0.1:8080/`) follows the add-on when
// it moves: the forward looks up the installed namespace on the Keda object (the manager's
// addon-installed-namespace annotation) at each connection. Two namespaces each run a stand-in
// interceptor proxy Service (the echo app, naming its namespace) on the process kubelet; the
// annotation moves from one to the other as the manager moves it.
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { forwardPort, installedAddonNamespace, kubectlFor, waitFor } from '../../hack/embedded.ts';
import { echoImage } from '../../hack/kubelet/images.ts';
import { startKubelet, type Kubelet } from '../../hack/kubelet/kubelet.ts';
import { testCluster, testClusterDir, type TestCluster } from '../harness/cluster.ts';

let cluster: TestCluster;
let kubelet: Kubelet;

before(async () => {
  cluster = await testCluster();
  kubelet = await startKubelet({ kubeconfig: cluster.kubeconfigPath, stateDir: testClusterDir });
});

after(async () => {
  await kubelet.stop();
});

/** A Service named like the interceptor's proxy, answered by an echo pod that names `ns`. */
function proxyStandIn(ns: string): string {
  const name = 'keda-add-ons-http-interceptor-proxy';
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: ns },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: {
              terminationGracePeriodSeconds: 2,
              containers: [
                {
                  name: 'echo',
                  image: echoImage,
                  env: [{ name: 'POD_NAME', value: `proxy-in-${ns}` }],
                  ports: [{ containerPort: 8080 }],
                  readinessProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: ns },
        spec: { selector: { app: name }, ports: [{ port: 8080, targetPort: 8080 }] },
      },
    ],
  });
}

function getPod(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      // A new connection each time, as each `curl` makes one.
      .get({ host: '127.0.0.1', port, path: '/', headers: { host: 'demo.local' }, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve((JSON.parse(body) as { pod: string }).pod));
      })
      .on('error', reject);
  });
}

test("the demo's port forward follows the add-on into its new namespace", async (t) => {
  const kedaNs = await cluster.freshNamespace(t);
  const [first, second] = [await cluster.freshNamespace(t), await cluster.freshNamespace(t)];
  const kubectl = kubectlFor(cluster.kubeconfigPath);
  await kubectl(['apply', '-f', '-'], proxyStandIn(first));
  await kubectl(['apply', '-f', '-'], proxyStandIn(second));
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'operator.kyma-project.io/v1alpha1',
      kind: 'Keda',
      metadata: {
        name: 'default',
        namespace: kedaNs,
        annotations: { 'keda.kyma-project.io/addon-installed-namespace': first },
      },
      spec: {},
    }),
  );
  const forward: net.Server = forwardPort(0, async () => {
    const ns = await installedAddonNamespace({ kubectl }, kedaNs);
    const ip = kubelet.resolve(`keda-add-ons-http-interceptor-proxy.${ns}`);
    return ip ? { host: ip, port: 8080 } : undefined;
  });
  t.after(() => forward.close());
  await new Promise((r) => forward.once('listening', r));
  const port = (forward.address() as net.AddressInfo).port;

  await waitFor('the first namespace to answer', async () =>
    (await getPod(port).catch(() => undefined)) === `proxy-in-${first}` ? true : undefined,
  );
  // What the manager does when `addon-namespace` changes, once the new objects are applied.
  await kubectl([
    'annotate',
    'keda',
    'default',
    '-n',
    kedaNs,
    '--overwrite',
    `keda.kyma-project.io/addon-installed-namespace=${second}`,
  ]);
  await waitFor(
    'the second namespace to answer through the same port',
    async () => ((await getPod(port).catch(() => undefined)) === `proxy-in-${second}` ? true : undefined),
    30_000,
  );
  assert.equal(await getPod(port), `proxy-in-${second}`);
});
