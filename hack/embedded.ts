// The embedded default: the whole system on one machine, as the demo (`npm start`) and the
// end-to-end tests use it. A real control plane, the process kubelet (pods are local processes),
// real KEDA, and the manager (`keda-http manager`) as a separate process, enabled with the same
// kubectl annotation a user types. Everything started here is stopped by `stop()`.
import { execFile } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { LocalCluster, kubectlPath } from './cluster/control-plane.ts';
import { installCrds } from './cluster/crds.ts';
import { startKubelet, type Kubelet } from './kubelet/kubelet.ts';
import { forwardConnection } from './kubelet/tcp-forward.ts';
import { ensureKedaBinaries, installKeda, kedaBinariesCached } from './keda.ts';
import { startKedaHttp, type ServiceProcess } from './keda-http-process.ts';
import { stageImage, type StagedImage } from './image/stage.ts';

export const addonNamespaceDefault = 'kyma-system';

export interface Embedded {
  cluster: LocalCluster;
  kubeconfig: string;
  kubelet: Kubelet;
  /** The add-on image the pods run from, when started with `stagedImage`. */
  image: StagedImage | undefined;
  manager: ServiceProcess;
  /** kubectl against this cluster; rejects with stderr on failure. */
  kubectl(args: string[], input?: string): Promise<string>;
  /** Restarts the manager process (SIGTERM, then a new one). */
  restartManager(): Promise<void>;
  stop(opts?: { purge?: boolean }): Promise<void>;
}

export type Progress = (message: string) => void;

export function kubectlFor(kubeconfig: string) {
  return (args: string[], input?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile(
        kubectlPath(),
        ['--kubeconfig', kubeconfig, ...args],
        { maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (err) reject(new Error(`kubectl ${args.join(' ')}: ${stderr.trim() || err.message}`));
          else resolve(stdout);
        },
      );
      if (input !== undefined) child.stdin?.end(input);
    });
}

/**
 * Brings everything up in `dir` (default `.cache/local-cluster`); the manager is started, not
 * enabled. When `signal` aborts (Ctrl-C during start-up), it stops what it has started so far (the
 * builds, the control plane, the kubelet and its pods) and rejects with the abort reason.
 * `stagedImage`: the add-on's pods run from the image as the Dockerfile builds it, staged into
 * `<dir>/image` (hack/image/stage.ts), in its read-only root as its user, instead of from this checkout.
 */
export async function startEmbedded(
  opts: {
    dir?: string;
    progress?: Progress;
    kedaNamespace?: string;
    signal?: AbortSignal;
    stagedImage?: boolean;
  } = {},
): Promise<Embedded> {
  const progress = opts.progress ?? (() => undefined);
  const signal = opts.signal ?? new AbortController().signal;
  const cluster = new LocalCluster(opts.dir);
  const stops: (() => Promise<void>)[] = [];
  try {
    // Every build runs before anything that must stay responsive (the kubelet, the manager) starts.
    if (!cluster.binariesCached())
      progress('building the local control plane from source (first run only: several minutes)');
    await cluster.ensureBinaries(signal);
    if (!kedaBinariesCached())
      progress('building KEDA from source (first run only: 15-25 minutes on 2 cores)');
    await ensureKedaBinaries(signal);
    signal.throwIfAborted();
    let image: StagedImage | undefined;
    if (opts.stagedImage) {
      progress('staging the add-on image from the Dockerfile');
      image = await stageImage({ dir: join(cluster.dir, 'image'), progress });
      signal.throwIfAborted();
    }
    progress('starting the local control plane');
    // Registered before up() returns: a control plane stopped half-way up is stopped all the same.
    stops.push(() => cluster.down());
    await cluster.up({ signal });
    signal.throwIfAborted();
    const kubeconfig = cluster.kubeconfigPath;
    const kubectl = kubectlFor(kubeconfig);
    installCrds(kubeconfig);
    progress('starting the process kubelet (pods run as local processes)');
    const kubelet = await startKubelet({
      kubeconfig,
      stateDir: cluster.dir,
      ...(image ? { stagedImages: { addon: image } } : {}),
    });
    stops.push(() => kubelet.stop());
    signal.throwIfAborted();
    progress('installing KEDA');
    await installKeda({ kubeconfig, signal });
    signal.throwIfAborted();

    progress('starting the manager (keda-http manager)');
    const ns = opts.kedaNamespace ?? addonNamespaceDefault;
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }),
    );
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'operator.kyma-project.io/v1alpha1',
        kind: 'Keda',
        metadata: { name: 'default', namespace: ns },
        spec: {},
      }),
    );
    const startManager = (): ServiceProcess =>
      startKedaHttp([
        'manager',
        '--kubeconfig',
        kubeconfig,
        '--metrics-bind-address=0',
        '--health-probe-bind-address=0',
      ]);
    signal.throwIfAborted();
    const embedded: Embedded = {
      cluster,
      kubeconfig,
      kubelet,
      image,
      manager: startManager(),
      kubectl,
      async restartManager() {
        await embedded.manager.stop();
        embedded.manager = startManager();
      },
      async stop(stopOpts = {}) {
        await embedded.manager.stop();
        await kubelet.stop().catch(() => undefined);
        await cluster.down(stopOpts);
      },
    };
    return embedded;
  } catch (err) {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    throw err;
  }
}

