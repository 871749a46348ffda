// The process kubelet's pod network against the real control plane: every pod has a network
// namespace of its own, so two pods of a static Go binary (no libc, nothing can redirect its
// bind) both listen on 0.0.0.0:8080 and answer on their own addresses; pods reach the API server
// with their in-cluster config and Services by name; and the kubelet leaves no namespace, link,
// address or route behind, neither after stop() nor, once it runs again, after a SIGKILL.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { KubeClient } from '../../addon/runtime/index.ts';
import { localProgramImage } from '../../hack/kubelet/images.ts';
import { startKubelet, type Kubelet } from '../../hack/kubelet/kubelet.ts';
import { netnsNames, linkNames } from '../../hack/kubelet/ip-command.ts';
import { networkTraces } from '../../hack/kubelet/pod-network.ts';
import { podKind, type Pod } from '../../hack/kubelet/types.ts';
import { testCluster, type TestCluster } from '../harness/cluster.ts';
import { eventually } from '../harness/eventually.ts';

const run = promisify(execFile);
const repoRoot = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'kubelet-network-test-'));

// Listens on ":8080", every address, as static Go servers do; answers with its hostname (the pod's
// name) and the caller's address.
const listenerSource = `package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "%s %s", host, r.RemoteAddr) })
	ln, err := net.Listen("tcp", ":8080")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening on", ln.Addr())
	_ = http.Serve(ln, nil)
}
`;

let cluster: TestCluster;
let client: KubeClient;
let kubelet: Kubelet;
let listener: string;

before(async () => {
  cluster = await testCluster();
  client = new KubeClient(cluster.kc);
  const src = join(dir, 'listener');
  mkdirSync(src);
  writeFileSync(join(src, 'main.go'), listenerSource);
  listener = join(src, 'listener');
  // Static: no libc, so no LD_PRELOAD could change what it binds.
  await run('nice', ['-n', '5', 'go', 'build', '-o', listener, 'main.go'], {
    cwd: src,
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' },
  });
  kubelet = await startKubelet({
    kubeconfig: cluster.kubeconfigPath,
    stateDir: join(dir, 'local-node'),
    restartBackoff: { initialMs: 500, maxMs: 5000 },
  });
});

