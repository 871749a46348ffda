// Applies rendered objects with server-side apply under one field manager, and deletes objects by
// reference. Every object is attempted; failures are collected into messages a person can act on.
import type { KubeObject } from '../addon/api/index.ts';
import { ApiError, isConflict, type KubeClient } from '../addon/runtime/index.ts';
import { describeRef, refOf, type ObjectRef } from './inventory.ts';
import { kindOf } from './kinds.ts';

export const fieldManager = 'keda-http-manager';

function explain(ref: ObjectRef, err: unknown): string {
  // A 404 on apply means the kind itself is not served (a missing namespace says so in its message).
  if (err instanceof ApiError && err.code === 404 && !/namespaces? .*not found/.test(err.message)) {
    const hint = ref.apiVersion.includes('istio.io') ? ' (is Istio installed?)' : '';
    return `${describeRef(ref)}: the API server does not serve ${ref.apiVersion} ${ref.kind}${hint}`;
  }
  return `${describeRef(ref)}: ${err instanceof Error ? err.message : String(err)}`;
}

export interface ApplyOutcome {
  /** One message per object that could not be applied. */
  errors: string[];
  /** Objects that changed after they were read (their resourceVersion precondition failed). */
  changedMeanwhile: string[];
}

/**
 * Applies in order (CRDs first, as rendered). `readVersion` gives the resourceVersion an object had
 * when the manager compared it with its rendering: the apply then only succeeds if nobody changed
 * it since, so an edit made between the comparison and the apply is never reverted unreported.
 */
export async function applyAll(
  client: KubeClient,
  objects: readonly KubeObject[],
  readVersion: (o: KubeObject) => string | undefined = () => undefined,
): Promise<ApplyOutcome> {
  const outcome: ApplyOutcome = { errors: [], changedMeanwhile: [] };
  for (const obj of objects) {
    const resourceVersion = readVersion(obj);
    const body = resourceVersion ? { ...obj, metadata: { ...obj.metadata, resourceVersion } } : obj;
    try {
      await client.apply(kindOf(obj), body, { fieldManager, force: true });
    } catch (err) {
      if (resourceVersion && isConflict(err)) outcome.changedMeanwhile.push(describeRef(refOf(obj)));
      else outcome.errors.push(explain(refOf(obj), err));
    }
  }
  return outcome;
}

/** Deletes in reverse order (workloads before their RBAC, CRDs last). Already-gone objects are fine. */
export async function deleteAll(client: KubeClient, refs: readonly ObjectRef[]): Promise<string[]> {
  const errors: string[] = [];
  const ordered = [...refs]
    .reverse()
    .sort(
      (a, b) => Number(a.kind === 'CustomResourceDefinition') - Number(b.kind === 'CustomResourceDefinition'),
    );
  for (const ref of ordered) {
    try {
      await client.delete(kindOf(ref), ref.namespace, ref.name, { propagationPolicy: 'Background' });
    } catch (err) {
      // A kind that is no longer served (Istio removed) has nothing left to delete.
      if (err instanceof ApiError && err.code === 404) continue;
      errors.push(explain(ref, err));
    }
  }
  return errors;
}
