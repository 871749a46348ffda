// ClusterStore: the ObjectStore over informers (list + watch through the API server), for the
// interceptor and the scaler running in a cluster. Same interface as FileStore, so the services
// have one code path; informers bring the runtime's watchdog, backoff and resync.
import { kinds } from '../api/kinds.ts';
import type { ResourceKind } from '../api/meta.ts';
import { loadKubeConfig } from '../shared/kubeconfig.ts';
import type { Logger } from '../shared/log.ts';
import {
  ChangeNotifier,
  type ObjectStore,
  type StoreKind,
  type StoredObject,
} from '../shared/store/store.ts';
import { KubeClient } from './client.ts';
import { Informer } from './informer.ts';

const resources: Record<StoreKind, ResourceKind> = {
  InterceptorRoute: kinds.interceptorRoute,
  HTTPScaledObject: kinds.httpScaledObject,
  Service: kinds.service,
  EndpointSlice: kinds.endpointSlice,
  ConfigMap: kinds.configMap,
};

export interface ClusterStoreOptions {
  log: Logger;
  /** The kinds this service reads (its RBAC allows exactly these). */
  kinds: readonly StoreKind[];
  /** Watch one namespace only (empty or unset = all). */
  namespace?: string;
  /** Informer resync period; upstream's KEDA_HTTP_SCALER_CONFIG_MAP_INFORMER_RSYNC_PERIOD. */
  resyncPeriodMs?: number;
  labelSelectors?: Partial<Record<StoreKind, string>>;
  /** Defaults to the usual places (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfigPath?: string;
}

export class ClusterStore implements ObjectStore {
  readonly synced: Promise<void>;
  readonly #client: KubeClient;
  readonly #informers = new Map<StoreKind, Informer<StoredObject>>();
  readonly #lists = new Map<StoreKind, readonly StoredObject[]>();
  readonly #changes = new ChangeNotifier();

  constructor(opts: ClusterStoreOptions) {
    this.#client = new KubeClient(loadKubeConfig(opts.kubeconfigPath));
    for (const kind of opts.kinds) {
      const informer = new Informer<StoredObject>(this.#client, resources[kind], {
        namespace: opts.namespace || undefined,
        labelSelector: opts.labelSelectors?.[kind],
        resyncPeriodMs: opts.resyncPeriodMs ?? 3_600_000,
        log: opts.log,
      });
      informer.on((event) => {
        if (event.type === 'resync') return;
        this.#lists.delete(kind);
        this.#changes.notify(kind);
      });
      this.#informers.set(kind, informer);
    }
    for (const informer of this.#informers.values()) informer.start();
    this.synced = Promise.all([...this.#informers.values()].map((i) => i.synced)).then(() => {
      for (const kind of this.#informers.keys()) this.#changes.notify(kind);
    });
  }

  list<T extends StoredObject = StoredObject>(kind: StoreKind, namespace?: string): readonly T[] {
    let all = this.#lists.get(kind);
    if (!all) {
      all = Object.freeze(this.#informers.get(kind)?.list() ?? []);
      this.#lists.set(kind, all);
    }
    const typed = all as readonly T[];
    return namespace === undefined ? typed : typed.filter((o) => o.metadata.namespace === namespace);
  }

  get<T extends StoredObject = StoredObject>(
    kind: StoreKind,
    namespace: string,
    name: string,
  ): T | undefined {
    return this.#informers.get(kind)?.get(namespace, name) as T | undefined;
  }

  onChange(listener: (kind: StoreKind) => void): () => void {
    return this.#changes.subscribe(listener);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
    await this.#client.close();
  }
}
