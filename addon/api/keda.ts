// The Kyma Keda CR (operator.kyma-project.io/v1alpha1), which the manager watches. Nothing in its
// spec concerns the add-on: the add-on is configured through annotations on this object.
import { kinds } from './kinds.ts';
import type { Condition, ObjectMeta } from './meta.ts';

export const kedaKind = kinds.keda;
export const kedaApiVersion = `${kedaKind.group}/${kedaKind.version}` as const;

export type KedaLogging = {
  level?: 'debug' | 'info' | 'error';
  format?: 'json' | 'text' | 'console';
  timeEncoding?: 'epoch' | 'millis' | 'nano' | 'iso8601' | 'rfc3339' | 'rfc3339nano';
};

export type ResourceRequirements = {
  limits?: Record<string, string>;
  requests?: Record<string, string>;
};

export type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: Record<string, unknown>;
};

export type KedaComponents<T> = {
  operator?: T;
  metricServer?: T;
  admissionWebhook?: T;
};

export type KedaSpec = {
  istio?: {
    operator?: { enabledSidecarInjection?: boolean };
    metricServer?: { enabledSidecarInjection?: boolean };
  };
  logging?: KedaComponents<KedaLogging>;
  resources?: KedaComponents<ResourceRequirements>;
  env?: EnvVar[];
  podAnnotations?: KedaComponents<Record<string, string>>;
};

export const kedaStates = ['Ready', 'Processing', 'Warning', 'Error', 'Deleting'] as const;
export type KedaState = (typeof kedaStates)[number];

export type KedaStatus = {
  /** Written by Kyma's keda-manager; optional here because that manager may not run (see the CRD). */
  state?: KedaState;
  served?: 'True' | 'False';
  kedaVersion?: string;
  conditions?: Condition[];
};

export type Keda = {
  apiVersion: typeof kedaApiVersion;
  kind: 'Keda';
  metadata: ObjectMeta;
  spec: KedaSpec;
  status?: KedaStatus;
};
