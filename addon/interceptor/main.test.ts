// The CLI as users run it: `keda-http interceptor --from-file`, env ports, SIGTERM drain and exit 0;
// bad configuration fails with every problem named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const cli = new URL('../../bin/keda-http.ts', import.meta.url).pathname;

test('--from-file: ports from env, readiness once routes are loaded, clean exit on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'interceptor-cli-'));
  const file = join(dir, 'routes.yaml');
  await writeFile(
    file,
    `apiVersion: http.keda.sh/v1beta1
kind: InterceptorRoute
metadata: {name: app, namespace: team}
spec:
  target: {service: app, port: 80}
  rules: [{hosts: [app.test]}]
  scalingMetric: {concurrency: {targetValue: 1}}
`,
  );
  const child = spawn(process.execPath, [cli, 'interceptor', '--from-file', file], {
    env: {
      ...process.env,
      KEDA_HTTP_PROXY_PORT: '0',
      KEDA_HTTP_ADMIN_PORT: '0',
      OTEL_PROM_EXPORTER_PORT: '0',
      KEDA_HTTP_SHUTDOWN_DELAY: '0s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const started = await new Promise<{ adminPort: number }>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const entry = JSON.parse(line) as { message: string; adminPort?: number };
        if (entry.message === 'interceptor started') resolve({ adminPort: entry.adminPort ?? 0 });
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
    });
    const ready = await fetch(`http://127.0.0.1:${started.adminPort}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(await ready.text(), 'OK');
    assert.equal(
      await (await fetch(`http://127.0.0.1:${started.adminPort}/queue`)).text(),
      '{"team/app":{"Concurrency":0,"RequestCount":0}}\n',
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('bad configuration: one error naming every problem, exit code 1', () => {
  const r = spawnSync(process.execPath, [cli, 'interceptor', '--from-file', '/nonexistent.yaml'], {
    env: {
      ...process.env,
      KEDA_HTTP_PROXY_PORT: '',
      KEDA_HTTP_ADMIN_PORT: 'x',
      KEDA_HTTP_CONNECT_TIMEOUT: 'fast',
    },
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /KEDA_HTTP_PROXY_PORT is required/);
  assert.match(r.stderr, /KEDA_HTTP_ADMIN_PORT="x"/);
  assert.match(r.stderr, /KEDA_HTTP_CONNECT_TIMEOUT="fast"/);
});
