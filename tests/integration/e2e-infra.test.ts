// The end-to-end infrastructure against the real control plane: the process kubelet runs pods as
// local processes in their own network namespaces (with kube-controller-manager's Deployments,
// ReplicaSets and EndpointSlices), Services answer on their ClusterIPs and by name inside pods,
// deletion honours the grace period, crashed containers restart.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import { WebSocket, type ClientOptions } from 'ws';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KubeClient } from '../../addon/runtime/index.ts';
import type { KubeObject } from '../../addon/api/index.ts';
import { startKubelet, type Kubelet } from '../../hack/kubelet/kubelet.ts';
import { spawnSandboxed } from '../../hack/kubelet/sandbox.ts';
import { echoImage, grpcEchoImage } from '../../hack/kubelet/images.ts';
import { echoProtoPath } from '../../hack/apps/grpc-echo.ts';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  endpointSliceKind,
  podKind,
  serviceKind,
  type EndpointSlice,
  type Pod,
  type Service,
} from '../../hack/kubelet/types.ts';
import { testCluster, testClusterDir, type TestCluster } from '../harness/cluster.ts';
import { eventually } from '../harness/eventually.ts';

let cluster: TestCluster;
let kubelet: Kubelet;
let client: KubeClient;

before(async () => {
  cluster = await testCluster();
  client = new KubeClient(cluster.kc);
  kubelet = await startKubelet({
    kubeconfig: cluster.kubeconfigPath,
    stateDir: testClusterDir,
    restartBackoff: { initialMs: 500, maxMs: 5000 },
  });
});

after(async () => {
  await kubelet.stop();
  await client.close();
});

/** An echo Deployment and a Service whose port (80) differs from the pods' (8080). */
function echoApp(
  ns: string,
  opts: { replicas?: number; env?: Record<string, string>; grace?: number; name?: string } = {},
): string {
  const name = opts.name ?? 'echo';
  const env = Object.entries({ STARTUP_DELAY_MS: '1000', ...opts.env }).map(([k, value]) => ({
    name: k,
    value,
  }));
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: ns },
        spec: {
          replicas: opts.replicas ?? 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: {
              terminationGracePeriodSeconds: opts.grace ?? 30,
              containers: [
                {
                  name: 'echo',
                  image: echoImage,
                  env: [
                    ...env,
                    { name: 'MY_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  ],
                  ports: [{ name: 'http', containerPort: 8080 }],
                  readinessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 1 },
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
        spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      },
    ],
  });
}

const isReady = (p: Pod): boolean =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

