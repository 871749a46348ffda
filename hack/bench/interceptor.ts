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
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { report } from './report.ts';
import { fixedRate, nodeBin, round, rssMiB, startPinned, waitFor, wrk } from './interceptor-lib.ts';

const here = new URL('.', import.meta.url).pathname;
const repo = new URL('../../', import.meta.url).pathname;
const seconds = Number(process.env['BENCH_SECONDS'] ?? 10);
const held = Number(process.env['BENCH_HELD'] ?? 10_000);
const manyRoutes = Number(process.env['BENCH_ROUTES'] ?? 5000);
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
const ns = 'bench-interceptor';
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
  warmP99ms: number;
  warmErrors: number;
  fixedP50ms: number;
  fixedP99ms: number;
  fixedErrors: number;
  rssBeforeHoldMiB: number;
  rssHeldMiB: number;
  heldAll: boolean;
  answeredWithinMs: number;
  held200: number;
  heldStatuses: Record<string, number>;
  routes1Rps?: number;
  routesManyRps?: number;
}

async function holdPhase(
  name: string,
  proxyPort: number,
  adminPort: number,
  pid: number,
  flip: () => Promise<void>,
): Promise<
  Pick<
    Measured,
    'rssBeforeHoldMiB' | 'rssHeldMiB' | 'heldAll' | 'answeredWithinMs' | 'held200' | 'heldStatuses'
  >
> {
  const rssBeforeHoldMiB = rssMiB(pid);
  const client = await startPinned(
    `${name} hold client`,
    '0',
    nodeBin,
    [
      join(here, 'interceptor-hold-client.ts'),
      `http://127.0.0.1:${proxyPort}/`,
      'cold.bench',
      String(held),
      '90000',
    ],
    {
      ready: /^sent (\d+)$/,
      timeoutMs: 90_000,
    },
  );
  const result = new Promise<string>((resolve) => {
    client.child.stdout?.on('data', (c: Buffer) => {
      const line = c
        .toString()
        .split('\n')
        .find((l) => l.startsWith('{'));
      if (line) resolve(line);
    });
  });
  let heldAll = true;
  try {
    await waitFor(
      async () => {
        const q = (await (await fetch(`http://127.0.0.1:${adminPort}/queue`)).json()) as Record<
          string,
          { Concurrency: number }
        >;
        return (q[`${ns}/cold`]?.Concurrency ?? 0) >= held;
      },
      60_000,
      `${name}: ${held} requests held`,
    );
  } catch {
    heldAll = false;
  }
  await new Promise((r) => setTimeout(r, 1000)); // let the heap settle with everything held
  const rssHeldMiB = rssMiB(pid);
  const flippedAt = Date.now();
  await flip();
  const out = JSON.parse(await result) as { statuses: Record<string, number>; lastAnsweredAt: number };
  await client.stop();
  return {
    rssBeforeHoldMiB,
    rssHeldMiB,
    heldAll,
    answeredWithinMs: out.lastAnsweredAt - flippedAt,
    held200: out.statuses['200'] ?? 0,
    heldStatuses: out.statuses,
  };
}

async function warmPhases(
  port: number,
): Promise<
  Pick<Measured, 'warmRps' | 'warmP99ms' | 'warmErrors' | 'fixedP50ms' | 'fixedP99ms' | 'fixedErrors'>
> {
  const url = `http://127.0.0.1:${port}/`;
  wrk(url, { connections: 50, seconds: 2, cpus: '0', host: 'app.bench' }); // warm-up
  const w = wrk(url, { connections: 50, seconds, cpus: '0', host: 'app.bench' });
  const f = await fixedRate(url, { host: 'app.bench', rps: 1000, seconds });
  return {
    warmRps: w.rps,
    warmP99ms: w.p99ms,
    warmErrors: w.errors,
    fixedP50ms: f.p50ms,
    fixedP99ms: f.p99ms,
    fixedErrors: f.errors,
  };
}

