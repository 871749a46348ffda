// `npm run bench:interceptor`: this interceptor against the upstream Go interceptor (same release as
// hack/versions.env), in one run on one machine, both pinned to core 1 (backend, load generators and
// the control plane on core 0). Prints a table and one JSON line; writes docs/benchmarks.md.
//
// Upstream reads routes from the local control plane (npm run cluster:up): CRDs from crds/, a
// selector-less Service per route and a hand-written EndpointSlice pointing at the loopback backend.
// v0.15.0 dials "svc.ns:port", so it runs in a private mount namespace whose /etc/hosts maps those
// names to 127.0.0.1 (unshare -m; the machine's /etc/hosts is untouched). Ours runs in file mode with
// the same objects. Targets (issue 4): warm throughput >= upstream; p99 at 1,000 req/s <= upstream;
// 10,000 held requests: memory growth <= upstream and all answered 200 within 1 s of readiness;
// 5,000 routes within 5% of one route.
// Every warm run also reads each proxy's CPU time (CPU per request, the figure machine noise moves
// least); a bare undici proxy and, with BENCH_COMPARE_TREE=<other checkout>, an older interceptor are
// measured beside them on the warm path only.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { homedir, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { report } from './report.ts';
import {
  cpuSeconds,
  fixedRate,
  median,
  nodeBin,
  round,
  rssMiB,
  startPinned,
  waitFor,
  wrk,
} from './interceptor-lib.ts';
import { ensureSystemPackages } from '../system-packages.ts';

// Before anything long: wrk and taskset (and the rest) are there, or installed, or it stops here.
ensureSystemPackages('bench');

const here = new URL('.', import.meta.url).pathname;
const repo = new URL('../../', import.meta.url).pathname;
const seconds = Number(process.env['BENCH_SECONDS'] ?? 4);
const held = Number(process.env['BENCH_HELD'] ?? 10_000);
const manyRoutes = Number(process.env['BENCH_ROUTES'] ?? 5000);
/** The 1 vs many routes comparison: samples of each side per round, and their length. */
const routeSamplesPerRound = 3;
const routeSampleSeconds = 2;
/** Another checkout of this repository (e.g. an older commit), measured on the warm path beside this one. */
const compareTree = process.env['BENCH_COMPARE_TREE'];
const versions = Object.fromEntries(
  (await import('node:fs'))
    .readFileSync(join(repo, 'hack/versions.env'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => l.split('=') as [string, string]),
);
const upstreamVersion = versions['UPSTREAM_ADDON_VERSION'] ?? 'v0.15.0';
const cache = process.env['KEDA_HTTP_CACHE'] ?? join(homedir(), '.cache/keda-http-addon');
const upstreamBin = join(cache, 'bin', `http-add-on-interceptor-${upstreamVersion}`);
const kubectlBin = join(cache, 'bin', `kubectl-${versions['KUBERNETES_VERSION'] ?? ''}`);
const kubeconfig = process.env['KUBECONFIG'] ?? join(repo, '.cache/local-cluster/kubeconfig');
// A namespace of its own per run: the previous run's is deleted without waiting and may still be terminating.
const ns = `bench-interceptor-${Date.now().toString(36)}`;
// The API server refuses loopback EndpointSlice addresses. Upstream v0.15.0 only reads a slice's
// readiness and dials "svc.ns:port" (mapped to 127.0.0.1 below), so a documentation address will do.
const clusterAddress = '192.0.2.10';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function kubectl(args: string[], input?: string): string {
  return execFileSync(kubectlBin, args, {
    input,
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: kubeconfig },
    timeout: 120_000,
  });
}