async function readyPods(ns: string, n: number, app = 'echo'): Promise<Pod[]> {
  return eventually(
    `${n} ready ${app} pod(s) in ${ns}`,
    async () => {
      const pods = (
        await client.list<Pod>(podKind, { namespace: ns, labelSelector: `app=${app}` })
      ).items.filter((p) => !p.metadata.deletionTimestamp);
      return pods.length === n && pods.every(isReady) ? pods : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

/** GET with node:http (fetch may not set Host), parsed as the echo app's JSON answer. */
function getJson(url: string, host?: string): Promise<{ pod: string; host: string; path: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: host ? { host } : {}, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode} ${body}`));
        else resolve(JSON.parse(body) as { pod: string; host: string; path: string });
      });
    });
    req.on('error', reject);
  });
}

test('an echo Deployment becomes Ready on its own address once started, and its EndpointSlice points at the listener', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await cluster.kubectlOk(['apply', '-f', '-'], echoApp(ns));
  const [pod] = await readyPods(ns, 1);
  assert.ok(pod);
  const ip = pod.status?.podIP ?? '';
  assert.match(ip, /^10\.\d+\.\d+\.\d+$/);
  assert.deepEqual(pod.status?.podIPs, [{ ip }]);
  assert.equal(pod.status?.phase, 'Running');
  assert.equal(pod.spec.nodeName, kubelet.nodeName);
  const types = (pod.status?.conditions ?? []).filter((c) => c.status === 'True').map((c) => c.type);
  for (const c of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'])
    assert.ok(types.includes(c), c);
  const cs = pod.status?.containerStatuses?.[0];
  assert.equal(cs?.ready, true);
  assert.equal(cs?.restartCount, 0);
  assert.ok(cs?.state.running);
  // Not Ready before the app listened: STARTUP_DELAY_MS is 1 s.
  const readySince = Date.parse(
    pod.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime ?? '',
  );
  assert.ok(
    readySince - Date.parse(pod.status?.startTime ?? '') >= 1000,
    'Ready only after the start-up delay',
  );

  // The downward API reached the process's environment.
  const pid = kubelet.pids(ns, pod.metadata.name).echo;
  assert.ok(pid);
  assert.ok(readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`MY_NAMESPACE=${ns}`));

  const slice = await eventually('an EndpointSlice with the ready pod', async () => {
    const slices = await client.list<EndpointSlice>(endpointSliceKind, {
      namespace: ns,
      labelSelector: 'kubernetes.io/service-name=echo',
    });
    const s = slices.items.find((x) =>
      x.endpoints?.some((e) => e.addresses[0] === ip && e.conditions?.ready),
    );
    return s;
  });
  assert.deepEqual(
    slice.ports?.map((p) => [p.name, p.port]),
    [['http', 8080]],
  );
  const answer = await getJson(`http://${ip}:8080/hello`, 'app.example.com');
  assert.deepEqual([answer.pod, answer.host, answer.path], [pod.metadata.name, 'app.example.com', '/hello']);

  // kubectl logs reaches the container's output through the API server and the kubelet's endpoint.
  const logs = await cluster.kubectlOk(['logs', '-n', ns, pod.metadata.name]);
  assert.match(logs, /"message":"listening"/);
  assert.match(logs, /"message":"request".*"path":"\/hello"/);
  const last = await cluster.kubectlOk(['logs', '-n', ns, pod.metadata.name, '-c', 'echo', '--tail', '1']);
  assert.equal(last.trim().split('\n').length, 1);
});

test('two pods listen on the same port on their own addresses; the ClusterIP balances over both', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await cluster.kubectlOk(['apply', '-f', '-'], echoApp(ns, { replicas: 2 }));
  const pods = await readyPods(ns, 2);
  const ips = pods.map((p) => p.status?.podIP);
  assert.notEqual(ips[0], ips[1]);
  const svc = await client.get<Service>(serviceKind, ns, 'echo');
  const clusterIP = svc?.spec.clusterIP ?? '';
  assert.equal(kubelet.resolve(`echo.${ns}`), clusterIP);
  assert.equal(kubelet.resolve(`echo.${ns}.svc.cluster.local`), clusterIP);
  const seen = await eventually('answers from both pods through the ClusterIP', async () => {
    const names = new Set<string>();
    for (let i = 0; i < 6; i++) names.add((await getJson(`http://${clusterIP}:80/`)).pod);
    return names.size === 2 ? names : undefined;
  });
  assert.deepEqual([...seen].sort(), pods.map((p) => p.metadata.name).sort());
});

test('a Service with no ready pod refuses connections on its ClusterIP here; it never leaves the machine', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await cluster.kubectlOk(['apply', '-f', '-'], echoApp(ns, { replicas: 0 }));
  const clusterIP = await eventually('the kubelet to know the Service', async () =>
    kubelet.resolve(`echo.${ns}`),
  );
  // Refused at connect time, as kube-proxy's REJECT rule does: the address is this machine's (on
  // the kubelet's bridge), nothing listens.
  const outcome = await eventually('the ClusterIP on this machine', async () => {
    const addresses = await new Promise<string>((res, rej) =>
      execFile('ip', ['-4', '-o', 'addr', 'show'], (err, out) => (err ? rej(err) : res(out))),
    );
    if (!addresses.includes(` ${clusterIP}/32 `)) return undefined;
    return new Promise<string>((res) => {
      const sock = net.connect({ host: clusterIP, port: 80, timeout: 3000 });
      sock.once('connect', () => {
        sock.destroy();
        res('connected');
      });
      sock.once('timeout', () => {
        sock.destroy();
        res('timeout');
      });
      sock.once('error', (err: NodeJS.ErrnoException) => res(err.code ?? err.message));
    });
  });
  assert.equal(outcome, 'ECONNREFUSED');
});

test('inside a pod sandbox, <svc>.<ns> resolves to the ClusterIP and reaches the pod', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await cluster.kubectlOk(['apply', '-f', '-'], echoApp(ns));
  const [pod] = await readyPods(ns, 1);
  const dir = join(testClusterDir, 'kubelet');
  const logPath = join(dir, `sandbox-${ns}.log`);
  writeFileSync(logPath, '');
  const script = `for (const h of ['echo.${ns}', 'echo.${ns}.svc', 'echo.${ns}.svc.cluster.local']) {
    const r = await fetch('http://' + h + '/from-a-pod'); console.log(h, r.status, (await r.json()).pod);
  }`;
  const child = spawnSandboxed({
    argv: [process.execPath, '--input-type=module', '-e', script],
    env: { PATH: process.env.PATH ?? '' },
    cwd: dir,
    logPath,
    hostsFile: kubelet.hostsFile,
    owner: `test-${process.pid}`,
  });
  const [code] = (await once(child, 'exit')) as [number];
  const out = readFileSync(logPath, 'utf8');
  assert.equal(code, 0, out);
  for (const h of [`echo.${ns}`, `echo.${ns}.svc`, `echo.${ns}.svc.cluster.local`]) {
    assert.ok(out.includes(`${h} 200 ${pod?.metadata.name}`), out);
  }
  // The machine's own /etc/hosts knows nothing of it.
  assert.ok(!readFileSync('/etc/hosts', 'utf8').includes(`echo.${ns}`));
});

