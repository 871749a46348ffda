// Status conditions (metav1.Condition) the way Kubernetes' meta.SetStatusCondition handles them:
// lastTransitionTime changes only when the status changes, so it tells when things last flipped.
import type { Condition, ConditionStatus } from '../api/meta.ts';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/** Returns a new list with the condition set; the input is not modified. */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
  now: Date = new Date(),
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === next.type);
  const previous = i === -1 ? undefined : list[i];
  const changed = previous === undefined || previous.status !== next.status;
  const condition: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message: next.message,
    // The API server stores seconds; keep the same precision so comparisons stay stable.
    lastTransitionTime:
      changed || !previous.lastTransitionTime
        ? now.toISOString().replace(/\.\d{3}Z$/, 'Z')
        : previous.lastTransitionTime,
    ...(next.observedGeneration !== undefined ? { observedGeneration: next.observedGeneration } : {}),
  };
  if (i === -1) list.push(condition);
  else list[i] = condition;
  return list;
}

/** True when setting `next` would change nothing (so no status write is needed). */
export function conditionUnchanged(
  conditions: readonly Condition[] | undefined,
  next: ConditionInput,
): boolean {
  const c = findCondition(conditions, next.type);
  return (
    c !== undefined &&
    c.status === next.status &&
    c.reason === next.reason &&
    c.message === next.message &&
    c.observedGeneration === next.observedGeneration
  );
}
