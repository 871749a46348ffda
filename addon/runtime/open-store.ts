// The choice both data-plane services offer: `--from-file <objects.yaml>` (FileStore) or the
// cluster's informers (ClusterStore, credentials from --kubeconfig or the usual places).
// The cluster store (and with it the Kubernetes client) is loaded only when it is used.
import type { Logger } from '../shared/log.ts';
import { FileStore } from '../shared/store/file-store.ts';
import type { ObjectStore } from '../shared/store/store.ts';
import type { ClusterStoreOptions } from './cluster-store.ts';

export async function openStore(
  flags: Readonly<Record<string, string | boolean>>,
  log: Logger,
  cluster: Omit<ClusterStoreOptions, 'log' | 'kubeconfigPath'>,
): Promise<ObjectStore> {
  const fromFile = flags['from-file'];
  if (typeof fromFile === 'string') return new FileStore(fromFile, log);
  const { ClusterStore } = await import('./cluster-store.ts');
  const kubeconfig = flags['kubeconfig'];
  return new ClusterStore({
    ...cluster,
    log,
    ...(typeof kubeconfig === 'string' ? { kubeconfigPath: kubeconfig } : {}),
  });
}
