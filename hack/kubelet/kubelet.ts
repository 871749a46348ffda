// The process kubelet: a Node for the local control plane whose pods are local processes.
// It registers the Node, binds pending pods to it (there is no scheduler), runs each pod
// (pod-worker.ts) in its own network namespace (pod-network.ts) and serves Services on their
// ClusterIPs (service-proxy.ts). See README.md.
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Informer, KubeClient, isConflict, isNotFound } from '../../addon/runtime/index.ts';
import { createLogger, errorFields, type Logger } from '../../addon/shared/log.ts';
import { registerNode, type NodeHeartbeat } from './node.ts';
import type { StagedImages } from './images.ts';
import { startApiServerAccess } from './api-server-access.ts';
import { PodNetwork, podResolvConf } from './pod-network.ts';
import { PodWorker, type PodWorkerContext } from './pod-worker.ts';
import { killLeftovers } from './sandbox.ts';
import { kubeletPort, startLogServer } from './log-server.ts';
import { ServiceProxy } from './service-proxy.ts';
import { namespaceKind, podKind, type Pod } from './types.ts';
import type { KubeObject } from '../../addon/api/index.ts';

export interface KubeletOptions {
  /** Path of an admin kubeconfig for the control plane. */
  kubeconfig: string;
  /** Where its log, pod logs, tokens and the hosts file go (`<stateDir>/kubelet`). */
  stateDir: string;
  nodeName?: string;
  /** CrashLoopBackOff; the kubelet's defaults are 10 s doubling to 5 min. */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** Defaults to JSON lines in `<stateDir>/kubelet/kubelet.log`. */
  log?: Logger;
  /** Images to run from a tree staged from the Dockerfile (hack/image/stage.ts). */
  stagedImages?: StagedImages;
}

export interface Kubelet {
  nodeName: string;
  nodeIP: string;
  /** The hosts file pods see as /etc/hosts (Service names -> ClusterIPs). */
  hostsFile: string;
  /** The ClusterIP a Service name resolves to inside pods, e.g. `echo.my-ns`. */
  resolve(name: string): string | undefined;
  /**
   * A running pod's address on this node, which this machine reaches (every port the pod listens
   * on, on any of its addresses, is there: the pod has a network namespace of its own).
   */
  podIP(namespace: string, name: string): string | undefined;
  /** A container's log file (stdout and stderr, across restarts). */
  logPath(namespace: string, name: string, container?: string): string | undefined;
  /** The pids of a pod's running containers. */
  pids(namespace: string, name: string): Record<string, number | undefined>;
  /**
   * Finishes deletions in progress (up to 20 s), then stops every pod (SIGTERM, SIGKILL after 10 s
   * at most), the proxy and the heartbeat, and removes every network namespace, veth, bridge and
   * address it made. Pod objects stay, as when a node goes away.
   */
  stop(): Promise<void>;
}

function apiServerAddress(kc: KubeConfig): { host: string; port: number; caPem: string } {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server);
  const caPem = cluster.caData
    ? Buffer.from(cluster.caData, 'base64').toString('utf8')
    : cluster.caFile
      ? readFileSync(cluster.caFile, 'utf8')
      : '';
  return { host: url.hostname, port: Number(url.port || '443'), caPem };
}

