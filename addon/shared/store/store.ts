// The object store every add-on service reads its Kubernetes objects from. Two implementations,
// one interface: FileStore (a multi-document YAML file, for `--from-file`) and a cluster store
// backed by informers. Services never know which one they have.

import type { KubeObject } from '../../api/meta.ts';

/** The kinds the interceptor and scaler read. */
export const storeKinds = [
  'InterceptorRoute',
  'HTTPScaledObject',
  'Service',
  'EndpointSlice',
  'ConfigMap',
] as const;
export type StoreKind = (typeof storeKinds)[number];

/** Any Kubernetes object, as the store holds it: plain JSON, the one shape from addon/api. */
export type StoredObject = KubeObject;
export type { ObjectMeta } from '../../api/meta.ts';

/** `namespace/name`, the key the add-on uses everywhere (routes, queue counts, metrics). */
export function objectKey(obj: { metadata: { namespace?: string; name: string } }): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

export interface ObjectStore {
  /** Resolves once the first full view is loaded (file read, or every informer listed). */
  readonly synced: Promise<void>;
  /** Every object of a kind. The returned array must not be mutated. */
  list<T extends StoredObject = StoredObject>(kind: StoreKind, namespace?: string): readonly T[];
  get<T extends StoredObject = StoredObject>(kind: StoreKind, namespace: string, name: string): T | undefined;
  /**
   * Called after the objects of a kind changed. Notifications may be coalesced: one call can stand
   * for several changes, and listeners re-read what they need. Returns an unsubscribe function.
   */
  onChange(listener: (kind: StoreKind) => void): () => void;
  stop(): Promise<void>;
}

/** An in-memory index shared by both implementations: kind -> "ns/name" -> object. */
export class ObjectIndex {
  #byKind = new Map<StoreKind, Map<string, StoredObject>>();
  #lists = new Map<StoreKind, readonly StoredObject[]>();

  replaceKind(kind: StoreKind, objects: Iterable<StoredObject>): void {
    const m = new Map<string, StoredObject>();
    for (const o of objects) m.set(objectKey(o), o);
    this.#byKind.set(kind, m);
    this.#lists.delete(kind);
  }

  upsert(kind: StoreKind, obj: StoredObject): void {
    let m = this.#byKind.get(kind);
    if (!m) this.#byKind.set(kind, (m = new Map()));
    m.set(objectKey(obj), obj);
    this.#lists.delete(kind);
  }

  remove(kind: StoreKind, obj: StoredObject): void {
    this.#byKind.get(kind)?.delete(objectKey(obj));
    this.#lists.delete(kind);
  }

  list<T extends StoredObject>(kind: StoreKind, namespace?: string): readonly T[] {
    let all = this.#lists.get(kind);
    if (!all) {
      all = Object.freeze([...(this.#byKind.get(kind)?.values() ?? [])]);
      this.#lists.set(kind, all);
    }
    const typed = all as readonly T[];
    return namespace === undefined ? typed : typed.filter((o) => o.metadata.namespace === namespace);
  }

  get<T extends StoredObject>(kind: StoreKind, namespace: string, name: string): T | undefined {
    return this.#byKind.get(kind)?.get(`${namespace}/${name}`) as T | undefined;
  }
}

/** Fan-out of change notifications, for both implementations. */
export class ChangeNotifier {
  #listeners = new Set<(kind: StoreKind) => void>();

  subscribe(listener: (kind: StoreKind) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  notify(kind: StoreKind): void {
    for (const l of this.#listeners) l(kind);
  }
}
