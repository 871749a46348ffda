// The process kubelet's Node: registered with a Ready status and kept alive the way a kubelet does
// it, with a Lease in kube-node-lease renewed every 10 s (the node lifecycle controller reads its
// renewTime) and a status update every minute. Without them the controller marks the node
// unreachable and taints it, and pods get evicted after five minutes.
import { hostname } from 'node:os';
import type { KubeObject } from '../../addon/api/index.ts';
import { isNotFound, type KubeClient } from '../../addon/runtime/index.ts';
import type { Logger } from '../../addon/shared/log.ts';
import { errorFields } from '../../addon/shared/log.ts';
import { versions } from '../cluster/control-plane.ts';
import { leaseKind, nodeKind, nowTime } from './types.ts';

const leaseDurationSeconds = 40;
const leaseRenewMs = 10_000;
const statusUpdateMs = 60_000;

function microTime(): string {
  return new Date().toISOString().replace('Z', '000Z');
}

function nodeStatus(nodeIP: string, kubeletPort: number): Record<string, unknown> {
  const now = nowTime();
  const condition = (
    type: string,
    status: string,
    reason: string,
    message: string,
  ): Record<string, string> => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: now,
  });
  const capacity = { cpu: '8', memory: '32Gi', pods: '250', 'ephemeral-storage': '100Gi' };
  return {
    capacity,
    allocatable: capacity,
    // No Hostname address: kube-apiserver prefers it for pods/log and would look the name up in DNS.
    addresses: [{ type: 'InternalIP', address: nodeIP }],
    daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
    conditions: [
      condition(
        'MemoryPressure',
        'False',
        'KubeletHasSufficientMemory',
        'kubelet has sufficient memory available',
      ),
      condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      condition('Ready', 'True', 'KubeletReady', 'process kubelet is posting ready status'),
    ],
    nodeInfo: {
      kubeletVersion: versions().KUBERNETES_VERSION,
      kubeProxyVersion: '',
      containerRuntimeVersion: 'process://local',
      operatingSystem: 'linux',
      architecture: 'amd64',
      osImage: `local processes on ${hostname()}`,
      kernelVersion: '',
      machineID: '',
      systemUUID: '',
      bootID: '',
    },
  };
}

export interface NodeHeartbeat {
  stop(): void;
}

/** Creates (or takes over) the Node, sets it Ready, and keeps its Lease and status fresh. */
export async function registerNode(
  client: KubeClient,
  name: string,
  nodeIP: string,
  kubeletPort: number,
  log: Logger,
): Promise<NodeHeartbeat> {
  const existing = await client.get(nodeKind, '', name);
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node.kubernetes.io/instance-type': 'process-kubelet',
      },
    },
    spec: {},
  };
  const created: KubeObject = existing ?? (await client.create<KubeObject>(nodeKind, node));
  const writeStatus = (): Promise<unknown> =>
    client.patch(nodeKind, undefined, name, { status: nodeStatus(nodeIP, kubeletPort) }, 'merge', {
      subresource: 'status',
    });
  await writeStatus();

  const lease = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name,
      namespace: 'kube-node-lease',
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: created.metadata.uid ?? '' }],
    },
    spec: { holderIdentity: name, leaseDurationSeconds, renewTime: microTime() },
  };
  const renew = async (): Promise<void> => {
    try {
      await client.patch(leaseKind, 'kube-node-lease', name, { spec: { renewTime: microTime() } }, 'merge');
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await client.create(leaseKind, { ...lease, spec: { ...lease.spec, renewTime: microTime() } });
    }
  };
  await renew();
  const leaseTimer = setInterval(() => {
    renew().catch((err: unknown) => log.warn('could not renew the node lease', errorFields(err)));
  }, leaseRenewMs);
  const statusTimer = setInterval(() => {
    writeStatus().catch((err: unknown) => log.warn('could not update the node status', errorFields(err)));
  }, statusUpdateMs);
  log.info('node registered', { node: name, nodeIP });
  return {
    stop() {
      clearInterval(leaseTimer);
      clearInterval(statusTimer);
    },
  };
}
