// HTTPScaledObject http.keda.sh/v1alpha1 (deprecated upstream, still served): one object that both
// routes and scales; the operator turns it into a KEDA ScaledObject. Schema in
// crds/http.keda.sh_httpscaledobjects.yaml.
import { kinds } from './kinds.ts';
import type { Condition, ObjectMeta } from './meta.ts';

export const httpScaledObjectKind = kinds.httpScaledObject;
export const httpScaledObjectApiVersion =
  `${httpScaledObjectKind.group}/${httpScaledObjectKind.version}` as const;

export type ScaleTargetRef = {
  /** The workload (Deployment, StatefulSet, ...) KEDA scales. */
  name?: string;
  apiVersion?: string;
  kind?: string;
  /** The Service the interceptor forwards to. */
  service: string;
  port?: number;
  portName?: string;
};

export type ColdStartTimeoutFailoverRef = {
  service: string;
  port?: number;
  portName?: string;
  /** Default 30. */
  timeoutSeconds?: number;
};

export type ReplicaStruct = { min?: number; max?: number };

export type HTTPScalingMetric = {
  /** targetValue defaults to 100. */
  concurrency?: { targetValue?: number };
  /** targetValue 100, window "1m", granularity "1s" by default. */
  requestRate?: { targetValue?: number; window?: string; granularity?: string };
};

export type HTTPScaledObjectTimeouts = {
  conditionWait?: string;
  responseHeader?: string;
};

export type HTTPScaledObjectSpec = {
  hosts?: string[];
  pathPrefixes?: string[];
  headers?: { name: string; value?: string }[];
  scaleTargetRef: ScaleTargetRef;
  coldStartTimeoutFailoverRef?: ColdStartTimeoutFailoverRef;
  replicas?: ReplicaStruct;
  /** Deprecated; the scaler uses 100 when unset. */
  targetPendingRequests?: number;
  /** Copied to the ScaledObject's cooldownPeriod. */
  scaledownPeriod?: number;
  initialCooldownPeriod?: number;
  scalingMetric?: HTTPScalingMetric;
  timeouts?: HTTPScaledObjectTimeouts;
};

export type HTTPScaledObjectStatus = {
  /** "<apiVersion>/<kind>/<name>", e.g. apps/v1/Deployment/app. */
  targetWorkload?: string;
  /** "<service>:<port>", e.g. svc:8080 (port 0 when portName is used, as upstream). */
  targetService?: string;
  conditions?: Condition[];
};

export type HTTPScaledObject = {
  apiVersion: typeof httpScaledObjectApiVersion;
  kind: 'HTTPScaledObject';
  metadata: ObjectMeta;
  spec: HTTPScaledObjectSpec;
  status?: HTTPScaledObjectStatus;
};

export const httpScaledObjectFinalizer = 'httpscaledobject.http.keda.sh';

/** Annotations on an HTTPScaledObject; each takes effect only when its value is exactly "true". */
export const httpScaledObjectAnnotations = {
  skipScaledObjectCreation: 'httpscaledobject.keda.sh/skip-scaledobject-creation',
  orphanScaledObject: 'httpscaledobject.keda.sh/orphan-scaledobject',
} as const;

export const httpScaledObjectConditions = {
  ready: 'Ready',
  reasonReconciled: 'Reconciled',
  reasonCreateError: 'CreateError',
  messageReconciled: 'ScaledObject created and configured',
} as const;