/** A JSONPath of the `default` Keda object, as kubectl prints it. */
function kedaField(e: Pick<Embedded, 'kubectl'>, kedaNamespace: string, path: string): Promise<string> {
  return e.kubectl(['get', 'keda', 'default', '-n', kedaNamespace, '-o', `jsonpath=${path}`]);
}

/**
 * The namespace the add-on is installed in now: the manager's `addon-installed-namespace`
 * annotation on the Keda object, else the requested `addon-namespace`, else the default. Read at
 * each use, so what follows the add-on (the demo's port forward) follows it across a namespace move.
 */
export async function installedAddonNamespace(
  e: Pick<Embedded, 'kubectl'>,
  kedaNamespace = addonNamespaceDefault,
): Promise<string> {
  const out = await kedaField(e, kedaNamespace, '{.metadata.annotations}');
  const a = (out ? JSON.parse(out) : {}) as Record<string, string>;
  return (
    a['keda.kyma-project.io/addon-installed-namespace'] ??
    a['keda.kyma-project.io/addon-namespace'] ??
    addonNamespaceDefault
  );
}

export interface Condition {
  status?: string;
  reason?: string;
  message?: string;
}

export async function addonCondition(e: Embedded, kedaNamespace = addonNamespaceDefault): Promise<Condition> {
  const out = await kedaField(e, kedaNamespace, '{.status.conditions[?(@.type=="AddonInstalled")]}');
  return out ? (JSON.parse(out) as Condition) : {};
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 180_000,
): Promise<T> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() - start > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? ` (${String(last)})` : ''}`,
      );
    }
    await sleep(250);
  }
}

/** A sample app: the echo image at zero replicas, its Service, and an HTTPScaledObject for `host`. */
export function sampleApp(opts: {
  namespace: string;
  name?: string;
  host: string;
  startupDelayMs: number;
  scaledownPeriod?: number;
}): string {
  const name = opts.name ?? 'demo';
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: opts.namespace } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace: opts.namespace },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [
              {
                name: 'echo',
                image: 'keda-http-test/echo:1',
                env: [{ name: 'STARTUP_DELAY_MS', value: String(opts.startupDelayMs) }],
                ports: [{ containerPort: 8080, name: 'http' }],
                readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: opts.namespace },
      spec: { selector: { app: name }, ports: [{ port: 8080, targetPort: 'http' }] },
    },
    {
      apiVersion: 'http.keda.sh/v1alpha1',
      kind: 'HTTPScaledObject',
      metadata: { name, namespace: opts.namespace },
      spec: {
        hosts: [opts.host],
        scaleTargetRef: { name, kind: 'Deployment', apiVersion: 'apps/v1', service: name, port: 8080 },
        replicas: { min: 0, max: 3 },
        scaledownPeriod: opts.scaledownPeriod ?? 15,
        scalingMetric: { concurrency: { targetValue: 100 } },
      },
    },
  ]
    .map((o) => JSON.stringify(o))
    .join('\n---\n');
}

/** Resolves once the interceptor's admin API lists the route (it routes the host from then on). */
export async function waitForRoute(e: Embedded, addonNamespace: string, key: string): Promise<void> {
  await waitFor(`the interceptor to know route ${key}`, async () => {
    const ip = e.kubelet.resolve(`keda-add-ons-http-interceptor-admin.${addonNamespace}`);
    if (!ip) return undefined;
    const queue = (await (await fetch(`http://${ip}:9090/queue`)).json()) as Record<string, unknown>;
    return key in queue ? true : undefined;
  });
}

