// How pods reach the API server. kube-apiserver listens on this machine's 127.0.0.1, which a pod in
// its own network namespace cannot reach (there, 127.0.0.1 is the pod's own lo). So the kubelet
// forwards <node IP>:443 to it (TLS passes through untouched), and pods dial a name the API
// server's certificate holds: KUBERNETES_SERVICE_HOST=kubernetes.default.svc, which the pods' hosts
// file maps to the node's address. (Not the `kubernetes` Service's ClusterIP: each cluster has its
// own Service range, and its certificate names none of them.)
import net from 'node:net';
import { forwardConnection } from './tcp-forward.ts';

/** The names pods resolve to the node's address; all are in the API server's certificate. */
export const apiServerNames = [
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
];
const apiServerName = 'kubernetes.default.svc';
const port = 443;

export interface ApiServerAccess {
  /** The in-cluster config every container gets (KUBERNETES_SERVICE_HOST and friends). */
  env: Record<string, string>;
  /** The hosts-file line for apiServerNames. */
  hostsLine: string;
  close(): Promise<void>;
}

export async function startApiServerAccess(
  nodeIP: string,
  apiServer: { host: string; port: number },
): Promise<ApiServerAccess> {
  const connections = new Set<net.Socket>();
  const server = net.createServer((client) => {
    connections.add(client);
    client.on('close', () => connections.delete(client));
    forwardConnection(client, apiServer);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`cannot forward ${nodeIP}:${port} to the API server: ${err.message}`)),
    );
    server.listen(port, nodeIP, () => resolve());
  });
  return {
    env: {
      KUBERNETES_SERVICE_HOST: apiServerName,
      KUBERNETES_SERVICE_PORT: String(port),
      KUBERNETES_SERVICE_PORT_HTTPS: String(port),
      KUBERNETES_PORT: `tcp://${apiServerName}:${port}`,
    },
    hostsLine: `${nodeIP}\t${apiServerNames.join(' ')}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Watches stay open for minutes; the pods that hold them are gone by now.
        for (const s of connections) s.destroy();
      }),
  };
}
