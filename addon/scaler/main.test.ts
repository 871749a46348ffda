// The CLI as users run it: `keda-http scaler --from-file` must exit non-zero, naming the port,
// when a port it needs is taken (not hang with half its parts running).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scalerEnv } from './testing/processes.ts';

const cli = fileURLToPath(new URL('../../bin/keda-http.ts', import.meta.url));

/** A port something already listens on, on every interface as the scaler binds by default. */
async function occupiedPort(): Promise<{ port: number; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

/** Runs the scaler until it exits (or 20 s pass); returns its exit code and everything it printed. */
async function runScaler(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'scaler-main-'));
  const objects = join(dir, 'objects.yaml');
  await writeFile(objects, '');
  try {
    const child = spawn(process.execPath, [cli, 'scaler', '--from-file', objects], {
      env: { ...process.env, ...scalerEnv(env) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    clearTimeout(timer);
    return { code, output };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the gRPC port in use: exit code 1 and a message naming the port', async () => {
  const taken = await occupiedPort();
  try {
    const { code, output } = await runScaler({ KEDA_HTTP_SCALER_PORT: String(taken.port) });
    assert.notEqual(code, null, `the scaler did not exit within 20s: ${output}`);
    assert.notEqual(code, 0);
    assert.match(
      output,
      new RegExp(`cannot listen for gRPC on 0\\.0\\.0\\.0:${taken.port} \\(KEDA_HTTP_SCALER_PORT\\)`),
    );
  } finally {
    taken.close();
  }
});

test('the metrics and health port in use: exit code 1 and a message naming the port', async () => {
  const taken = await occupiedPort();
  try {
    const { code, output } = await runScaler({ OTEL_PROM_EXPORTER_PORT: String(taken.port) });
    assert.notEqual(code, null, `the scaler did not exit within 20s: ${output}`);
    assert.notEqual(code, 0);
    assert.match(
      output,
      new RegExp(`cannot listen for /metrics, /livez and /readyz on 0\\.0\\.0\\.0:${taken.port}`),
    );
  } finally {
    taken.close();
  }
});
