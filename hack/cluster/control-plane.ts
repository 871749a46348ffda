// A real Kubernetes control plane on loopback: etcd, kube-apiserver (RBAC, client-cert auth,
// service-account signing, aggregation) and kube-controller-manager, built from their Go modules
// by hack/build-binaries.sh. Processes run detached, so `cluster:up` returns and they keep running;
// their pids, ports and logs live in the state directory, so a second `up` finds them.
import { spawn, spawnSync } from 'node:child_process';
import { buildBinaries } from './build.ts';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { ensurePki, type Pki } from './pki.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

export interface Versions {
  KUBERNETES_VERSION: string;
  ETCD_VERSION: string;
  KEDA_VERSION: string;
  UPSTREAM_ADDON_VERSION: string;
  ISTIO_API_VERSION: string;
  H2SPEC_VERSION: string;
  OTELCOL_VERSION: string;
  OTELCOL_STABLE_VERSION: string;
  JAEGER_VERSION: string;
}

/** hack/versions.env, the one place versions of Go-built infrastructure are pinned. */
export function versions(): Versions {
  const text = readFileSync(join(repoRoot, 'hack/versions.env'), 'utf8');
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(\S+)/.exec(line.trim());
    if (m?.[1] && m[2]) out[m[1]] = m[2];
  }
  return out as unknown as Versions;
}

/** Where Go-built binaries and other downloads are cached: outside git, shared by every clone. */
export function cacheDir(): string {
  return process.env.KEDA_HTTP_CACHE ?? join(homedir(), '.cache/keda-http-addon');
}

export function binaryPath(name: string, version: string): string {
  return join(cacheDir(), 'bin', `${name}-${version}`);
}

/** kubectl built at the control plane's own version, so tests never meet version skew. */
export function kubectlPath(): string {
  return binaryPath('kubectl', versions().KUBERNETES_VERSION);
}

type Component = 'etcd' | 'kube-apiserver' | 'kube-controller-manager';

interface State {
  ports: { etcdClient: number; etcdPeer: number; apiserver: number };
  pids: Partial<Record<Component, number>>;
  /**
   * The cluster's Service range (serviceCidrFor). Kept for the cluster's lifetime, because its etcd
   * holds Services allocated from it. Absent in state made before: 10.96.0.0/16.
   */
  serviceCidr?: string;
}

const legacyServiceCidr = '10.96.0.0/16';

/**
 * Every process kubelet puts its cluster's ClusterIPs on this machine (on its bridge), so two
 * clusters running at once on one machine (the test suite and the demo, two benchmarks) must not
 * hand out the same ClusterIP. Each cluster directory gets a /20 of its own in 10.100-199 (pods use
 * 10.200-249), from its name (`.cache/test-cluster`, `.cache/e2e-cluster`, ...), so the project's
 * clusters always differ (hack/cluster/control-plane.test.ts) and a cluster keeps its range.
 */
export function serviceCidrFor(dir: string): string {
  let h = 2166136261; // FNV-1a over the directory's name
  for (const ch of basename(resolve(dir))) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  const slot = h % 1600; // 1600 /20s (4094 Services each) in 10.100.0.0-10.199.255.255
  return `10.${100 + Math.floor(slot / 16)}.${(slot % 16) * 16}.0/20`;
}

export interface ClusterInfo {
  dir: string;
  kubeconfigPath: string;
  server: string;
  pki: Pki;
}

