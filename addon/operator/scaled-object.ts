// The KEDA ScaledObject the operator keeps for each HTTPScaledObject, built exactly as upstream
// builds it (pkg/k8s/scaledobject.go): same name, labels and annotations copied, a controller
// owner reference, one external-push trigger pointing at the add-on's scaler.
import type { HTTPScaledObject } from '../api/http-scaled-object.ts';
import type { OwnerReference } from '../api/meta.ts';
import { externalPushTrigger, type ScaledObject, type ScaledObjectSpec } from '../api/scaled-object.ts';
import { controllerReference } from '../runtime/objects.ts';

export function desiredScaledObject(httpso: HTTPScaledObject, scalerAddress: string): ScaledObject {
  const s = httpso.spec;
  const ref = s.scaleTargetRef;
  const spec: ScaledObjectSpec = {
    // Empty apiVersion/kind are left out so KEDA applies its defaults (apps/v1 Deployment).
    scaleTargetRef: {
      ...(ref.apiVersion ? { apiVersion: ref.apiVersion } : {}),
      ...(ref.kind ? { kind: ref.kind } : {}),
      name: ref.name ?? '',
    },
    pollingInterval: 15,
    ...(s.scaledownPeriod !== undefined ? { cooldownPeriod: s.scaledownPeriod } : {}),
    ...(s.replicas?.min !== undefined ? { minReplicaCount: s.replicas.min } : {}),
    ...(s.replicas?.max !== undefined ? { maxReplicaCount: s.replicas.max } : {}),
    ...(s.initialCooldownPeriod !== undefined ? { initialCooldownPeriod: s.initialCooldownPeriod } : {}),
    advanced: { restoreToOriginalReplicaCount: true },
    triggers: [
      {
        type: externalPushTrigger,
        metadata: { scalerAddress, httpScaledObject: httpso.metadata.name },
      },
    ],
  };
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: {
      name: httpso.metadata.name,
      ...(httpso.metadata.namespace ? { namespace: httpso.metadata.namespace } : {}),
      ...(httpso.metadata.labels ? { labels: { ...httpso.metadata.labels } } : {}),
      ...(httpso.metadata.annotations ? { annotations: { ...httpso.metadata.annotations } } : {}),
      ownerReferences: [controllerReference(httpso)],
    },
    spec,
  };
}

/** "apps/v1/Deployment/app", as upstream reports the workload. */
export function targetWorkload(httpso: HTTPScaledObject): string {
  const r = httpso.spec.scaleTargetRef;
  return `${r.apiVersion ?? ''}/${r.kind ?? ''}/${r.name ?? ''}`;
}

/** "svc:8080"; upstream writes port 0 when a port name is used. */
export function targetService(httpso: HTTPScaledObject): string {
  const r = httpso.spec.scaleTargetRef;
  return `${r.service}:${r.port ?? 0}`;
}

/** Upstream's test for "this ScaledObject belongs to that HTTPScaledObject": kind and name. */
export function ownedByHTTPScaledObject(ref: OwnerReference, name: string): boolean {
  return ref.kind.toLowerCase() === 'httpscaledobject' && ref.name === name;
}

/**
 * True when every field of `want` is present in `have` with the same value (objects compared
 * recursively, arrays exactly). The API server and KEDA add defaults we did not write; those must
 * not count as drift, or we would patch on every pass.
 */
export function isSubset(want: unknown, have: unknown): boolean {
  if (Array.isArray(want)) {
    return Array.isArray(have) && want.length === have.length && want.every((w, i) => isSubset(w, have[i]));
  }
  if (want !== null && typeof want === 'object') {
    if (have === null || typeof have !== 'object' || Array.isArray(have)) return false;
    return Object.entries(want).every(([k, v]) => isSubset(v, (have as Record<string, unknown>)[k]));
  }
  return want === have;
}
