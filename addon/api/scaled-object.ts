// The parts of KEDA's ScaledObject (keda.sh/v1alpha1) this project writes or reads. The CRD itself
// is KEDA's own, installed from its Go module; we never ship a copy.
import { kinds } from './kinds.ts';
import type { Condition, ObjectMeta } from './meta.ts';

export const scaledObjectKind = kinds.scaledObject;
export const scaledObjectApiVersion = `${scaledObjectKind.group}/${scaledObjectKind.version}` as const;

export type ScaledObjectTrigger = {
  type: string;
  name?: string;
  metadata: Record<string, string>;
  metricType?: string;
  useCachedMetrics?: boolean;
  authenticationRef?: { name: string; kind?: string };
};

export type ScaledObjectSpec = {
  scaleTargetRef: { apiVersion?: string; kind?: string; name: string; envSourceContainerName?: string };
  pollingInterval?: number;
  initialCooldownPeriod?: number;
  cooldownPeriod?: number;
  idleReplicaCount?: number;
  minReplicaCount?: number;
  maxReplicaCount?: number;
  advanced?: {
    restoreToOriginalReplicaCount?: boolean;
    horizontalPodAutoscalerConfig?: Record<string, unknown>;
    scalingModifiers?: Record<string, unknown>;
  };
  triggers: ScaledObjectTrigger[];
  fallback?: Record<string, unknown>;
};

export type ScaledObject = {
  apiVersion: typeof scaledObjectApiVersion;
  kind: 'ScaledObject';
  metadata: ObjectMeta;
  spec: ScaledObjectSpec;
  status?: { conditions?: Condition[]; [field: string]: unknown };
};

/** The trigger type the add-on's scaler serves (KEDA pushes metric streams through it). */
export const externalPushTrigger = 'external-push';
