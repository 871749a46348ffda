// `kubectl port-forward` to a pod of the process kubelet, through the real kube-apiserver: both ways
// the API server reaches the kubelet's /portForward endpoint (kubectl's default, WebSockets that the
// API server tunnels to the kubelet as SPDY, and plain SPDY as client-go's spdy.RoundTripper and
// upstream's e2e suite speak it), several connections at once, errors reported, a clean close.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { KubeClient } from '../../addon/runtime/index.ts';
import { kubectlPath } from '../../hack/cluster/control-plane.ts';
import { startKubelet, type Kubelet } from '../../hack/kubelet/kubelet.ts';
import { echoImage } from '../../hack/kubelet/images.ts';
import { podKind, type Pod } from '../../hack/kubelet/types.ts';
import { testCluster, testClusterDir, type TestCluster } from '../harness/cluster.ts';
import { eventually } from '../harness/eventually.ts';

let cluster: TestCluster;
let kubelet: Kubelet;
let client: KubeClient;

before(async () => {
  cluster = await testCluster();
  client = new KubeClient(cluster.kc);
  kubelet = await startKubelet({ kubeconfig: cluster.kubeconfigPath, stateDir: testClusterDir });
});

after(async () => {
  await kubelet.stop();
  await client.close();
});

async function echoPod(ns: string): Promise<void> {
  await cluster.kubectlOk(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'echo', namespace: ns },
      spec: {
        containers: [
          {
            name: 'echo',
            image: echoImage,
            ports: [{ containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 1 },
          },
        ],
      },
    }),
  );
  await eventually(
    `pod ${ns}/echo ready`,
    async () => {
      const pod = await client.get<Pod>(podKind, ns, 'echo');
      return pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
        ? pod
        : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

interface Forward {
  port: number;
  child: ChildProcess;
  output: () => string;
}

/** `kubectl port-forward pod/echo :<remote>`; resolves once it listens. */
async function portForward(ns: string, remote: number, websockets: boolean): Promise<Forward> {
  const child = spawn(
    kubectlPath(),
    ['--kubeconfig', cluster.kubeconfigPath, 'port-forward', '-n', ns, 'pod/echo', `:${remote}`],
    { env: { ...process.env, KUBECTL_PORT_FORWARD_WEBSOCKETS: String(websockets) }, stdio: 'pipe' },
  );
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const port = await eventually(
    'kubectl port-forward listening',
    () => {
      if (child.exitCode !== null) throw new Error(`kubectl port-forward exited: ${output}`);
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(output);
      return m ? Number(m[1]) : undefined;
    },
    { timeoutMs: 30_000 },
  );
  return { port, child, output: () => output };
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

async function stop(forward: Forward): Promise<number | null> {
  forward.child.kill('SIGINT');
  const [code] = (await once(forward.child, 'exit')) as [number | null];
  return code;
}

for (const websockets of [true, false]) {
  test(`kubectl port-forward (${websockets ? 'WebSockets tunnelled to SPDY' : 'SPDY'}): requests on several connections at once, then a clean close`, async (t) => {
    const ns = await cluster.freshNamespace(t);
    await echoPod(ns);
    const forward = await portForward(ns, 8080, websockets);
    t.after(() => forward.child.kill('SIGKILL'));
    {
      // 20 requests on 20 connections at once: 20 stream pairs on one upgraded connection.
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => get(forward.port, `/hello-${i}?wait=100ms`)),
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; kubectl said: ${forward.output()}`);
      });
      for (const [i, a] of answers.entries()) {
        assert.equal(a.status, 200, a.body);
        assert.equal((JSON.parse(a.body) as { path: string }).path, `/hello-${i}`);
      }
      // A body larger than one frame, both ways.
      const big = 'x'.repeat(300_000);
      const echoed = await new Promise<string>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: forward.port, path: '/big', method: 'POST', agent: false },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve(body));
          },
        );
        req.on('error', reject);
        req.end(big);
      });
      assert.ok(echoed.includes(big), 'the 300 kB body came back through the forward');
    }
    assert.equal(await stop(forward), 0, forward.output());
  });
}

test('kubectl port-forward to a port nobody listens on gets the kubelet error on the error stream', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await echoPod(ns);
  const forward = await portForward(ns, 9999, false);
  try {
    const socket = net.connect(forward.port, '127.0.0.1');
    await once(socket, 'connect');
    await once(socket, 'close');
    await eventually('kubectl reports the error', () =>
      /error forwarding port 9999 to pod .*echo/.test(forward.output()) ? true : undefined,
    );
  } finally {
    forward.child.kill('SIGINT');
    await once(forward.child, 'exit');
  }
});