// ---- the objects both interceptors route by ----
function objects(
  backendPort: number,
  opts: { coldReady: boolean; extraRoutes: number; address?: string },
): string {
  const docs: string[] = [];
  const svc = (name: string): void => {
    docs.push(`apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {ports: [{name: http, port: ${backendPort}, protocol: TCP}]}`);
  };
  const slice = (name: string, ready: boolean): void => {
    docs.push(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: ${ns}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
endpoints: [{addresses: [${opts.address ?? '127.0.0.1'}], conditions: {ready: ${ready}}}]
ports: [{name: http, port: ${backendPort}, protocol: TCP}]`);
  };
  const route = (name: string, service: string, hosts: string[]): void => {
    docs.push(`apiVersion: http.keda.sh/v1beta1
kind: InterceptorRoute
metadata: {name: ${name}, namespace: ${ns}}
spec:
  target: {service: ${service}, port: ${backendPort}}
  rules: [{hosts: [${hosts.join(', ')}]}]
  scalingMetric: {concurrency: {targetValue: 100}}`);
  };
  svc('app');
  slice('app', true);
  svc('cold');
  slice('cold', opts.coldReady);
  route('app', 'app', ['app.bench', 'h0.bench']);
  route('cold', 'cold', ['cold.bench']);
  for (let i = 1; i < opts.extraRoutes; i++) route(`r${i}`, 'app', [`h${i}.bench`]);
  return `${docs.join('\n---\n')}\n`;
}

interface Measured {
  warmRps: number;
  /** Proxy process user+sys CPU per request over the warm wrk runs (median of rounds), microseconds. */
  warmCpuUs: number;
  warmP99ms: number;
  warmErrors: number;
  fixedP50ms: number;
  fixedP99ms: number;
  fixedErrors: number;
  /** The p99 at 1,000 req/s of each round, in order. */
  fixedP99Rounds: number[];
  fixedP99WithWarmupMs: number;
  rssBeforeHoldMiB: number;
  rssHeldMiB: number;
  heldAll: boolean;
  answeredWithinMs: number;
  /** When the first held request was answered, after readiness (ms). */
  firstAnsweredWithinMs: number;
  held200: number;
  heldStatuses: Record<string, number>;
  /** The same release with clients that send Connection: close. */
  closeAnsweredWithinMs: number;
  closeFirstAnsweredWithinMs: number;
  closeHeld200: number;
  closeHeldAll: boolean;
  routes1Rps?: number;
  routesManyRps?: number;
  routes1CpuUs?: number;
  routesManyCpuUs?: number;
  /** Per round: many-route req/s over the one-route req/s measured next to it. */
  routesRatios?: number[];
  /** The same with every request on one route of the many-route table. */
  routesOneHostRatios?: number[];
  /** The verdict's figures: roleBalanced() of the ratios above. */
  routesRatio?: number;
  routesOneHostRatio?: number;
  routesOneHostCpuUs?: number;
}

type HoldMode = 'keep-alive' | 'close';

/**
 * `held` requests against the cold route at once, each on its own connection; once all are held, the
 * route's backend turns ready. `mode`: whether the clients keep their connections (keep-alive) or
 * send Connection: close (interceptor-hold-client.ts).
 */
async function holdPhase(
  r: Running,
  mode: HoldMode,
): Promise<
  Pick<
    Measured,
    | 'rssBeforeHoldMiB'
    | 'rssHeldMiB'
    | 'heldAll'
    | 'answeredWithinMs'
    | 'firstAnsweredWithinMs'
    | 'held200'
    | 'heldStatuses'
  >
> {
  const rssBeforeHoldMiB = rssMiB(r.pid);
  const client = await startPinned(
    `${r.name} hold client`,
    '0',
    nodeBin,
    [
      join(here, 'interceptor-hold-client.ts'),
      `http://127.0.0.1:${r.proxyPort}/`,
      'cold.bench',
      String(held),
      '90000',
      mode,
    ],
    {
      ready: /^sent (\d+)$/,
      timeoutMs: 90_000,
    },
  );
  const result = new Promise<string>((resolve) => {
    let out = '';
    client.child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = /^\{.*\}$/m.exec(out)?.[0];
      if (line) resolve(line);
    });
  });
  let heldAll = true;
  try {
    await waitFor(
      async () => {
        const q = (await (await fetch(`http://127.0.0.1:${r.adminPort}/queue`)).json()) as Record<
          string,
          { Concurrency: number }
        >;
        return (q[`${ns}/cold`]?.Concurrency ?? 0) >= held;
      },
      60_000,
      `${r.name}: ${held} requests held`,
    );
  } catch {
    heldAll = false;
  }
  await new Promise((resolve) => setTimeout(resolve, 1000)); // let the heap settle with everything held
  const rssHeldMiB = rssMiB(r.pid);
  const flippedAt = Date.now();
  await r.setColdReady(true);
  const out = JSON.parse(await result) as {
    statuses: Record<string, number>;
    firstAnsweredAt: number;
    lastAnsweredAt: number;
  };
  await client.stop();
  return {
    rssBeforeHoldMiB,
    rssHeldMiB,
    heldAll,
    answeredWithinMs: out.lastAnsweredAt - flippedAt,
    firstAnsweredWithinMs: out.firstAnsweredAt - flippedAt,
    held200: out.statuses['200'] ?? 0,
    heldStatuses: out.statuses,
  };
}

/** wrk over `hosts` route hosts; with `pid`, also the proxy's CPU per request (microseconds). */
function hostsWrk(port: number, hosts: number, secs: number, pid?: number): { rps: number; cpuUs: number } {
  const prev = process.env['HOSTS'];
  process.env['HOSTS'] = String(hosts);
  try {
    const cpu0 = pid === undefined ? NaN : cpuSeconds(pid);
    const w = wrk(`http://127.0.0.1:${port}/`, {
      connections: 50,
      seconds: secs,
      cpus: '0',
      script: join(here, 'interceptor-hosts.lua'),
    });
    return { rps: w.rps, cpuUs: pid === undefined ? NaN : ((cpuSeconds(pid) - cpu0) / w.requests) * 1e6 };
  } finally {
    if (prev === undefined) delete process.env['HOSTS'];
    else process.env['HOSTS'] = prev;
  }
}

/**
 * The routes comparison's figure from per-sample ratios (many-route side over 1-route side): the
 * geometric mean of the median with process A serving the many-route table and the median with
 * process B serving it. Processes of the same code differ in speed by as much as a third here, and
 * the role swap puts that factor in one median and its inverse in the other, so it cancels.
 */