export async function startKubelet(opts: KubeletOptions): Promise<Kubelet> {
  const nodeName = opts.nodeName ?? 'local-node';
  const dir = resolve(opts.stateDir, 'kubelet');
  const podsDir = join(dir, 'pods');
  mkdirSync(podsDir, { recursive: true });
  const logFile = opts.log ? undefined : createWriteStream(join(dir, 'kubelet.log'), { flags: 'a' });
  const log = opts.log ?? createLogger({ component: 'kubelet', stream: logFile });
  const owner = dir;
  const leftovers = killLeftovers(owner);
  if (leftovers > 0) log.info('killed processes a previous kubelet left behind', { count: leftovers });

  const kc = new KubeConfig();
  kc.loadFromFile(opts.kubeconfig);
  const client = new KubeClient(kc);
  const api = apiServerAddress(kc);
  const { network, leftovers: staleLinks } = await PodNetwork.start(dir, owner);
  if (staleLinks > 0)
    log.info('removed network namespaces, links and addresses a previous kubelet left behind', {
      count: staleLinks,
    });
  const apiAccess = await startApiServerAccess(network.nodeIP, api).catch(async (err: unknown) => {
    await network.close();
    throw err;
  });
  const resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, podResolvConf(network.nodeIP));
  const proxy = new ServiceProxy(
    client,
    { hostsFile: join(dir, 'hosts.d', 'hosts'), extraHosts: [apiAccess.hostsLine], addresses: network },
    log,
  );
  let heartbeat: NodeHeartbeat | undefined;
  const workers = new Map<string, PodWorker>();
  const pods = new Informer<Pod>(client, podKind, { log });
  const ctx: PodWorkerContext = {
    client,
    log,
    hostsFile: proxy.hostsFile,
    resolvConf,
    apiServerEnv: apiAccess.env,
    owner,
    restartBackoff: opts.restartBackoff ?? { initialMs: 10_000, maxMs: 300_000 },
    nodeIP: network.nodeIP,
    podsDir,
    caPem: api.caPem,
    attachNetwork: async (pod) => {
      if (pod.spec.hostNetwork) return { podIP: network.nodeIP, netns: undefined };
      const p = await network.attach({ namespace: pod.metadata.namespace ?? '', name: pod.metadata.name });
      return { podIP: p.podIP, netns: p.path };
    },
    detachNetwork: async (place) => {
      if (place.netns) await network.detach(place.podIP);
    },
    ...(opts.stagedImages ? { stagedImages: opts.stagedImages } : {}),
  };

  const bind = async (pod: Pod): Promise<void> => {
    const { namespace, name } = pod.metadata;
    try {
      await client.request('POST', `/api/v1/namespaces/${namespace}/pods/${name}/binding`, {
        body: {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name, uid: pod.metadata.uid },
          target: { apiVersion: 'v1', kind: 'Node', name: nodeName },
        },
      });
    } catch (err) {
      // Already bound (conflict) or gone: the next event tells what happened.
      if (!isConflict(err) && !isNotFound(err))
        log.warn('could not bind pod', { pod: `${namespace}/${name}`, ...errorFields(err) });
    }
  };

  const onPod = (pod: Pod, deleted: boolean): void => {
    const uid = pod.metadata.uid ?? '';
    const worker = workers.get(uid);
    if (deleted) {
      // Gone from the API server (a force delete, or our own delete after stopping).
      if (worker) {
        worker.forget();
        void worker.terminate(undefined, { deleteObject: false }).then(() => workers.delete(uid));
      }
      return;
    }
    if (!pod.spec.nodeName) {
      if (!pod.metadata.deletionTimestamp) void bind(pod);
      return;
    }
    if (pod.spec.nodeName !== nodeName) return;
    if (worker) {
      worker.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return; // finished before this kubelet started
    const w = new PodWorker(ctx, pod);
    workers.set(uid, w);
    if (pod.metadata.deletionTimestamp) {
      void w.terminate(0).then(() => workers.delete(uid));
      return;
    }
    w.start().catch((err: unknown) => log.error('could not start pod', { pod: w.key, ...errorFields(err) }));
  };

  const find = (namespace: string, name: string): PodWorker | undefined =>
    [...workers.values()].find((w) => w.key === `${namespace}/${name}`);
  let logServer: Awaited<ReturnType<typeof startLogServer>>;
  try {
    await proxy.start();
    logServer = await startLogServer({
      host: network.nodeIP,
      dir,
      nodeName,
      logPath: (ns, name, container) => find(ns, name)?.logPath(container),
      portForwardTarget: (ns, name) => {
        const w = find(ns, name);
        return w?.podIP ? { podIP: w.podIP, pod: w.key, uid: w.uid } : undefined;
      },
      log: (message) => log.warn(message),
    });
    heartbeat = await registerNode(client, nodeName, network.nodeIP, kubeletPort, log);
  } catch (err) {
    // Nothing of this machine's network stays behind a kubelet that could not start.
    await proxy.stop();
    await apiAccess.close();
    await network.close();
    throw err;
  }
  pods.on((e) => onPod(e.object, e.type === 'deleted'));
  pods.start();
  await pods.synced;
  log.info('kubelet ready', { node: nodeName, podAddresses: network.cidr, stateDir: dir });

  /**
   * Before going away, finish what is being deleted (bounded): pods with a deletionTimestamp and
   * pods of namespaces being deleted. Otherwise their objects stay Terminating with no kubelet to
   * remove them, and so do their namespaces (a test's fresh namespace, deleted as it ends).
   */
  const finishDeletions = async (timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const namespaces = await client
        .list<KubeObject & { status?: { phase?: string } }>(namespaceKind)
        .catch(() => ({ items: [] }));
      const terminating = new Set(
        namespaces.items.filter((n) => n.status?.phase === 'Terminating').map((n) => n.metadata.name),
      );
      const busy = pods
        .list()
        .filter((p) => p.spec.nodeName === nodeName)
        .filter((p) => p.metadata.deletionTimestamp || terminating.has(p.metadata.namespace ?? ''));
      if (busy.length === 0) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    log.warn('stopping with pods still being deleted; they stay Terminating until a kubelet runs again');
  };

  return {
    nodeName,
    nodeIP: network.nodeIP,
    hostsFile: proxy.hostsFile,
    resolve: (name) => proxy.resolve(name),
    podIP: (ns, name) => find(ns, name)?.podIP,
    logPath: (ns, name, container) => find(ns, name)?.logPath(container),
    pids: (ns, name) => find(ns, name)?.pids() ?? {},
    async stop() {
      await finishDeletions();
      heartbeat?.stop();
      heartbeat = undefined;
      await pods.stop();
      // As when a real kubelet goes away: the pod objects and their last status stay (a restarted
      // kubelet runs them again); only the processes end.
      for (const w of workers.values()) w.forget();
      await Promise.all([...workers.values()].map((w) => w.terminate(10, { deleteObject: false })));
      workers.clear();
      await proxy.stop();
      await logServer.close();
      await apiAccess.close();
      await network.close();
      await client.close();
      log.info('kubelet stopped', { node: nodeName });
      logFile?.end();
    },
  };
}