function hostsWrk(port: number, hosts: number): number {
  const env = { ...process.env, HOSTS: String(hosts) };
  const prev = process.env['HOSTS'];
  process.env['HOSTS'] = env.HOSTS;
  try {
    wrk(`http://127.0.0.1:${port}/`, {
      connections: 50,
      seconds: 2,
      cpus: '0',
      script: join(here, 'interceptor-hosts.lua'),
    });
    return wrk(`http://127.0.0.1:${port}/`, {
      connections: 50,
      seconds,
      cpus: '0',
      script: join(here, 'interceptor-hosts.lua'),
    }).rps;
  } finally {
    if (prev === undefined) delete process.env['HOSTS'];
    else process.env['HOSTS'] = prev;
  }
}

async function measureUpstream(): Promise<Measured> {
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
  try {
    await waitFor(
      async () =>
        (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => undefined))?.status === 200,
      60_000,
      'upstream readyz',
    );
    // exec keeps the pid: the child's pid is the interceptor binary's.
    const pid = up.child.pid ?? 0;
    const warm = await warmPhases(proxyPort);
    const hold = await holdPhase('upstream', proxyPort, adminPort, pid, async () => {
      kubectl(
        ['apply', '-f', '-'],
        objects(backendPort, { coldReady: true, extraRoutes: 1, address: clusterAddress }),
      );
    });
    return { ...warm, ...hold };
  } finally {
    await up.stop();
  }
}

// ---------------------------------------------------------------------------------------------
const dir = await mkdtemp(join(tmpdir(), 'bench-interceptor-'));
const backend = await startPinned('backend', '0', nodeBin, [join(here, 'interceptor-backend.ts')], {
  ready: /^(\d+)$/,
});
const backendPort = Number(backend.match[1]);
const results: Record<string, Measured> = {};
const notes: string[] = [];
let directRps = NaN;
let directP99 = NaN;

