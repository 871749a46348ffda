// Test and benchmark helper: real `keda-http interceptor` and `keda-http scaler` processes in
// file mode, on loopback. Ports are chosen by the processes (port 0) and read from their
// "started" log lines, so parallel runs never collide.
import { spawn, type ChildProcess } from 'node:child_process';
import { rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const cli = fileURLToPath(new URL('../../../bin/keda-http.ts', import.meta.url));

export interface RunningProcess {
  child: ChildProcess;
  /** Every JSON log line so far. */
  logs: Record<string, unknown>[];
  /** Resolves with the first log line (past or future) the predicate accepts. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM and wait for a clean exit; resolves with the exit code. */
  terminate(): Promise<number | null>;
}

function run(args: string[], env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, [cli, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffered = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ message: line });
      }
      for (const w of waiters) w();
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    waitForLog(match, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = logs.find(match);
          if (found) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `no matching log line within ${timeoutMs}ms from ${args.join(' ')}; exit ${child.exitCode}; stderr: ${stderr.slice(-2000)}; last logs: ${JSON.stringify(logs.slice(-5))}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
        void exited.then(() => setTimeout(check, 0));
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async terminate() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface InterceptorProcess extends RunningProcess {
  adminPort: number;
  proxyPort: number;
}

/** Starts `keda-http interceptor --from-file`; fixed ports restart a "pod" at the same address. */
export async function startInterceptorProcess(
  objectsFile: string,
  opts: { adminPort?: number; proxyPort?: number; env?: Record<string, string> } = {},
): Promise<InterceptorProcess> {
  const p = run(['interceptor', '--from-file', objectsFile], {
    KEDA_HTTP_PROXY_PORT: String(opts.proxyPort ?? 0),
    KEDA_HTTP_ADMIN_PORT: String(opts.adminPort ?? 0),
    OTEL_PROM_EXPORTER_ENABLED: 'false',
    ...opts.env,
  });
  const started = await p.waitForLog((l) => l['message'] === 'interceptor started', 15_000);
  return Object.assign(p, {
    adminPort: Number(started['adminPort']),
    proxyPort: Number(started['proxyPort']),
  });
}

export interface ScalerProcess extends RunningProcess {
  grpcPort: number;
  metricsPort: number;
}

export const adminService = { namespace: 'keda', name: 'keda-add-ons-http-interceptor-admin' };

export async function startScalerProcess(
  objectsFile: string,
  env: Record<string, string> = {},
): Promise<ScalerProcess> {
  return startScalerCommand(['--from-file', objectsFile], env);
}

/** The scaler's env in these tests: the interceptors' admin Service, ports chosen by the OS, then `env`. */
export function scalerEnv(env: Record<string, string> = {}): Record<string, string> {
  return {
    KEDA_HTTP_SCALER_TARGET_ADMIN_NAMESPACE: adminService.namespace,
    KEDA_HTTP_SCALER_TARGET_ADMIN_SERVICE: adminService.name,
    KEDA_HTTP_SCALER_TARGET_ADMIN_DEPLOYMENT: 'keda-add-ons-http-interceptor',
    KEDA_HTTP_SCALER_TARGET_ADMIN_PORT: '9090',
    KEDA_HTTP_SCALER_PORT: '0',
    OTEL_PROM_EXPORTER_PORT: '0',
    ...env,
  };
}

/** `keda-http scaler <args>`, e.g. `--kubeconfig <path>` for cluster mode. */
export async function startScalerCommand(
  args: string[],
  env: Record<string, string> = {},
): Promise<ScalerProcess> {
  const p = run(['scaler', ...args], scalerEnv(env));
  const started = await p.waitForLog((l) => l['message'] === 'scaler started', 30_000);
  return Object.assign(p, {
    grpcPort: Number(started['grpcPort']),
    metricsPort: Number(started['metricsPort']),
  });
}

/** One EndpointSlice per interceptor admin port, on 127.0.0.1, as the scaler's objects file lists them. */
export function interceptorSlices(adminPorts: readonly number[]): object[] {
  return adminPorts.map((port, i) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `interceptor-admin-${i}`,
      namespace: adminService.namespace,
      labels: { 'kubernetes.io/service-name': adminService.name },
    },
    addressType: 'IPv4',
    ports: [{ name: 'admin', port, protocol: 'TCP' }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  }));
}

/** Writes a multi-document YAML file atomically (the FileStore re-reads it on rename). */
export async function writeObjects(path: string, objects: readonly object[]): Promise<void> {
  const text = objects.map((o) => stringify(o)).join('---\n');
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/**
 * An InterceptorRoute whose backend is never ready: a request to `held.test` is held (counted as
 * concurrency) until its client gives up or `readiness` passes.
 */
export function heldRoute(readiness: string): object {
  return {
    apiVersion: 'http.keda.sh/v1beta1',
    kind: 'InterceptorRoute',
    metadata: { name: 'held', namespace: 'default' },
    spec: {
      target: { service: 'app', port: 80 },
      rules: [{ hosts: ['held.test'] }],
      timeouts: { readiness },
      scalingMetric: { concurrency: { targetValue: 1 } },
    },
  };
}

/** The Service the test routes point at (no EndpointSlice: never ready). */
export const appService = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'app', namespace: 'default' },
  spec: { ports: [{ name: 'http', port: 80 }] },
};