const log = (msg: string): void => {
  process.stderr.write(`[cluster] ${msg}\n`);
};

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = net.createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class LocalCluster {
  readonly dir: string;
  readonly #statePath: string;

  constructor(dir = join(repoRoot, '.cache/local-cluster')) {
    this.dir = resolve(dir);
    this.#statePath = join(this.dir, 'state.json');
  }

  get kubeconfigPath(): string {
    return join(this.dir, 'kubeconfig');
  }

  /**
   * Builds binaries if missing (with progress), then starts whatever is not running. Idempotent.
   * When `signal` aborts, it stops waiting and rejects; what it started is in the state file, so
   * down() stops it.
   */
  async up(opts: { signal?: AbortSignal } = {}): Promise<ClusterInfo> {
    const signal = opts.signal;
    if (process.env.KEDA_HTTP_NO_CONTROL_PLANE === '1') {
      // `npm run test:unit` sets it: unit tests are the fast part and start no cluster.
      throw new Error(
        'KEDA_HTTP_NO_CONTROL_PLANE=1 (npm run test:unit): a test that needs the control plane belongs in tests/integration/',
      );
    }
    const t0 = performance.now();
    const v = versions();
    await this.ensureBinaries(signal);
    signal?.throwIfAborted();
    mkdirSync(this.dir, { recursive: true });
    const pki = ensurePki(join(this.dir, 'pki'));
    const state = await this.#loadOrAllocate();
    const server = `https://127.0.0.1:${state.ports.apiserver}`;
    this.#writeKubeconfigs(pki, server);

    if (this.#allRunning(state) && (await this.#ready(pki, server))) {
      log(`already running at ${server} (kubeconfig ${this.kubeconfigPath})`);
      return { dir: this.dir, kubeconfigPath: this.kubeconfigPath, server, pki };
    }
    await this.#start('etcd', state, pki, v);
    await this.#waitEtcd(state, signal);
    signal?.throwIfAborted();
    await this.#start('kube-apiserver', state, pki, v);
    await this.#waitReady(pki, server, 'kube-apiserver', signal);
    signal?.throwIfAborted();
    await this.#start('kube-controller-manager', state, pki, v);
    await this.#waitDefaultServiceAccount(signal);
    log(`up in ${((performance.now() - t0) / 1000).toFixed(1)}s at ${server}`);
    log(`${kubectlPath()} --kubeconfig ${this.kubeconfigPath} get ns`);
    return { dir: this.dir, kubeconfigPath: this.kubeconfigPath, server, pki };
  }

  /** Stops every process (SIGTERM, then SIGKILL after 10 s). With purge, also deletes all state. */
  async down(opts: { purge?: boolean } = {}): Promise<void> {
    const state = this.#readState();
    const order: Component[] = ['kube-controller-manager', 'kube-apiserver', 'etcd'];
    for (const c of order) await this.#stop(c, state);
    if (state) this.#saveState(state);
    if (opts.purge) rmSync(this.dir, { recursive: true, force: true });
    log(opts.purge ? `stopped and removed ${this.dir}` : 'stopped');
  }

  /** Stops kube-apiserver and starts it again on the same port (tests of watch recovery). */
  async restartApiServer(downtimeMs = 0): Promise<void> {
    const state = this.#readState();
    if (!state) throw new Error('cluster is not up');
    const pki = ensurePki(join(this.dir, 'pki'));
    await this.#stop('kube-apiserver', state);
    await sleep(downtimeMs);
    await this.#start('kube-apiserver', state, pki, versions());
    await this.#waitReady(pki, `https://127.0.0.1:${state.ports.apiserver}`, 'kube-apiserver');
  }

  status(): Record<Component, boolean> {
    const state = this.#readState();
    return {
      etcd: alive(state?.pids.etcd),
      'kube-apiserver': alive(state?.pids['kube-apiserver']),
      'kube-controller-manager': alive(state?.pids['kube-controller-manager']),
    };
  }

  /** True when etcd, kube-apiserver, kube-controller-manager and kubectl are built and cached. */
  binariesCached(v: Versions = versions()): boolean {
    return [
      binaryPath('etcd', v.ETCD_VERSION),
      binaryPath('kube-apiserver', v.KUBERNETES_VERSION),
      binaryPath('kube-controller-manager', v.KUBERNETES_VERSION),
      binaryPath('kubectl', v.KUBERNETES_VERSION),
    ].every((p) => existsSync(p));
  }

  /**
   * Builds the control plane's binaries when missing. The build is a child process that this only
   * awaits, so a process that also runs a kubelet or informers keeps serving them meanwhile.
   */
  async ensureBinaries(signal?: AbortSignal): Promise<void> {
    if (this.binariesCached()) return;
    log(
      'building control-plane binaries from their Go modules (first run only; about 6-10 minutes on 2 cores)',
    );
    await buildBinaries([], signal);
  }

  async #loadOrAllocate(): Promise<State> {
    const existing = this.#readState();
    if (existing) {
      // Keep the ports (the kubeconfig names them) unless something else took them meanwhile.
      const running = this.#allRunning(existing);
      const free = await Promise.all(Object.values(existing.ports).map(portFree));
      if (running || free.every(Boolean)) return existing;
    }
    const state: State = {
      ports: { etcdClient: await freePort(), etcdPeer: await freePort(), apiserver: await freePort() },
      pids: {},
      // New ports, same data: an existing cluster keeps its range.
      serviceCidr: existing ? (existing.serviceCidr ?? legacyServiceCidr) : serviceCidrFor(this.dir),
    };
    this.#saveState(state);
    return state;
  }

  /** Always from disk: another process (a test restarting the API server) may have changed it. */
  #readState(): State | undefined {
    if (!existsSync(this.#statePath)) return undefined;
    return JSON.parse(readFileSync(this.#statePath, 'utf8')) as State;
  }

  #saveState(state: State): void {
    writeFileSync(this.#statePath, `${JSON.stringify(state, null, 2)}\n`);
  }

  #allRunning(state: State): boolean {
    return (['etcd', 'kube-apiserver', 'kube-controller-manager'] as const).every((c) =>
      alive(state.pids[c]),
    );
  }

  #args(c: Component, state: State, pki: Pki): string[] {
    const etcdUrl = `http://127.0.0.1:${state.ports.etcdClient}`;
    switch (c) {
      case 'etcd':
        return [
          `--name=local`,
          `--data-dir=${join(this.dir, 'etcd-data')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=http://127.0.0.1:${state.ports.etcdPeer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${state.ports.etcdPeer}`,
          `--initial-cluster=local=http://127.0.0.1:${state.ports.etcdPeer}`,
          '--unsafe-no-fsync=true', // test infrastructure: durability across power loss is not needed
          '--quota-backend-bytes=4294967296',
          '--log-level=warn',
        ];
      case 'kube-apiserver':
        return [
          `--etcd-servers=${etcdUrl}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${state.ports.apiserver}`,
          `--tls-cert-file=${pki.serverCert}`,
          `--tls-private-key-file=${pki.serverKey}`,
          `--client-ca-file=${pki.caCert}`,
          '--authorization-mode=RBAC',
          `--service-cluster-ip-range=${state.serviceCidr ?? legacyServiceCidr}`,
          '--allow-privileged=true',
          '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
          `--service-account-key-file=${pki.serviceAccountPub}`,
          `--service-account-signing-key-file=${pki.serviceAccountKey}`,
          // Aggregation (KEDA's metrics API server registers an APIService).
          `--requestheader-client-ca-file=${pki.frontProxyCaCert}`,
          '--requestheader-allowed-names=front-proxy-client',
          '--requestheader-username-headers=X-Remote-User',
          '--requestheader-group-headers=X-Remote-Group',
          '--requestheader-extra-headers-prefix=X-Remote-Extra-',
          `--proxy-client-cert-file=${pki.frontProxyClientCert}`,
          `--proxy-client-key-file=${pki.frontProxyClientKey}`,
          // ClusterIPs are not routable on this machine; dial endpoints (pod addresses) instead.
          '--enable-aggregator-routing=true',
          '--profiling=false',
          '-v=0',
        ];
      case 'kube-controller-manager':
        return [
          `--kubeconfig=${join(this.dir, 'controller-manager.kubeconfig')}`,
          `--authentication-kubeconfig=${join(this.dir, 'controller-manager.kubeconfig')}`,
          `--authorization-kubeconfig=${join(this.dir, 'controller-manager.kubeconfig')}`,
          '--secure-port=0',
          '--leader-elect=false',
          '--use-service-account-credentials=true',
          `--service-account-private-key-file=${pki.serviceAccountKey}`,
          `--root-ca-file=${pki.caCert}`,
          `--cluster-signing-cert-file=${pki.caCert}`,
          `--cluster-signing-key-file=${pki.caKey}`,
          '--controllers=*',
          // Short sync periods so tests see garbage collection and scaling promptly.
          '--horizontal-pod-autoscaler-sync-period=5s',
          '--profiling=false',
          '-v=0',
        ];
    }
  }

  async #start(c: Component, state: State, pki: Pki, v: Versions): Promise<void> {
    if (alive(state.pids[c])) return;
    const bin = binaryPath(c, c === 'etcd' ? v.ETCD_VERSION : v.KUBERNETES_VERSION);
    const logPath = join(this.dir, `${c}.log`);
    const fd = openSync(logPath, 'a');
    const child = spawn(bin, this.#args(c, state, pki), { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${bin}`);
    state.pids[c] = child.pid;
    this.#saveState(state);
    log(`started ${c} (pid ${child.pid}, log ${logPath})`);
  }

  async #stop(c: Component, state: State | undefined): Promise<void> {
    const pid = state?.pids[c];
    if (!state || !alive(pid)) return;
    process.kill(pid as number, 'SIGTERM');
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
    if (alive(pid)) process.kill(pid as number, 'SIGKILL');
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    delete state.pids[c];
    this.#saveState(state);
  }

  async #waitEtcd(state: State, signal?: AbortSignal): Promise<void> {
    const url = `http://127.0.0.1:${state.ports.etcdClient}/health`;
    await this.#poll(
      'etcd',
      'etcd',
      async () => {
        const r = await fetch(url).catch(() => undefined);
        return r?.ok === true;
      },
      signal,
    );
  }

  #ready(pki: Pki, server: string): Promise<boolean> {
    return new Promise((res) => {
      const req = https.get(`${server}/readyz`, { ca: readFileSync(pki.caCert), timeout: 2000 }, (r) => {
        r.resume();
        res(r.statusCode === 200);
      });
      req.on('error', () => res(false));
      req.on('timeout', () => req.destroy());
    });
  }

  async #waitReady(pki: Pki, server: string, c: Component, signal?: AbortSignal): Promise<void> {
    await this.#poll(c, 'kube-apiserver /readyz', () => this.#ready(pki, server), signal);
  }

  /** kube-controller-manager has no probe port here; the default ServiceAccount it creates shows it works. */
  async #waitDefaultServiceAccount(signal?: AbortSignal): Promise<void> {
    await this.#poll(
      'kube-controller-manager',
      'the default ServiceAccount',
      async () => {
        const r = spawnSync(
          kubectlPath(),
          ['--kubeconfig', this.kubeconfigPath, 'get', 'serviceaccount', 'default', '-n', 'default'],
          { stdio: 'ignore' },
        );
        return r.status === 0;
      },
      signal,
    );
  }

  async #poll(
    c: Component,
    what: string,
    check: () => Promise<boolean>,
    signal?: AbortSignal,
    timeoutMs = 120_000,
  ): Promise<void> {
    const t0 = performance.now();
    while (performance.now() - t0 < timeoutMs) {
      signal?.throwIfAborted();
      if (await check()) {
        log(`${what} ready after ${((performance.now() - t0) / 1000).toFixed(1)}s`);
        return;
      }
      const state = this.#readState();
      if (!alive(state?.pids[c])) {
        throw new Error(`${c} exited while waiting for ${what}; last log lines:\n${this.tail(c)}`);
      }
      await sleep(200);
    }
    throw new Error(
      `timed out after ${timeoutMs / 1000}s waiting for ${what}; last log lines:\n${this.tail(c)}`,
    );
  }

  /** The last lines of a component's log, for error messages. */
  tail(c: Component, lines = 20): string {
    const p = join(this.dir, `${c}.log`);
    if (!existsSync(p)) return '(no log)';
    return readFileSync(p, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }

  #writeKubeconfigs(pki: Pki, server: string): void {
    const b64 = (p: string): string => readFileSync(p).toString('base64');
    const kubeconfig = (user: string, cert: string, key: string): string =>
      JSON.stringify(
        {
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'local', cluster: { server, 'certificate-authority-data': b64(pki.caCert) } }],
          users: [
            { name: user, user: { 'client-certificate-data': b64(cert), 'client-key-data': b64(key) } },
          ],
          contexts: [{ name: 'local', context: { cluster: 'local', user } }],
          'current-context': 'local',
        },
        null,
        2,
      );
    writeFileSync(this.kubeconfigPath, kubeconfig('admin', pki.adminCert, pki.adminKey), { mode: 0o600 });
    writeFileSync(
      join(this.dir, 'controller-manager.kubeconfig'),
      kubeconfig('controller-manager', pki.controllerManagerCert, pki.controllerManagerKey),
      { mode: 0o600 },
    );
  }
}