test('deleting a pod sends SIGTERM; a pod that drains in time is removed as soon as it exits', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await cluster.kubectlOk(
    ['apply', '-f', '-'],
    echoApp(ns, { env: { TERMINATION_DELAY_MS: '700' }, grace: 30 }),
  );
  const [pod] = await readyPods(ns, 1);
  const name = pod?.metadata.name ?? '';
  const log = kubelet.logPath(ns, name) ?? '';
  const t0 = Date.now();
  await client.delete(podKind, ns, name);
  await eventually(
    'the pod object gone',
    async () => ((await client.get(podKind, ns, name)) ? undefined : true),
    {
      timeoutMs: 20_000,
    },
  );
  const took = Date.now() - t0;
  assert.ok(took >= 700, `gone after ${took} ms, before the app finished draining`);
  assert.ok(took < 10_000, `gone after ${took} ms: the kubelet waited for more than the app`);
  const lines = readFileSync(log, 'utf8');
  assert.match(lines, /"message":"signal received".*"signal":"SIGTERM"/);
  assert.match(lines, /"message":"stopped"/);
});

test('a pod that ignores SIGTERM past its grace period is killed and then removed', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await cluster.kubectlOk(
    ['apply', '-f', '-'],
    echoApp(ns, { env: { TERMINATION_DELAY_MS: '600000' }, grace: 2 }),
  );
  const [pod] = await readyPods(ns, 1);
  const name = pod?.metadata.name ?? '';
  const pid = kubelet.pids(ns, name).echo;
  const t0 = Date.now();
  await client.delete(podKind, ns, name);
  await eventually(
    'the pod object gone',
    async () => ((await client.get(podKind, ns, name)) ? undefined : true),
    {
      timeoutMs: 20_000,
    },
  );
  const took = Date.now() - t0;
  assert.ok(took >= 2000 && took < 8000, `gone after ${took} ms; the grace period is 2 s`);
  assert.throws(() => process.kill(pid ?? 0, 0), 'the process is gone');
});

test('a crashed container is restarted, counted, and Ready again', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await cluster.kubectlOk(['apply', '-f', '-'], echoApp(ns, { env: { STARTUP_DELAY_MS: '0' } }));
  const [pod] = await readyPods(ns, 1);
  const name = pod?.metadata.name ?? '';
  const pid = kubelet.pids(ns, name).echo ?? 0;
  process.kill(pid, 'SIGKILL');
  const after = await eventually(
    'the restarted container Ready with restartCount 1',
    async () => {
      const p = await client.get<Pod>(podKind, ns, name);
      const cs = p?.status?.containerStatuses?.[0];
      return cs?.restartCount === 1 && cs.ready && p && isReady(p) ? cs : undefined;
    },
    { timeoutMs: 30_000 },
  );
  assert.equal(after.lastState.terminated?.exitCode, 137);
  assert.equal(after.lastState.terminated?.reason, 'Error');
  assert.notEqual(kubelet.pids(ns, name).echo, pid);
});

test('an image the kubelet cannot run leaves the pod waiting with a message that says which images it runs', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await client.create<KubeObject>(podKind, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'nginx', namespace: ns },
    spec: { containers: [{ name: 'nginx', image: 'nginx:1.27' }] },
  });
  const waiting = await eventually('a waiting container status', async () => {
    const p = await client.get<Pod>(podKind, ns, 'nginx');
    return p?.status?.containerStatuses?.[0]?.state.waiting;
  });
  assert.equal(waiting.reason, 'ErrImagePull');
  assert.match(waiting.message ?? '', /cannot run image nginx:1\.27.*keda-http-addon/);
});