function roleBalanced(ratios: number[]): number {
  // Round r (routeSamplesPerRound samples each): B serves the many-route table in even rounds.
  const aBig = ratios.filter((_, j) => Math.floor(j / routeSamplesPerRound) % 2 === 1);
  const bBig = ratios.filter((_, j) => Math.floor(j / routeSamplesPerRound) % 2 === 0);
  return Math.sqrt(median(aBig) * median(bBig));
}

/** Waits (at most 20 s) until a process uses under 2% of a core over two 250 ms windows in a row. */
async function untilQuiet(pid: number): Promise<void> {
  let calm = 0;
  for (let i = 0; i < 80 && calm < 2; i++) {
    const before = cpuSeconds(pid);
    await new Promise((resolve) => setTimeout(resolve, 250));
    calm = cpuSeconds(pid) - before <= 0.005 ? calm + 1 : 0;
  }
}

interface WrkCpu {
  rps: number;
  p99ms: number;
  errors: number;
  /** The proxy's user+sys CPU time over the run, per request served, microseconds. */
  cpuUs: number;
}

/** One warm wrk run against a proxy, with the proxy's CPU time read around it. */
function warmRun(port: number, pid: number): WrkCpu {
  const cpu0 = cpuSeconds(pid);
  const w = wrk(`http://127.0.0.1:${port}/`, { connections: 50, seconds, cpus: '0', host: 'app.bench' });
  return {
    rps: w.rps,
    p99ms: w.p99ms,
    errors: w.errors,
    cpuUs: ((cpuSeconds(pid) - cpu0) / w.requests) * 1e6,
  };
}

interface Running {
  name: string;
  proxyPort: number;
  adminPort: number;
  pid: number;
  stop(): Promise<void>;
  /** Marks the cold route's endpoint ready or not (a file rewrite for ours, an EndpointSlice apply for upstream). */
  setColdReady(ready: boolean): Promise<void>;
}

interface RunningOurs extends Running {
  /** Rewrites the objects file with `routes` routes (app, cold and r1..) and waits until the new table serves. */
  setRoutes(routes: number): Promise<void>;
}

async function startOurs(name: string, tree = repo): Promise<RunningOurs> {
  const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
  let state = { coldReady: false, extraRoutes: 1 };
  const write = (): Promise<void> => writeFile(file, objects(backendPort, state));
  await write();
  const proxyPort = await freePort();
  const adminPort = await freePort();
  const p = await startPinned(
    name,
    '1',
    nodeBin,
    [join(tree, 'bin/keda-http.ts'), 'interceptor', '--from-file', file],
    {
      env: {
        KEDA_HTTP_PROXY_PORT: String(proxyPort),
        KEDA_HTTP_ADMIN_PORT: String(adminPort),
        OTEL_PROM_EXPORTER_PORT: String(await freePort()),
      },
      ready: /interceptor started/,
    },
  );
  // As in a cluster, where the scaler always watches: push activation's events are part of the
  // cost. A reader process of its own, as this one blocks in synchronous wrk runs.
  const watch = spawn(
    'taskset',
    [
      '-c',
      '0',
      nodeBin,
      '-e',
      `require('node:http').get('http://127.0.0.1:${adminPort}/queue/watch', (r) => r.resume())`,
    ],
    { stdio: 'ignore' },
  );
  return {
    name,
    proxyPort,
    adminPort,
    pid: p.child.pid ?? 0,
    stop: async () => {
      watch.kill('SIGKILL');
      await p.stop();
    },
    setColdReady: async (coldReady) => {
      state = { ...state, coldReady };
      await write();
    },
    setRoutes: async (routes) => {
      state = { ...state, extraRoutes: routes };
      await write();
      // The queue has one key per route of the current table (app and cold besides r1..).
      await waitFor(
        async () => {
          const q = (await (await fetch(`http://127.0.0.1:${adminPort}/queue`)).json()) as object;
          return Object.keys(q).length === routes + 1;
        },
        60_000,
        `${name}: a table of ${routes} routes`,
      );
    },
  };
}