after(async () => {
  await kubelet.stop();
  await client.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A Deployment of the static listener and a Service in front of it (80 -> 8080). */
function listenerApp(ns: string, opts: { replicas: number; nodeName?: string }): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'listener', namespace: ns },
        spec: {
          replicas: opts.replicas,
          selector: { matchLabels: { app: 'listener' } },
          template: {
            metadata: { labels: { app: 'listener' } },
            spec: {
              ...(opts.nodeName ? { nodeName: opts.nodeName } : {}),
              terminationGracePeriodSeconds: 2,
              containers: [
                {
                  name: 'listener',
                  image: localProgramImage,
                  command: [listener],
                  ports: [{ name: 'http', containerPort: 8080 }],
                  readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'listener', namespace: ns },
        spec: { selector: { app: 'listener' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      },
    ],
  });
}

const isReady = (p: Pod): boolean =>
  p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

async function readyPods(ns: string, n: number, node?: string): Promise<Pod[]> {
  return eventually(
    `${n} ready listener pod(s) in ${ns}`,
    async () => {
      const pods = (await client.list<Pod>(podKind, { namespace: ns })).items.filter(
        (p) => !p.metadata.deletionTimestamp && (!node || p.spec.nodeName === node),
      );
      return pods.length === n && pods.every(isReady) ? pods : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('two pods of a static Go binary both bind 0.0.0.0:8080 and answer on their own addresses', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await cluster.kubectlOk(['apply', '-f', '-'], listenerApp(ns, { replicas: 2 }));
  const pods = await readyPods(ns, 2);
  const ips = pods.map((p) => p.status?.podIP ?? '');
  assert.notEqual(ips[0], ips[1]);
  for (const pod of pods) {
    const ip = pod.status?.podIP ?? '';
    assert.equal(kubelet.podIP(ns, pod.metadata.name), ip);
    // Its own hostname; this machine reaches it from the node's address, across the bridge.
    const answer = await get(`http://${ip}:8080/`);
    assert.match(answer, new RegExp(`^${escape(pod.metadata.name)} ${escape(kubelet.nodeIP)}:\\d+$`));
  }
  const clusterIP = kubelet.resolve(`listener.${ns}`) ?? '';
  const seen = await eventually('answers from both pods through the ClusterIP', async () => {
    const names = new Set<string>();
    for (let i = 0; i < 6; i++) names.add((await get(`http://${clusterIP}/`)).split(' ')[0] ?? '');
    return names.size === 2 ? names : undefined;
  });
  assert.deepEqual([...seen].sort(), pods.map((p) => p.metadata.name).sort());
});

test('a pod reaches the API server with its in-cluster config, and a Service and another pod by name and address', async (t) => {
  const ns = await cluster.freshNamespace(t);
  await cluster.kubectlOk(['apply', '-f', '-'], listenerApp(ns, { replicas: 1 }));
  const [target] = await readyPods(ns, 1);
  const script = `
    const fs = require('node:fs');
    const https = require('node:https');
    const http = require('node:http');
    const dns = require('node:dns/promises');
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    const get = (mod, url, opts) => new Promise((resolve, reject) =>
      mod.get(url, opts, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve(res.statusCode + ' ' + b)); }).on('error', reject));
    (async () => {
      const api = 'https://' + process.env.KUBERNETES_SERVICE_HOST + ':' + process.env.KUBERNETES_SERVICE_PORT;
      const ns = fs.readFileSync(sa + '/namespace', 'utf8');
      const auth = { ca: fs.readFileSync(sa + '/ca.crt'), headers: { authorization: 'Bearer ' + fs.readFileSync(sa + '/token', 'utf8') } };
      console.log('api', (await get(https, api + '/api/v1/namespaces/' + ns + '/pods/' + process.env.HOSTNAME, auth)).split(' ')[0]);
      console.log('service', await get(http, 'http://listener.' + ns + '.svc.cluster.local/', {}));
      const t0 = Date.now();
      const lookup = await dns.lookup('no-such-name.invalid').then(() => 'found', (err) => err.code);
      console.log('unknown name', lookup, Date.now() - t0 < 2000 ? 'at once' : 'after ' + (Date.now() - t0) + ' ms');
      console.log('pod', await get(http, 'http://${target?.status?.podIP ?? ''}:8080/', {}));
    })().catch((err) => { console.error(err); process.exit(1); });`;
  // The pod may read itself: RBAC as in a cluster, so give its ServiceAccount that right.
  await cluster.kubectlOk(['create', 'role', 'read-pods', '--verb=get', '--resource=pods', '-n', ns]);
  await cluster.kubectlOk([
    'create',
    'rolebinding',
    'read-pods',
    '--role=read-pods',
    `--serviceaccount=${ns}:default`,
    '-n',
    ns,
  ]);
  await cluster.kubectlOk(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'client', namespace: ns },
      spec: {
        restartPolicy: 'Never',
        containers: [{ name: 'client', image: localProgramImage, command: [process.execPath, '-e', script] }],
      },
    }),
  );
  const phase = await eventually('the client pod to finish', async () => {
    const p = await client.get<Pod>(podKind, ns, 'client');
    const ph = p?.status?.phase;
    return ph === 'Succeeded' || ph === 'Failed' ? ph : undefined;
  });
  const out = readFileSync(kubelet.logPath(ns, 'client') ?? '', 'utf8');
  assert.equal(phase, 'Succeeded', out);
  const clientIP = (await client.get<Pod>(podKind, ns, 'client'))?.status?.podIP ?? '';
  assert.match(out, /^api 200$/m);
  // No name server reaches a pod; a name the hosts file lacks fails at once rather than timing out.
  assert.match(out, /^unknown name \S+ at once$/m);
  const name = escape(target?.metadata.name ?? '');
  // Through the Service proxy the listener sees the node's address; pod to pod, the client's own.
  assert.match(out, new RegExp(`^service 200 ${name} ${escape(kubelet.nodeIP)}:\\d+$`, 'm'));
  assert.match(out, new RegExp(`^pod 200 ${name} ${escape(clientIP)}:\\d+$`, 'm'));
});

test('stop() leaves no namespace, link, address or route; after a SIGKILL, the next start with the state directory removes what was left', async (t) => {
  const ns = await cluster.freshNamespace(t);
  const node = 'network-test-node';
  const stateDir = join(dir, node);
  t.after(() => cluster.kubectl(['delete', 'node', node, '--wait=false']));
  const options = { kubeconfig: cluster.kubeconfigPath, stateDir, nodeName: node };
  await cluster.kubectlOk(['apply', '-f', '-'], listenerApp(ns, { replicas: 2, nodeName: node }));

  // A clean stop with two pods running.
  const first = await startKubelet(options);
  const range = Number(first.nodeIP.split('.')[1]);
  const containerIDs = (pods: Pod[]): string[] =>
    pods.map((p) => p.status?.containerStatuses?.[0]?.containerID ?? '');
  const firstIDs = containerIDs(await readyPods(ns, 2, node));
  assert.ok((await networkTraces(range)).length > 0);
  await first.stop();
  assert.deepEqual(await networkTraces(range), [], 'nothing left after stop()');

  // The same pods on a kubelet in a process of its own, killed with SIGKILL.
  const doomed = spawn(
    process.execPath,
    [
      join(repoRoot, 'hack/kubelet/main.ts'),
      '--kubeconfig',
      options.kubeconfig,
      '--state-dir',
      stateDir,
      '--node-name',
      node,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  doomed.stdout.on('data', (c: Buffer) => (output += c.toString()));
  doomed.stderr.on('data', (c: Buffer) => (output += c.toString()));
  // The statuses the first kubelet left still say Ready: wait for containers of the new one.
  const pods = await eventually(
    'the pods running again on the kubelet in its own process',
    async () => {
      const again = await readyPods(ns, 2, node);
      return containerIDs(again).some((id) => firstIDs.includes(id)) ? undefined : again;
    },
    { timeoutMs: 60_000 },
  ).catch((err: unknown) => {
    doomed.kill('SIGKILL');
    throw new Error(`${String(err)}\n${output}`);
  });
  const pids = pods.map((p) =>
    Number(p.status?.containerStatuses?.[0]?.containerID?.replace('process://', '')),
  );
  doomed.kill('SIGKILL');
  await once(doomed, 'exit');
  const left = await networkTraces(range);
  assert.ok(
    left.some((l) => l.includes(`_${ns}_listener-`)),
    `a namespace left behind:\n${left.join('\n')}`,
  );
  // Running, not a zombie (killed processes wait for this machine's init to reap them).
  const alive = (pid: number): boolean => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  assert.ok(pids.every(alive), 'the containers outlive their kubelet');

  // Deleted meanwhile: the next kubelet only has to finish the deletion, and starts no pod.
  await cluster.kubectlOk(['delete', 'deployment', 'listener', '-n', ns, '--wait=false']);
  await eventually('the pods marked for deletion', async () => {
    const items = (await client.list<Pod>(podKind, { namespace: ns })).items;
    return items.every((p) => p.metadata.deletionTimestamp) ? true : undefined;
  });
  const next = await startKubelet(options);
  try {
    assert.equal(next.nodeIP, first.nodeIP, 'the same state directory claims the same range');
    await eventually(
      'the containers the killed kubelet left gone',
      () => (pids.some(alive) ? undefined : true),
      {
        timeoutMs: 5000,
      },
    );
    assert.deepEqual(
      (await netnsNames()).filter((n) => n.startsWith(`khttp${range}-`)),
      [],
      'no namespace of the killed kubelet is left',
    );
    assert.deepEqual(
      (await linkNames()).filter((n) => n.startsWith(`kh${range}-`)),
      [],
      'no veth of the killed kubelet is left',
    );
    await eventually('the pods gone', async () =>
      (await client.list<Pod>(podKind, { namespace: ns })).items.length === 0 ? true : undefined,
    );
  } finally {
    await next.stop();
  }
  assert.deepEqual(await networkTraces(range), [], 'nothing left after the second stop()');
});