try {
  const d = wrk(`http://127.0.0.1:${backendPort}/`, { connections: 50, seconds, cpus: '0' });
  directRps = d.rps;
  directP99 = d.p99ms;

  // ---- this interceptor (file mode) ----
  const file = join(dir, 'objects.yaml');
  await writeFile(file, objects(backendPort, { coldReady: false, extraRoutes: 1 }));
  const ours = await startPinned(
    'interceptor',
    '1',
    nodeBin,
    [join(repo, 'bin/keda-http.ts'), 'interceptor', '--from-file', file],
    {
      env: {
        KEDA_HTTP_PROXY_PORT: String(await freePort()),
        KEDA_HTTP_ADMIN_PORT: String(await freePort()),
        OTEL_PROM_EXPORTER_PORT: String(await freePort()),
      },
      ready: /"adminPort":(\d+).*"proxyPort":(\d+)|"proxyPort":(\d+).*"adminPort":(\d+)/,
    },
  );
  try {
    const line = ours.match[0];
    const proxyPort = Number(/"proxyPort":(\d+)/.exec(line)?.[1]);
    const adminPort = Number(/"adminPort":(\d+)/.exec(line)?.[1]);
    const pid = ours.child.pid ?? 0;
    const warm = await warmPhases(proxyPort);
    const routes1Rps = hostsWrk(proxyPort, 1);
    const hold = await holdPhase('ours', proxyPort, adminPort, pid, () =>
      writeFile(file, objects(backendPort, { coldReady: true, extraRoutes: 1 })),
    );
    await writeFile(file, objects(backendPort, { coldReady: true, extraRoutes: manyRoutes }));
    await waitFor(
      async () =>
        Object.keys((await (await fetch(`http://127.0.0.1:${adminPort}/queue`)).json()) as object).length >=
        manyRoutes + 1,
      60_000,
      `${manyRoutes} routes loaded`,
    );
    const routesManyRps = hostsWrk(proxyPort, manyRoutes);
    results['keda-http (this)'] = { ...warm, ...hold, routes1Rps, routesManyRps };
  } finally {
    await ours.stop();
  }

  // ---- upstream Go interceptor (cluster mode) ----
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
      results[`upstream ${upstreamVersion} (Go)`] = await measureUpstream();
    } catch (err) {
      notes.push(
        `Upstream interceptor run failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
      );
    } finally {
      try {
        kubectl(['delete', 'namespace', ns, '--wait=false']);
      } catch {
        /* best effort */
      }
    }
  }
} finally {
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
  round(m.warmP99ms, 2),
  round(m.fixedP50ms, 2),
  round(m.fixedP99ms, 2),
  round(m.rssHeldMiB - m.rssBeforeHoldMiB, 1),
  `${m.held200}/${held}`,
  round(m.answeredWithinMs),
  m.routesManyRps === undefined
    ? '-'
    : `${round(m.routesManyRps)} (${round((m.routesManyRps / (m.routes1Rps ?? NaN)) * 100, 1)}% of 1 route)`,
]);
rows.unshift(['backend directly', round(directRps), '1x', round(directP99, 2), '-', '-', '-', '-', '-', '-']);
const verdicts: string[] = [];
if (ours && upstream) {
  const r = ours.warmRps / upstream.warmRps;
  verdicts.push(
    `warm throughput >= upstream: ${r >= 1 ? 'met' : `MISSED by ${round((1 - r) * 100, 1)}%`} (${round(r, 2)}x upstream)`,
  );
  verdicts.push(
    `p99 at 1,000 req/s <= upstream: ${ours.fixedP99ms <= upstream.fixedP99ms ? 'met' : 'MISSED'} (${round(ours.fixedP99ms, 2)} ms vs ${round(upstream.fixedP99ms, 2)} ms)`,
  );
  const og = ours.rssHeldMiB - ours.rssBeforeHoldMiB;
  const ug = upstream.rssHeldMiB - upstream.rssBeforeHoldMiB;
  verdicts.push(
    `memory growth with ${held} held <= upstream: ${og <= ug ? 'met' : `MISSED by ${round(og - ug, 1)} MiB`} (${round(og, 1)} MiB vs ${round(ug, 1)} MiB)`,
  );
}
if (ours) {
  verdicts.push(
    `all ${held} held answered 200 within 1 s of readiness: ${ours.held200 === held && ours.answeredWithinMs <= 1000 ? 'met' : 'MISSED'} (${ours.held200} x 200, last after ${round(ours.answeredWithinMs)} ms)`,
  );
  const ratio = (ours.routesManyRps ?? NaN) / (ours.routes1Rps ?? NaN);
  verdicts.push(
    `${manyRoutes} routes within 5% of 1 route: ${ratio >= 0.95 ? 'met' : `MISSED by ${round((0.95 - ratio) * 100, 1)} points`} (${round(ratio * 100, 1)}%)`,
  );
}
await report({
  name: 'interceptor',
  title: 'Interceptor: this implementation vs upstream Go interceptor (proxies pinned to 1 core)',
  columns: [
    'proxy',
    'warm req/s (wrk, 50 conn)',
    'vs direct',
    'warm p99 ms',
    'p50 ms @1k/s',
    'p99 ms @1k/s',
    `RSS growth MiB (${held} held)`,
    'held answered 200',
    'last answer after ready (ms)',
    `${manyRoutes} routes req/s`,
  ],
  rows,
  verdicts,
  versions: {
    upstream: upstreamVersion,
    wrk: (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '').trim(),
  },
  notes: [
    'Backend (Node, trivial "ok"), wrk, the fixed-rate client and the hold client run on core 0, the proxy under test on core 1; the local control plane shares the machine. Ours runs from a file (--from-file), upstream from the API server; readiness flips are a file rewrite (ours) and an EndpointSlice apply (upstream), so "after ready" includes each one\'s watch latency.',
    ...notes,
  ],
  data: { directRps, directP99, held, manyRoutes, seconds, results },
});
