// Small helpers about object metadata: owner references and finalizers.
import type { KubeObject, OwnerReference, ResourceKind } from '../api/meta.ts';
import type { KubeClient } from './client.ts';

/** A controller owner reference, as controllerutil.SetControllerReference writes it. */
export function controllerReference(owner: KubeObject): OwnerReference {
  if (!owner.metadata.uid)
    throw new Error(`cannot own objects from ${owner.kind} ${owner.metadata.name}: it has no uid`);
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The controller reference of `obj`, if any. */
export function controllerOf(obj: KubeObject): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

export function isOwnedBy(obj: KubeObject, owner: { uid?: string }): boolean {
  return owner.uid !== undefined && (obj.metadata.ownerReferences ?? []).some((r) => r.uid === owner.uid);
}

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return (obj.metadata.finalizers ?? []).includes(finalizer);
}

export function isDeleting(obj: KubeObject): boolean {
  return obj.metadata.deletionTimestamp !== undefined && obj.metadata.deletionTimestamp !== null;
}

/**
 * Adds or removes a finalizer with a merge patch that carries the resourceVersion we read, so a
 * concurrent change makes it fail with 409 (and the reconcile retries) instead of losing a finalizer
 * someone else added. Returns the updated object, or the input when nothing had to change.
 */
export async function setFinalizer<T extends KubeObject>(
  client: KubeClient,
  kind: ResourceKind,
  obj: T,
  finalizer: string,
  present: boolean,
): Promise<T> {
  const current = obj.metadata.finalizers ?? [];
  if (current.includes(finalizer) === present) return obj;
  const finalizers = present ? [...current, finalizer] : current.filter((f) => f !== finalizer);
  return client.patch<T>(
    kind,
    obj.metadata.namespace,
    obj.metadata.name,
    { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } },
    'merge',
  );
}
