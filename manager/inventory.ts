// What the manager has applied for one Keda object, kept in a ConfigMap beside that object so it
// survives restarts. Pruning deletes exactly what is in the inventory and no longer rendered, so the
// manager never deletes anything it did not create (a namespace move leaves the user's objects alone).
import type { KubeObject } from '../addon/api/index.ts';
import type { KubeClient } from '../addon/runtime/index.ts';
import { kinds } from './kinds.ts';
import { managedByLabel, managedByValue } from './render/values.ts';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export const refOf = (o: KubeObject | ObjectRef): ObjectRef => {
  const r: ObjectRef = {
    apiVersion: o.apiVersion,
    kind: o.kind,
    name: 'metadata' in o ? o.metadata.name : o.name,
  };
  const ns = 'metadata' in o ? o.metadata.namespace : o.namespace;
  if (ns) r.namespace = ns;
  return r;
};

export const refKey = (r: ObjectRef): string => `${r.apiVersion}|${r.kind}|${r.namespace ?? ''}|${r.name}`;
export const describeRef = (r: ObjectRef): string =>
  `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;

/** Refs in `before` that are not in `after`. */
export function missingFrom(before: readonly ObjectRef[], after: readonly ObjectRef[]): ObjectRef[] {
  const keep = new Set(after.map(refKey));
  return before.filter((r) => !keep.has(refKey(r)));
}

/** `a` followed by whatever of `b` is not in it. */
export function union(a: readonly ObjectRef[], b: readonly ObjectRef[]): ObjectRef[] {
  const seen = new Set(a.map(refKey));
  return [...a, ...b.filter((r) => !seen.has(refKey(r)))];
}

export interface InventoryOwner {
  namespace: string;
  name: string;
  uid?: string;
}

export class Inventory {
  readonly #client: KubeClient;
  readonly #owner: InventoryOwner;
  readonly #fieldManager: string;
  readonly name: string;

  constructor(client: KubeClient, owner: InventoryOwner, fieldManager: string) {
    this.#client = client;
    this.#owner = owner;
    this.#fieldManager = fieldManager;
    this.name = `keda-http-addon-inventory-${owner.name}`.slice(0, 253);
  }

  async read(): Promise<ObjectRef[]> {
    return (await this.readState()).refs;
  }

  /**
   * The refs and the hash of the rendering they were applied from (absent before the first
   * complete apply): the manager compares it with a new rendering to tell its own changes from
   * someone else's edits of the live objects.
   */
  async readState(): Promise<{ refs: ObjectRef[]; renderedHash?: string }> {
    const cm = await this.#client.get<KubeObject & { data?: Record<string, string> }>(
      kinds.configMap,
      this.#owner.namespace,
      this.name,
    );
    const raw = cm?.data?.objects;
    const renderedHash = cm?.data?.renderedHash;
    if (!raw) return { refs: [] };
    try {
      const parsed = JSON.parse(raw) as unknown;
      if (!Array.isArray(parsed)) throw new Error('not a list');
      const refs = parsed.filter(
        (r): r is ObjectRef =>
          typeof r === 'object' && r !== null && typeof (r as ObjectRef).name === 'string',
      );
      return renderedHash ? { refs, renderedHash } : { refs };
    } catch (err) {
      throw new Error(
        `inventory ConfigMap ${this.#owner.namespace}/${this.name} is corrupt (${String(err)}); ` +
          'fix or delete its data.objects so the manager can rebuild it',
        { cause: err },
      );
    }
  }

  /** Server-side apply: no write on the server when the list and hash are unchanged. */
  async write(refs: readonly ObjectRef[], renderedHash?: string): Promise<void> {
    const body: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name: this.name,
        namespace: this.#owner.namespace,
        labels: { [managedByLabel]: managedByValue, 'app.kubernetes.io/part-of': 'keda-http-addon' },
        ...(this.#owner.uid
          ? {
              ownerReferences: [
                {
                  apiVersion: 'operator.kyma-project.io/v1alpha1',
                  kind: 'Keda',
                  name: this.#owner.name,
                  uid: this.#owner.uid,
                },
              ],
            }
          : {}),
      },
      data: { objects: JSON.stringify(refs), ...(renderedHash ? { renderedHash } : {}) },
    };
    await this.#client.apply(kinds.configMap, body, { fieldManager: this.#fieldManager });
  }

  async remove(): Promise<void> {
    await this.#client.delete(kinds.configMap, this.#owner.namespace, this.name);
  }
}
