// The manager's part of the Keda object: its conditions AddonInstalled and AddonReferencesCurrent
// (server-side apply on the status subresource, so a Kyma keda-manager writing the same status is
// not disturbed), and the annotations and finalizer it owns (server-side apply on the object).
// Nothing is written when nothing changed, so a steady state makes no writes.
import type { Condition, Keda, KubeObject } from '../addon/api/index.ts';
import {
  conditionUnchanged,
  findCondition,
  setCondition,
  type EventRecorder,
  type KubeClient,
} from '../addon/runtime/index.ts';
import { fieldManager } from './applier.ts';
import { annotation } from './addon-config.ts';
import { kinds } from './kinds.ts';

export const addonConditionType = 'AddonInstalled';
/** Whether users' objects still point at the add-on's Services in a namespace it left. */
export const referencesConditionType = 'AddonReferencesCurrent';
const ownedConditionTypes = [addonConditionType, referencesConditionType];
export const addonFinalizer = 'keda-http.kyma-project.io/addon';

export const reasons = {
  installed: 'HTTPAddonInstalled',
  installing: 'HTTPAddonInstalling',
  installErr: 'HTTPAddonInstallErr',
  deleted: 'HTTPAddonDeleted',
  disabled: 'HTTPAddonDisabled',
  inUse: 'HTTPAddonInUse',
  invalidConfig: 'HTTPAddonInvalidConfig',
  notServed: 'HTTPAddonNotServed',
  managedElsewhere: 'HTTPAddonManagedElsewhere',
  referencesCurrent: 'HTTPAddonReferencesCurrent',
  staleReferences: 'HTTPAddonStaleReferences',
} as const;

export type AddonCondition = { status: 'True' | 'False' | 'Unknown'; reason: string; message: string };

const warningReasons = new Set<string>([
  reasons.installErr,
  reasons.inUse,
  reasons.invalidConfig,
  reasons.notServed,
  reasons.managedElsewhere,
  reasons.staleReferences,
]);

/** Sets AddonInstalled; emits an Event when its status or reason changes. Returns true if it wrote. */
export async function setAddonCondition(
  client: KubeClient,
  events: EventRecorder,
  keda: Keda,
  next: AddonCondition,
): Promise<boolean> {
  return setConditions(client, events, keda, { [addonConditionType]: next });
}

/**
 * Sets the manager's conditions: a type given a condition is set, `null` removes it, a type left
 * out keeps its current value. All of them go in one server-side apply, because a field manager's
 * apply that leaves out a list entry it owned removes that entry. An Event is emitted for each
 * condition whose status or reason changes. Returns true if it wrote.
 */
export async function setConditions(
  client: KubeClient,
  events: EventRecorder,
  keda: Keda,
  next: Partial<Record<string, AddonCondition | null>>,
): Promise<boolean> {
  const current = keda.status?.conditions;
  const changed = Object.entries(next).filter(([type, c]) =>
    c === null
      ? findCondition(current, type) !== undefined
      : c !== undefined &&
        !conditionUnchanged(current, { type, ...c, observedGeneration: keda.metadata.generation }),
  );
  if (changed.length === 0) return false;
  const conditions: Condition[] = [];
  for (const type of ownedConditionTypes) {
    const previous = findCondition(current, type);
    const want = next[type];
    if (want === null) continue;
    if (want === undefined) {
      if (previous) conditions.push(previous);
      continue;
    }
    const input = { type, ...want, observedGeneration: keda.metadata.generation };
    const [condition] = setCondition(previous ? [previous] : [], input) as [Condition];
    conditions.push(condition);
  }
  await client.apply(
    kinds.keda,
    {
      apiVersion: keda.apiVersion,
      kind: keda.kind,
      metadata: { name: keda.metadata.name, namespace: keda.metadata.namespace },
      status: { conditions },
    } as KubeObject,
    { fieldManager, force: true, subresource: 'status' },
  );
  for (const [type, c] of changed) {
    const previous = findCondition(current, type);
    if (!c || (previous?.status === c.status && previous.reason === c.reason)) continue;
    await events.record(keda, warningReasons.has(c.reason) ? 'Warning' : 'Normal', c.reason, c.message);
  }
  return true;
}

export interface OwnedMetadata {
  installedVersion?: string;
  installedNamespace?: string;
  finalizer: boolean;
}

export function ownedMetadataOf(keda: Keda): OwnedMetadata {
  const a = keda.metadata.annotations ?? {};
  const m: OwnedMetadata = { finalizer: (keda.metadata.finalizers ?? []).includes(addonFinalizer) };
  if (a[annotation.installedVersion]) m.installedVersion = a[annotation.installedVersion];
  if (a[annotation.installedNamespace]) m.installedNamespace = a[annotation.installedNamespace];
  return m;
}

/**
 * Makes the manager's annotations and finalizer on the Keda object exactly `want`. Server-side
 * apply removes what this field manager owned and no longer lists, and leaves the user's
 * annotations and other controllers' finalizers alone.
 */
export async function setOwnedMetadata(client: KubeClient, keda: Keda, want: OwnedMetadata): Promise<Keda> {
  const have = ownedMetadataOf(keda);
  if (
    have.finalizer === want.finalizer &&
    have.installedVersion === want.installedVersion &&
    have.installedNamespace === want.installedNamespace
  ) {
    return keda;
  }
  const annotations: Record<string, string> = {};
  if (want.installedVersion) annotations[annotation.installedVersion] = want.installedVersion;
  if (want.installedNamespace) annotations[annotation.installedNamespace] = want.installedNamespace;
  return client.apply<Keda>(
    kinds.keda,
    {
      apiVersion: keda.apiVersion,
      kind: keda.kind,
      metadata: {
        name: keda.metadata.name,
        namespace: keda.metadata.namespace,
        annotations,
        finalizers: want.finalizer ? [addonFinalizer] : [],
      },
    } as KubeObject,
    { fieldManager, force: true },
  );
}