async function startUpstream(): Promise<Running> {
  try {
    kubectl(['get', 'crd', 'interceptorroutes.http.keda.sh']);
  } catch {
    kubectl(['create', '-f', join(repo, 'crds')]);
  }
  kubectl(['apply', '-f', '-'], `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}}\n`);
  kubectl(
    ['apply', '-f', '-'],
    objects(backendPort, { coldReady: false, extraRoutes: 1, address: clusterAddress }),
  );
  const hosts = join(dir, 'hosts');
  await writeFile(hosts, `127.0.0.1 localhost\n127.0.0.1 app.${ns} cold.${ns}\n`);
  const proxyPort = await freePort();
  const adminPort = await freePort();
  const up = await startPinned(
    'upstream interceptor',
    '1',
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      `mount --bind ${hosts} /etc/hosts && echo started && exec ${upstreamBin} --zap-log-level=error`,
    ],
    {
      env: {
        KUBECONFIG: kubeconfig,
        KEDA_HTTP_PROXY_PORT: String(proxyPort),
        KEDA_HTTP_ADMIN_PORT: String(adminPort),
        OTEL_PROM_EXPORTER_PORT: String(await freePort()),
        KEDA_HTTP_WATCH_NAMESPACE: ns,
      },
      ready: /^started$/,
    },
  );
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined))?.status === 200,
    60_000,
    'upstream readyz',
  );
  return {
    name: `upstream ${upstreamVersion} (Go)`,
    proxyPort,
    adminPort,
    // exec keeps the pid: the child's pid is the interceptor binary's.
    pid: up.child.pid ?? 0,
    stop: up.stop,
    setColdReady: async (ready) => {
      kubectl(
        ['apply', '-f', '-'],
        objects(backendPort, { coldReady: ready, extraRoutes: 1, address: clusterAddress }),
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 5);
/** An even number of rounds, so each of the two processes serves the many-route table as often. */
const routeRounds = rounds % 2 === 0 ? rounds : rounds + 1;
const loadBefore = loadavg()[0] ?? NaN;
const dir = await mkdtemp(join(tmpdir(), 'bench-interceptor-'));
const backend = await startPinned('backend', '0', nodeBin, [join(here, 'interceptor-backend.ts')], {
  ready: /^(\d+)$/,
});
const backendPort = Number(backend.match[1]);
const results: Record<string, Measured> = {};
const notes: string[] = [];
let directRps = NaN;
let directP99 = NaN;
/** The fixed-rate client against the backend directly: the floor of the 1,000 req/s figures. */
let directFixedP50 = NaN;
let directFixedP99 = NaN;
let directFixedP99WithWarmup = NaN;
/**
 * Warm-path references: the bare undici proxy of the engine comparison (forwarding alone, no
 * routing, counting or metrics) and, with BENCH_COMPARE_TREE, the interceptor of another checkout.
 */
const references: { name: string; rps: number; p99ms: number; cpuUs: number }[] = [];
const running: Running[] = [];

try {
  const ours = await startOurs('keda-http (this)');
  running.push(ours);
  let upstream: Running | undefined;
  if (!existsSync(upstreamBin)) {
    notes.push(
      `Upstream interceptor not measured: ${upstreamBin} is missing (bash hack/build-binaries.sh upstream-interceptor).`,
    );
  } else if (!existsSync(kubeconfig)) {
    notes.push(
      `Upstream interceptor not measured: no control plane (${kubeconfig}); run npm run cluster:up.`,
    );
  } else {
    try {
      upstream = await startUpstream();
      running.push(upstream);
    } catch (err) {
      notes.push(
        `Upstream interceptor could not start: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}`,
      );
    }
  }

  const bareProxy = await startPinned(
    'bare undici proxy',
    '1',
    nodeBin,
    [join(here, 'interceptor-engine-proxy.ts'), 'undici-dispatch', String(backendPort)],
    { ready: /^port (\d+)$/ },
  );
  const refs: { name: string; port: number; pid: number; stop(): Promise<void>; runs: WrkCpu[] }[] = [
    {
      name: 'bare undici proxy (forwarding only)',
      port: Number(bareProxy.match[1]),
      pid: bareProxy.child.pid ?? 0,
      stop: bareProxy.stop,
      runs: [],
    },
  ];
  if (compareTree !== undefined) {
    const other = await startOurs(`keda-http from ${compareTree}`, compareTree);
    refs.push({ name: other.name, port: other.proxyPort, pid: other.pid, stop: other.stop, runs: [] });
  }

  // Warm path, interleaved round by round so machine noise hits every proxy alike; medians reported.
  // Each warm run also reads the proxy's CPU time: CPU per request is what one request costs the
  // proxy, which the other tenants of this machine move far less than req/s.
  const warm = new Map<
    string,
    {
      rps: number[];
      p99: number[];
      cpu: number[];
      errors: number;
      f50: number[];
      f99: number[];
      /** p99 at 1,000 req/s counting each round's warm-up second too. */
      f99w: number[];
      ferr: number;
    }
  >();
  for (const r of running) {
    wrk(`http://127.0.0.1:${r.proxyPort}/`, { connections: 50, seconds: 2, cpus: '0', host: 'app.bench' }); // warm-up
    warm.set(r.name, { rps: [], p99: [], cpu: [], errors: 0, f50: [], f99: [], f99w: [], ferr: 0 });
  }
  for (const r of refs)
    wrk(`http://127.0.0.1:${r.port}/`, { connections: 50, seconds: 2, cpus: '0', host: 'app.bench' }); // warm-up
  const d: number[] = [];
  const d99: number[] = [];
  const df50: number[] = [];
  const df99: number[] = [];
  const df99w: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const direct = wrk(`http://127.0.0.1:${backendPort}/`, { connections: 50, seconds, cpus: '0' });
    d.push(direct.rps);
    d99.push(direct.p99ms);
    const directFixed = await fixedRate(`http://127.0.0.1:${backendPort}/`, { rps: 1000, seconds });
    df50.push(directFixed.p50ms);
    df99.push(directFixed.p99ms);
    df99w.push(directFixed.p99WithWarmupMs);
    for (const r of running) {
      const w = warmRun(r.proxyPort, r.pid);
      const m = warm.get(r.name);
      m?.rps.push(w.rps);
      m?.p99.push(w.p99ms);
      m?.cpu.push(w.cpuUs);
      if (m) m.errors += w.errors;
    }
    for (const r of refs) r.runs.push(warmRun(r.port, r.pid));
    for (const r of running) {
      const f = await fixedRate(`http://127.0.0.1:${r.proxyPort}/`, {
        host: 'app.bench',
        rps: 1000,
        seconds,
      });
      const m = warm.get(r.name);
      m?.f50.push(f.p50ms);
      m?.f99.push(f.p99ms);
      m?.f99w.push(f.p99WithWarmupMs);
      if (m) m.ferr += f.errors;
    }
  }
  for (const r of refs) {
    await r.stop();
    references.push({
      name: r.name,
      rps: median(r.runs.map((w) => w.rps)),
      p99ms: median(r.runs.map((w) => w.p99ms)),
      cpuUs: median(r.runs.map((w) => w.cpuUs)),
    });
  }
  directRps = median(d);
  directP99 = median(d99);
  directFixedP50 = median(df50);
  directFixedP99 = median(df99);
  directFixedP99WithWarmup = median(df99w);

  // 1 vs many routes: two processes of ours that swap roles every round (one serves a 1-route
  // table, the other a many-route table, then the other way round), so neither process's own
  // speed leans on one side. Within a round, short samples of the two (and of the many-route table
  // with all traffic on one host) alternate in rotating order; each comparison is between
  // neighbouring samples, and the verdict is the median of those ratios.
  const one: { rps: number; cpuUs: number }[] = [];
  const many: { rps: number; cpuUs: number }[] = [];
  /** The many-route table with every request on one of its routes: the table's size alone. */
  const manyOneHost: { rps: number; cpuUs: number }[] = [];
  const routeProcs = [await startOurs('keda-http routes A'), await startOurs('keda-http routes B')];
  try {
    for (let i = 0; i < routeRounds; i++) {
      const [small, big] = (i % 2 === 0 ? routeProcs : [...routeProcs].reverse()) as [
        RunningOurs,
        RunningOurs,
      ];
      await small.setRoutes(1);
      await big.setRoutes(manyRoutes);
      // A new table leaves seconds of background work (garbage collection of the parsed file and
      // the old table, on the proxy's own core), and its routes get their state and metric series
      // on their first request: wait until each process is quiet, run an unrecorded 2 s, and wait
      // for quiet again, so the samples measure serving and nothing left over from the swap.
      for (const [proc, hosts] of [
        [small, 1],
        [big, manyRoutes],
      ] as const) {
        await untilQuiet(proc.pid);
        hostsWrk(proc.proxyPort, hosts, 2);
        await untilQuiet(proc.pid);
      }
      const sides = [
        { into: one, proxy: small, hosts: 1 },
        { into: many, proxy: big, hosts: manyRoutes },
        { into: manyOneHost, proxy: big, hosts: 1 },
      ];
      for (let k = 0; k < routeSamplesPerRound; k++) {
        const order = [...sides.slice(k % 3), ...sides.slice(0, k % 3)];
        for (const side of order)
          side.into.push(hostsWrk(side.proxy.proxyPort, side.hosts, routeSampleSeconds, side.proxy.pid));
      }
    }
  } finally {
    for (const p of routeProcs) await p.stop();
  }

  // Cold start: one proxy at a time (10,000 sockets each).
  for (const r of running) {
    const hold = await holdPhase(r, 'keep-alive');
    await r.setColdReady(false);
    await new Promise((resolve) => setTimeout(resolve, 3000)); // seen as not ready; the first clients gone
    const closing = await holdPhase(r, 'close');
    const m = warm.get(r.name);
    results[r.name] = {
      warmRps: median(m?.rps ?? []),
      warmCpuUs: median(m?.cpu ?? []),
      warmP99ms: median(m?.p99 ?? []),
      warmErrors: m?.errors ?? 0,
      fixedP50ms: median(m?.f50 ?? []),
      fixedP99ms: median(m?.f99 ?? []),
      fixedP99Rounds: m?.f99 ?? [],
      fixedP99WithWarmupMs: median(m?.f99w ?? []),
      fixedErrors: m?.ferr ?? 0,
      ...hold,
      closeAnsweredWithinMs: closing.answeredWithinMs,
      closeFirstAnsweredWithinMs: closing.firstAnsweredWithinMs,
      closeHeld200: closing.held200,
      closeHeldAll: closing.heldAll,
      ...(r === ours
        ? {
            routes1Rps: median(one.map((x) => x.rps)),
            routesManyRps: median(many.map((x) => x.rps)),
            routes1CpuUs: median(one.map((x) => x.cpuUs)),
            routesManyCpuUs: median(many.map((x) => x.cpuUs)),
            routesRatios: many.map((x, i) => x.rps / (one[i]?.rps ?? NaN)),
            routesOneHostRatios: manyOneHost.map((x, i) => x.rps / (one[i]?.rps ?? NaN)),
            routesRatio: roleBalanced(many.map((x, i) => x.rps / (one[i]?.rps ?? NaN))),
            routesOneHostRatio: roleBalanced(manyOneHost.map((x, i) => x.rps / (one[i]?.rps ?? NaN))),
            routesOneHostCpuUs: median(manyOneHost.map((x) => x.cpuUs)),
          }
        : {}),
    };
  }
} finally {
  for (const r of running) await r.stop();
  if (running.some((r) => r.name.startsWith('upstream'))) {
    try {
      kubectl(['delete', 'namespace', ns, '--wait=false']);
    } catch {
      /* best effort */
    }
  }
  await backend.stop();
  await rm(dir, { recursive: true, force: true });
}

// ---- report ----
const ours = results['keda-http (this)'];
const upstream = results[`upstream ${upstreamVersion} (Go)`];
const rows = Object.entries(results).map(([name, m]) => [
  name,
  round(m.warmRps),
  `${round(m.warmRps / directRps, 2)}x`,
  round(m.warmCpuUs, 1),
  round(m.warmP99ms, 2),
  round(m.fixedP50ms, 2),
  round(m.fixedP99ms, 2),
  round(m.rssHeldMiB - m.rssBeforeHoldMiB, 1),
  `${m.held200}/${held}`,
  round(m.answeredWithinMs),
  `${m.closeHeld200}/${held}`,
  round(m.closeAnsweredWithinMs),
  m.routesManyRps === undefined
    ? '-'
    : `${round(m.routesManyRps)} vs ${round(m.routes1Rps ?? NaN)} (${round((m.routesRatio ?? NaN) * 100, 2)}%; CPU ${round(m.routesManyCpuUs ?? NaN, 1)} vs ${round(m.routes1CpuUs ?? NaN, 1)} us/req)`,
]);
rows.unshift([
  'backend directly',
  round(directRps),
  '1x',
  '-',
  round(directP99, 2),
  round(directFixedP50, 2),
  round(directFixedP99, 2),
  '-',
  '-',
  '-',
  '-',
  '-',
  '-',
]);
for (const ref of references)
  rows.push([
    ref.name,
    round(ref.rps),
    `${round(ref.rps / directRps, 2)}x`,
    round(ref.cpuUs, 1),
    round(ref.p99ms, 2),
    '-',
    '-',
    '-',
    '-',
    '-',
    '-',
    '-',
    '-',
  ]);
const verdicts: string[] = [];
if (ours && upstream) {
  const r = ours.warmRps / upstream.warmRps;
  verdicts.push(
    `warm throughput >= upstream: ${r >= 1 ? 'met' : `MISSED by ${round((1 - r) * 100, 1)}%`} (${round(r, 2)}x upstream)`,
  );
  verdicts.push(
    `CPU per request (not a target; the cost behind throughput): ${round(ours.warmCpuUs, 1)} us vs upstream ${round(upstream.warmCpuUs, 1)} us (${round(ours.warmCpuUs / upstream.warmCpuUs, 2)}x)`,
  );
  verdicts.push(
    `p99 at 1,000 req/s <= upstream: ${ours.fixedP99ms <= upstream.fixedP99ms ? 'met' : 'MISSED'} (${round(ours.fixedP99ms, 2)} ms vs ${round(upstream.fixedP99ms, 2)} ms; per round, ours ${ours.fixedP99Rounds.map((x) => round(x, 1)).join(', ')} and upstream ${upstream.fixedP99Rounds.map((x) => round(x, 1)).join(', ')}; the same client against the backend directly: ${round(directFixedP99, 2)} ms; counting each round's 0.5 s warm-up too, not the target's measure: ours ${round(ours.fixedP99WithWarmupMs, 2)} ms, upstream ${round(upstream.fixedP99WithWarmupMs, 2)} ms, direct ${round(directFixedP99WithWarmup, 2)} ms)`,
  );
  const og = ours.rssHeldMiB - ours.rssBeforeHoldMiB;
  const ug = upstream.rssHeldMiB - upstream.rssBeforeHoldMiB;
  verdicts.push(
    `memory growth with ${held} held <= upstream: ${og <= ug ? 'met' : `MISSED by ${round(og - ug, 1)} MiB`} (${round(og, 1)} MiB vs ${round(ug, 1)} MiB)`,
  );
}
if (ours) {
  const within = (
    clients: string,
    n200: number,
    [first, ms]: [number, number],
    upstreamMs: [number, number] | undefined,
  ): string => {
    const verdict =
      n200 === held && ms <= 1000 ? 'met' : `MISSED${n200 === held ? ` by ${round(ms - 1000)} ms` : ''}`;
    const vs =
      upstreamMs === undefined
        ? ''
        : `; upstream first after ${round(upstreamMs[0])} ms, last after ${round(upstreamMs[1])} ms`;
    return `all ${held} held answered 200 within 1 s of readiness, ${clients}: ${verdict} (${n200} x 200, first after ${round(first)} ms, last after ${round(ms)} ms${vs})`;
  };
  verdicts.push(
    within(
      'keep-alive clients',
      ours.held200,
      [ours.firstAnsweredWithinMs, ours.answeredWithinMs],
      upstream && [upstream.firstAnsweredWithinMs, upstream.answeredWithinMs],
    ),
  );
  verdicts.push(
    within(
      'Connection: close clients',
      ours.closeHeld200,
      [ours.closeFirstAnsweredWithinMs, ours.closeAnsweredWithinMs],
      upstream && [upstream.closeFirstAnsweredWithinMs, upstream.closeAnsweredWithinMs],
    ),
  );
  const ratio = ours.routesRatio ?? NaN;
  verdicts.push(
    `${manyRoutes} routes within 5% of 1 route, requests spread over all of them: ${ratio >= 0.95 ? 'met' : `MISSED by ${round((0.95 - ratio) * 100, (0.95 - ratio) * 100 < 0.1 ? 2 : 1)} points`} (${round(ratio * 100, 2)}%, role-balanced; the samples' ratios: ${(ours.routesRatios ?? []).map((x) => `${round(x * 100)}%`).join(', ')}; CPU per request ${round(ours.routesManyCpuUs ?? NaN, 1)} us vs ${round(ours.routes1CpuUs ?? NaN, 1)} us)`,
  );
  const oneHost = ours.routesOneHostRatio ?? NaN;
  verdicts.push(
    `${manyRoutes} routes, requests on one of them (the table's size alone; not the target's measure): ${round(oneHost * 100, 1)}% of 1 route (samples: ${(ours.routesOneHostRatios ?? []).map((x) => `${round(x * 100)}%`).join(', ')}; CPU per request ${round(ours.routesOneHostCpuUs ?? NaN, 1)} us)`,
  );
}
await report({
  name: 'interceptor',
  title: 'Interceptor: this implementation vs upstream Go interceptor (proxies pinned to 1 core)',
  columns: [
    'proxy',
    'warm req/s (wrk, 50 conn)',
    'vs direct',
    'CPU us/req',
    'warm p99 ms',
    'p50 ms @1k/s',
    'p99 ms @1k/s',
    `RSS growth MiB (${held} held)`,
    'held answered 200 (keep-alive)',
    'last answer after ready (ms)',
    'held answered 200 (Connection: close)',
    'last answer after ready (ms), close',
    `${manyRoutes} routes req/s`,
  ],
  rows,
  verdicts,
  versions: {
    upstream: upstreamVersion,
    wrk: (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '').trim(),
  },
  notes: [
    `Medians of ${rounds} interleaved rounds of ${seconds} s (direct, then each proxy, then each proxy at 1,000 req/s), so machine noise hits every proxy alike. Backend (Node, trivial "ok"), wrk, the fixed-rate client and the hold client run on core 0, the proxy under test on core 1; the local control plane shares the machine. Ours runs from a file (--from-file) with a /queue/watch reader attached, as the scaler is in a cluster; upstream runs from the API server. Readiness flips are a file rewrite (ours, read as soon as the file watch reports it) and an EndpointSlice apply (upstream), so "after ready" includes each one's watch latency.`,
    'CPU us/req: user+sys CPU time of the proxy process (/proc/<pid>/stat) over each warm wrk run, divided by the requests wrk completed; median of the rounds. On this shared machine req/s swings 2x with the other tenants while CPU per request moves far less, so it is the figure to compare proxies by; contention still inflates it somewhat, for every proxy alike. The bare undici proxy (hack/bench/interceptor-engine-proxy.ts) only forwards: no routing, counting, metrics, X-Forwarded-* or hop-by-hop handling.',
    "Warm throughput: the backend leg of plain-http bodyless requests goes through a lean HTTP/1.1 client on node:http's own llhttp binding (addon/interceptor/proxy/h1-client.ts, docs/decisions/interceptor-h1-client.md) instead of undici. In interleaved runs against the previous commit (hack/bench/interceptor-cpu.ts, 10 rounds) it lowered the interceptor's CPU per request in 8 to 10 of 10 rounds, by 13-17% at the median, to within a few percent of the bare undici proxy that does nothing but forward. What remains per request is mostly the kernel's loopback TCP work for the four socket operations every proxy does (a third of the CPU time) and node:http's server side (request and response objects, header serialisation, its keep-alive timer).",
    "p99 at 1,000 req/s: at 1,000 req/s the proxy is mostly idle and the tail is set by whatever else runs on its core; on this shared machine the verdict flips with the other tenants (in the three runs made with the HTTP/1.1 client: 12.1 ms vs 16.1 ms met, 9.8 ms vs 5.5 ms and 71 ms vs 23 ms missed; before it, 193 ms vs 197 ms met and 316 ms vs 223 ms missed). Garbage collection is not it: young-generation pauses of 1 to 3 ms come about every 2 s at this rate. The fixed-rate client (undici, in the benchmark process, sharing core 0 with the backend) has a tail of its own: against the backend directly, with no proxy at all, four 4 s runs gave a p99 of 3.6, 8.6, 23 and 25 ms. The direct row now shows that floor from the same rounds; proxy p99s within it are the client's and the machine's noise, not the proxy's. Each round opens a new connection pool and first sends 0.5 s at the same rate that is left out of p50 and p99, as wrk2 leaves out its calibration: with the pool's connections opened after several seconds of idling, the first 20-30 ms through our proxy took 7-14 ms (through the backend alone 5-8 ms), and those 20-30 of a round's 4,000 samples nearly set its p99 (the top 40). The verdict also prints the p99 with the warm-up counted. A request sent up to 1 ms early (timers fire to the millisecond) counts from when it left, a late one from its slot.",
    "10,000 held answered within 1 s: every held request is its own connection from a raw-socket client (hack/bench/interceptor-hold-client.ts; node:http's client used 0.6 s of CPU for 10,000 responses on the core it shares with the backend), once keeping its connections (keep-alive, the HTTP/1.1 default) and once sending Connection: close, so the proxy also closes each connection as it answers. Held requests are released FIFO, 64 per event-loop turn (docs/decisions/interceptor-paced-release.md): the first answers leave within one turn while the rest are still being released. Before that change every held request resumed in one synchronous burst (200-400 ms on one core with the backend idle) and the last of 10,000 came 1.2 s to 2.1 s after readiness. KEDA_HTTP_MAX_CONNS_PER_HOST (512) keeps the release from opening 10,000 connections against the just-ready backend, whose SYN backlog drops cost upstream seconds. The proxy needs about 60 to 100 us of CPU per released request, so 1 s is near what one core allows: the figure moves by a few hundred ms between runs with the machine's other load. Profiled (perf and V8's profiler): a released request costs the proxy about twice a warm one. Writing the response to a held client's socket costs about four times what it does on the warm path: the client sleeps, and waking it is a cross-CPU interrupt through the hypervisor (sock_def_readable, kvm_kick_cpu); the held requests' state used to be scavenged during the release too (two pauses of 45-50 ms that copied and promoted 17-25 MB), until the interceptor began to scavenge while it is idle with requests held (docs/decisions/interceptor-idle-scavenge.md). During a release neither the backend nor the held client is saturated, so both sleep between requests and each released request pays for two such wake-ups (the request write wakes the backend, the response write wakes the client); in the warm runs wrk and the backend are never idle. The first release in a process also costs more than later ones: three releases in a row in one process took 1.0-1.2 s, 0.9-1.0 s and 0.6-0.9 s of its CPU, the first with about twice the page faults as the heap grows into new memory; this benchmark measures a first release. Per released request the proxy makes one writev, one write and 1.3 reads (strace). V8 flags (--single-threaded-gc, semi-spaces of 16 to 64 MB, --v8-pool-size=1, --initial-old-space-size=256) and release batches of 16 to 1,024 did not change the CPU of a release beyond noise. Ours reads a readiness flip in its file as soon as the file watch reports it (docs/decisions/file-store-reload.md), so the first held request is answered 8-30 ms after the flip.",
    `${manyRoutes} routes: two more processes of ours, one serving a 1-route table and the other a ${manyRoutes}-route table, swap roles every round (objects file rewritten; then, for each process, a wait until it is quiet, an unrecorded 2 s on its table and another wait: a new table leaves seconds of garbage collection on the proxy's core), so neither process's own speed leans on one side; within a round, ${routeSamplesPerRound} samples of ${routeSampleSeconds} s of each side alternate in rotating order, and each sample is compared with its neighbour on the other side. The figure is the geometric mean of the median ratio with process A serving the many-route table and the median with process B serving it: two processes of the same code here differed in speed by a third on the same work, consistently over a run, and the role swap cancels that factor. Requests spread over all ${manyRoutes} routes (a random Host per request, the same wrk script on both sides) cost more than requests to one route for two reasons. Per-route state (the route, its counter, gauge and metric series) misses the CPU cache when thousands of routes take turns; it now sits on the compiled route itself, found without a map lookup. And with ${manyRoutes} routes and 50 connections a route's concurrency goes 0 -> 1 -> 0 on nearly every request, which push activation watches; /queue/watch announces idle only after a second at 0 and writes to its clients at most once per 10 ms, so the watching reader costs the proxy no measurable CPU here (docs/decisions/interceptor-push-activation.md). Routes that share a backend share one resolved target. The one-host line shows the table's size alone.`,
    `Load average (1 min) on this shared 2-core machine: ${round(loadBefore, 1)} at the start, ${round(loadavg()[0] ?? NaN, 1)} at the end; other engineers' builds and tests ran at the same time, so absolute numbers swing by 2x or more between rounds and only same-run ratios mean anything.`,
    ...notes,
  ],
  data: { directRps, directP99, references, held, manyRoutes, seconds, results },
});
