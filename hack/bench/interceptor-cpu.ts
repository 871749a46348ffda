// CPU time per proxied request (the proxy process's user+sys time from /proc/<pid>/stat over one wrk
// run, divided by the requests wrk completed). On a shared machine wall-clock req/s swings with the
// other tenants, but what one request costs the proxy hardly does, so this is the number to work on.
//   node hack/bench/interceptor-cpu.ts [other-checkout ...]
// Measures this checkout's interceptor, the same interceptor from each other checkout given (e.g. an
// older commit extracted with git archive, node_modules symlinked), and the bare undici proxy of
// hack/bench/interceptor-engine-proxy.ts; interleaved rounds, medians. Proxies on core 1, backend and
// wrk on core 0. BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (50).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuSeconds, median, nodeBin, round, startPinned, wrk, oneRouteFile } from './interceptor-lib.ts';
import { ensureSystemPackages } from '../system-packages.ts';

// Before anything long: wrk and taskset (and the rest) are there, or installed, or it stops here.
ensureSystemPackages('bench');

const here = new URL('.', import.meta.url).pathname;
const repo = new URL('../../', import.meta.url).pathname;
const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 50);
const trees = [repo, ...process.argv.slice(2).map((p) => resolve(p))];

const backend = await startPinned('backend', '0', nodeBin, [join(here, 'interceptor-backend.ts')], {
  ready: /^(\d+)$/,
});
const backendPort = Number(backend.match[1]);
const dir = await mkdtemp(join(tmpdir(), 'bench-cpu-'));
const file = join(dir, 'routes.yaml');
await writeFile(file, oneRouteFile(backendPort));

interface Proxy {
  name: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
  us: number[];
  rps: number[];
}
const proxies: Proxy[] = [];
try {
  for (const tree of trees) {
    const p = await startPinned(
      tree,
      '1',
      nodeBin,
      [join(tree, 'bin/keda-http.ts'), 'interceptor', '--from-file', file],
      {
        env: { KEDA_HTTP_PROXY_PORT: '0', KEDA_HTTP_ADMIN_PORT: '0', OTEL_PROM_EXPORTER_PORT: '0' },
        ready: /"proxyPort":(\d+)/,
      },
    );
    proxies.push({
      name: tree === repo ? 'keda-http (this checkout)' : `keda-http (${tree})`,
      port: Number(p.match[1]),
      pid: p.child.pid ?? 0,
      stop: p.stop,
      us: [],
      rps: [],
    });
  }
  const bare = await startPinned(
    'undici',
    '1',
    nodeBin,
    [join(here, 'interceptor-engine-proxy.ts'), 'undici-dispatch', String(backendPort)],
    { ready: /^port (\d+)$/ },
  );
  proxies.push({
    name: 'bare undici dispatch proxy',
    port: Number(bare.match[1]),
    pid: bare.child.pid ?? 0,
    stop: bare.stop,
    us: [],
    rps: [],
  });
  for (const p of proxies)
    wrk(`http://127.0.0.1:${p.port}/`, { connections, seconds: 2, cpus: '0', host: 'app.bench' }); // warm-up
  for (let i = 0; i < rounds; i++) {
    for (const p of proxies) {
      const before = cpuSeconds(p.pid);
      const w = wrk(`http://127.0.0.1:${p.port}/`, { connections, seconds, cpus: '0', host: 'app.bench' });
      const cpu = cpuSeconds(p.pid) - before;
      if (w.errors > 0) console.error(`${p.name}: ${w.errors} errors`);
      p.us.push((cpu / w.requests) * 1e6);
      p.rps.push(w.rps);
    }
  }
} finally {
  for (const p of proxies) await p.stop();
  await backend.stop();
  await rm(dir, { recursive: true, force: true });
}
const rows = proxies.map((p) => ({
  proxy: p.name,
  cpuUsPerRequest: round(median(p.us), 1),
  rounds: p.us.map((u) => round(u, 1)),
  rps: round(median(p.rps)),
}));
console.table(rows);
console.log(
  JSON.stringify({ bench: 'interceptor-cpu', load: loadavg()[0], seconds, rounds, connections, rows }),
);
