// For `npm run bench:scaler`: upstream's Go scaler (kedacore/http-add-on, the pinned
// UPSTREAM_ADDON_VERSION), built from its Go module and run against a local control plane, so its
// activation latency is measured on the same interceptors as ours. Upstream has no file mode: it
// reads the InterceptorRoute and the admin EndpointSlice through the Kubernetes API, and polls
// KEDA_HTTP_SCALER_TARGET_ADMIN_PORT on each address (so one interceptor, at this machine's address).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { LocalCluster, kubectlPath } from '../cluster/control-plane.ts';
import { installCrds } from '../cluster/crds.ts';
import { upstreamBinary } from '../upstream-addon.ts';

export interface UpstreamScaler {
  grpcPort: number;
  version: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => res(port));
    });
  });
}

/**
 * Starts a control plane of its own (in .cache/bench-scaler-cluster), the objects upstream's scaler
 * reads, and the scaler itself with its defaults (500 ms tick, 200 ms stream interval).
 */
export async function startUpstreamScaler(
  routes: readonly object[],
  interceptorAdminPort: number,
): Promise<UpstreamScaler> {
  const { path, version } = upstreamBinary('scaler');
  const cluster = new LocalCluster(resolve(import.meta.dirname, '../../.cache/bench-scaler-cluster'));
  try {
    return await start(cluster, path, version, routes, interceptorAdminPort);
  } catch (err) {
    await cluster.down({ purge: true });
    throw err;
  }
}

async function start(
  cluster: LocalCluster,
  path: string,
  version: string,
  routes: readonly object[],
  interceptorAdminPort: number,
): Promise<UpstreamScaler> {
  // The API server refuses loopback addresses in EndpointSlices; this machine's own interface
  // address still never leaves the machine (the kernel delivers it locally).
  const address = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address;
  if (address === undefined)
    throw new Error('no non-loopback IPv4 address on this machine for the EndpointSlice');
  const info = await cluster.up();
  installCrds(info.kubeconfigPath);
  const objects = [
    ...routes,
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'interceptor-admin-bench',
        namespace: 'default',
        labels: { 'kubernetes.io/service-name': 'interceptor-admin' },
      },
      addressType: 'IPv4',
      ports: [{ name: 'admin', port: interceptorAdminPort, protocol: 'TCP' }],
      endpoints: [{ addresses: [address], conditions: { ready: true } }],
    },
  ];
  try {
    execFileSync(
      kubectlPath(),
      ['--kubeconfig', info.kubeconfigPath, 'apply', '--server-side', '--force-conflicts', '-f', '-'],
      { input: objects.map((o) => stringify(o)).join('---\n'), stdio: ['pipe', 'pipe', 'pipe'] },
    );
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`kubectl apply of the scaler's objects failed: ${stderr ?? String(err)}`);
  }
  const grpcPort = await freePort();
  const child: ChildProcess = spawn(path, [], {
    env: {
      ...process.env,
      KUBECONFIG: info.kubeconfigPath,
      KEDA_HTTP_SCALER_PORT: String(grpcPort),
      KEDA_HTTP_SCALER_TARGET_ADMIN_NAMESPACE: 'default',
      KEDA_HTTP_SCALER_TARGET_ADMIN_SERVICE: 'interceptor-admin',
      KEDA_HTTP_SCALER_TARGET_ADMIN_DEPLOYMENT: 'interceptor',
      KEDA_HTTP_SCALER_TARGET_ADMIN_PORT: String(interceptorAdminPort),
      OTEL_PROM_EXPORTER_PORT: String(await freePort()),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    grpcPort,
    version,
    async stop() {
      child.kill('SIGKILL');
      await exited;
      await cluster.down({ purge: true });
    },
    toString: () => stderr,
  } as UpstreamScaler;
}
