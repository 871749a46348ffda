// Stands in for a kubelet where a test only needs Pods to be *reported* Ready (the manager's tests
// check what the manager does once its Deployments are Available, not the pods' processes): it
// writes the status a kubelet would (Running, Ready, a pod IP) for every Pod in the given
// namespaces. The end-to-end tests use the process kubelet in hack/kubelet instead, which runs them.
import { KubeClient } from '../../addon/runtime/index.ts';
import { kinds, type KubeObject } from '../../addon/api/index.ts';
import type { KubeConfig } from '@kubernetes/client-node';

const podKind = kinds.pod;
type Pod = KubeObject & {
  spec: { containers: { name: string; image: string }[] };
  status?: { conditions?: { type: string; status: string }[] };
};

export function reportPodsReady(
  kc: KubeConfig,
  namespaces: () => string[],
  intervalMs = 300,
): { stop(): Promise<void> } {
  const client = new KubeClient(kc);
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      for (const namespace of namespaces()) {
        const pods = await client.list<Pod>(podKind, { namespace }).catch(() => ({ items: [] as Pod[] }));
        for (const pod of pods.items) {
          if (pod.metadata.deletionTimestamp) continue;
          if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) continue;
          const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
          const status = {
            phase: 'Running',
            podIP: '127.0.0.1',
            podIPs: [{ ip: '127.0.0.1' }],
            startTime: now,
            conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({
              type,
              status: 'True',
              lastTransitionTime: now,
            })),
            containerStatuses: pod.spec.containers.map((c) => ({
              name: c.name,
              image: c.image,
              imageID: '',
              ready: true,
              started: true,
              restartCount: 0,
              state: { running: { startedAt: now } },
            })),
          };
          await client
            .patch(podKind, namespace, pod.metadata.name, { status }, 'merge', { subresource: 'status' })
            .catch(() => undefined);
        }
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
