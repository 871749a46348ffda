// `npm run bench:interceptor-engines`: which data-plane engine for the interceptor. Each candidate is a
// minimal proxy pinned to core 1; the backend and wrk share core 0; wrk, 50 connections, keep-alive.
// The full interceptor (routing, counting, metrics) is measured the same way for reference.
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { report } from './report.ts';
import { nodeBin, round, startPinned, wrk, type WrkResult, oneRouteFile } from './interceptor-lib.ts';
import { ensureSystemPackages } from '../system-packages.ts';

// Before anything long: wrk and taskset (and the rest) are there, or installed, or it stops here.
ensureSystemPackages('bench');

const seconds = Number(process.env['BENCH_SECONDS'] ?? 8);
const here = new URL('.', import.meta.url).pathname;
const repo = new URL('../../', import.meta.url).pathname;

const backend = await startPinned('backend', '0', nodeBin, [join(here, 'interceptor-backend.ts')], {
  ready: /^(\d+)$/,
});
const backendPort = Number(backend.match[1]);
const results: { name: string; r: WrkResult }[] = [];
const dir = await mkdtemp(join(tmpdir(), 'bench-engines-'));
try {
  results.push({
    name: 'backend directly',
    r: wrk(`http://127.0.0.1:${backendPort}/`, { connections: 50, seconds, cpus: '0' }),
  });
  for (const engine of ['node-http', 'undici-stream', 'undici-dispatch']) {
    const p = await startPinned(
      engine,
      '1',
      nodeBin,
      [join(here, 'interceptor-engine-proxy.ts'), engine, String(backendPort)],
      { ready: /^port (\d+)$/ },
    );
    try {
      wrk(`http://127.0.0.1:${p.match[1]}/`, { connections: 50, seconds: 2, cpus: '0' }); // warm-up
      results.push({
        name: `proxy: ${engine}`,
        r: wrk(`http://127.0.0.1:${p.match[1]}/`, { connections: 50, seconds, cpus: '0' }),
      });
    } finally {
      await p.stop();
    }
  }
  const file = join(dir, 'routes.yaml');
  await writeFile(file, oneRouteFile(backendPort));
  const ic = await startPinned(
    'interceptor',
    '1',
    nodeBin,
    [join(repo, 'bin/keda-http.ts'), 'interceptor', '--from-file', file],
    {
      env: { KEDA_HTTP_PROXY_PORT: '0', KEDA_HTTP_ADMIN_PORT: '0', OTEL_PROM_EXPORTER_PORT: '0' },
      ready: /"proxyPort":(\d+)/,
    },
  );
  try {
    const url = `http://127.0.0.1:${ic.match[1]}/`;
    wrk(url, { connections: 50, seconds: 2, cpus: '0', host: 'app.bench' });
    results.push({
      name: 'keda-http interceptor (undici-dispatch + routing/counting/metrics)',
      r: wrk(url, { connections: 50, seconds, cpus: '0', host: 'app.bench' }),
    });
  } finally {
    await ic.stop();
  }
} finally {
  await backend.stop();
  await rm(dir, { recursive: true, force: true });
}

const direct = results[0]?.r.rps ?? NaN;
const best = results.slice(1, 4).reduce((a, b) => (b.r.rps > a.r.rps ? b : a));
await report({
  name: 'interceptor-engines',
  title: 'Interceptor data-plane engine comparison (wrk, 50 connections, proxy pinned to 1 core)',
  columns: ['engine', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'vs direct'],
  rows: results.map(({ name, r }) => [
    name,
    round(r.rps),
    round(r.p50ms, 2),
    round(r.p99ms, 2),
    r.errors,
    `${round(r.rps / direct, 2)}x`,
  ]),
  verdicts: [`fastest candidate engine: ${best.name} (${round(best.r.rps)} req/s)`],
  notes: [
    'http-proxy 1.18.1 is not a dependency of this project and was not re-measured; the issue reports it at about 17k req/s on a 2-core machine (keep-alive agent), below plain node:http there. It is unmaintained and leaks sockets on WebSockets (docs/decisions/interceptor-engine.md).',
  ],
  data: { seconds, results: results.map(({ name, r }) => ({ name, ...r })) },
});