export interface BurstResult {
  statuses: Record<string, number>;
  ok: number;
  /** Milliseconds from sending to the full response, sorted. */
  ms: number[];
  coldStart: boolean;
}

/** One GET to an interceptor (its proxy Service by default), with the Host header that routes it. */
export function get(
  agent: http.Agent,
  ip: string,
  host: string,
  path = '/',
  port = 8080,
): Promise<{ status: string; ms: number; cold: boolean }> {
  const s = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ host: ip, port, path, headers: { host }, agent }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          status: String(res.statusCode),
          ms: performance.now() - s,
          cold: res.headers['x-keda-http-cold-start'] === 'true',
        }),
      );
      res.on('error', (err) =>
        resolve({ status: `error ${err.message}`, ms: performance.now() - s, cold: false }),
      );
    });
    req.on('error', (err) =>
      resolve({ status: `error ${err.message}`, ms: performance.now() - s, cold: false }),
    );
  });
}

/** `count` concurrent requests through the interceptor's proxy Service. */
export async function burst(
  e: Embedded,
  addonNamespace: string,
  host: string,
  count: number,
): Promise<BurstResult> {
  const ip = e.kubelet.resolve(`keda-add-ons-http-interceptor-proxy.${addonNamespace}`);
  if (!ip) throw new Error('the interceptor proxy Service has no ClusterIP yet');
  // node:http, not fetch: fetch drops a Host header, and routing is by Host.
  const agent = new http.Agent({ keepAlive: true, maxSockets: count });
  const results = await Promise.all(Array.from({ length: count }, () => get(agent, ip, host)));
  agent.destroy();
  const statuses: Record<string, number> = {};
  for (const r of results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  return {
    statuses,
    ok: statuses['200'] ?? 0,
    ms: results.map((r) => r.ms).sort((a, b) => a - b),
    coldStart: results.some((r) => r.cold),
  };
}

type ForwardTarget = { host: string; port: number } | undefined;

/**
 * Forwards a localhost port to a Service address, like `kubectl port-forward`. `target` is asked
 * at each connection (the client's bytes wait meanwhile), so the forward follows a Service that
 * moves; a connection is closed when it names none.
 */
export function forwardPort(
  localPort: number,
  target: () => ForwardTarget | Promise<ForwardTarget>,
): net.Server {
  return net
    .createServer(async (client) => {
      client.on('error', () => client.destroy());
      const t = await Promise.resolve()
        .then(target)
        .catch(() => undefined);
      if (!t || client.destroyed) {
        client.destroy();
        return;
      }
      forwardConnection(client, t);
    })
    .listen(localPort, '127.0.0.1');
}

export async function replicas(
  e: Embedded,
  namespace: string,
  name: string,
): Promise<{ spec: number; ready: number }> {
  const out = await e.kubectl([
    'get',
    'deployment',
    name,
    '-n',
    namespace,
    '-o',
    'jsonpath={.spec.replicas} {.status.readyReplicas}',
  ]);
  const [spec, ready] = out.split(' ');
  return { spec: Number(spec || 0), ready: Number(ready || 0) };
}