test('secret volumes reach the container: the echo app serves TLS from one; WebSockets pass the ClusterIP', async (t) => {
  const ns = await cluster.freshNamespace(t);
  const tls = resolve(import.meta.dirname, '../../addon/interceptor/testing/tls');
  await cluster.kubectlOk([
    'create',
    'secret',
    'tls',
    'echo-tls',
    '-n',
    ns,
    `--cert=${join(tls, 'tls.crt')}`,
    `--key=${join(tls, 'tls.key')}`,
  ]);
  const app = JSON.parse(
    echoApp(ns, { env: { TLS_CERT_FILE: '/etc/echo-tls/tls.crt', TLS_KEY_FILE: '/etc/echo-tls/tls.key' } }),
  ) as {
    items: [{ spec: { template: { spec: { volumes?: unknown[]; containers: Record<string, unknown>[] } } } }];
  };
  const podSpec = app.items[0].spec.template.spec;
  podSpec.volumes = [{ name: 'tls', secret: { secretName: 'echo-tls' } }];
  const container = podSpec.containers[0] as {
    volumeMounts?: unknown[];
    readinessProbe: { httpGet: { scheme?: string } };
  };
  container.volumeMounts = [{ name: 'tls', mountPath: '/etc/echo-tls', readOnly: true }];
  container.readinessProbe.httpGet.scheme = 'HTTPS';
  await cluster.kubectlOk(['apply', '-f', '-'], JSON.stringify(app));
  const [pod] = await readyPods(ns, 1);
  const ca = readFileSync(join(tls, 'ca.crt'));
  const body = await new Promise<string>((res, rej) => {
    https
      .get(`https://${pod?.status?.podIP}:8080/tls`, { ca, servername: 'app.default', agent: false }, (r) => {
        let b = '';
        r.on('data', (c: Buffer) => (b += c.toString()));
        r.on('end', () => res(b));
      })
      .on('error', rej);
  });
  assert.equal((JSON.parse(body) as { tls: boolean }).tls, true);

  const clusterIP = kubelet.resolve(`echo.${ns}`);
  // TLS to the ClusterIP with the app's name as SNI and for verification (ws passes servername on
  // to tls.connect; its types do not list it).
  const ws = new WebSocket(`wss://${clusterIP}:80/echo`, { ca, servername: 'app.default' } as ClientOptions);
  t.after(() => ws.close());
  await once(ws, 'open');
  ws.send('through the service proxy');
  const [message] = (await once(ws, 'message')) as [Buffer];
  assert.equal(message.toString(), 'through the service proxy');
});

test('the gRPC echo app: grpc readiness probe, unary and bidi streaming through the ClusterIP (h2c)', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await cluster.kubectlOk(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'grpc', namespace: ns },
          spec: {
            selector: { matchLabels: { app: 'grpc' } },
            template: {
              metadata: { labels: { app: 'grpc' } },
              spec: {
                containers: [
                  {
                    name: 'grpc',
                    image: grpcEchoImage,
                    env: [{ name: 'STARTUP_DELAY_MS', value: '500' }],
                    ports: [{ name: 'grpc', containerPort: 8080 }],
                    readinessProbe: { grpc: { port: 8080 }, periodSeconds: 1 },
                  },
                ],
              },
            },
          },
        },
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'grpc', namespace: ns },
          spec: {
            selector: { app: 'grpc' },
            ports: [{ name: 'grpc', port: 9000, targetPort: 'grpc', appProtocol: 'kubernetes.io/h2c' }],
          },
        },
      ],
    }),
  );
  const [pod] = await readyPods(ns, 1, 'grpc');
  const definition = protoLoader.loadSync(echoProtoPath, { keepCase: true, defaults: true });
  const { echo } = grpc.loadPackageDefinition(definition) as unknown as {
    echo: {
      Echo: new (address: string, creds: grpc.ChannelCredentials) => grpc.Client & Record<string, never>;
    };
  };
  const client = new echo.Echo(`${kubelet.resolve(`grpc.${ns}`)}:9000`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  type Reply = { message: string; hostname: string; protocol: string };
  const unary = await new Promise<Reply>((res, rej) =>
    (client as unknown as { Echo(r: object, cb: (e: Error | null, v: Reply) => void): void }).Echo(
      { message: 'alice' },
      (err, v) => (err ? rej(err) : res(v)),
    ),
  );
  assert.deepEqual(unary, { message: 'hello alice', hostname: pod?.metadata.name, protocol: 'h2c' });
  const stream = (client as unknown as { EchoStream(): grpc.ClientDuplexStream<object, Reply> }).EchoStream();
  const replies: string[] = [];
  stream.on('data', (r: Reply) => replies.push(r.message));
  for (const m of ['alice', 'bob', 'charlie']) stream.write({ message: m });
  stream.end();
  await once(stream, 'end');
  assert.deepEqual(replies, ['hello alice', 'hello bob', 'hello charlie']);
});
