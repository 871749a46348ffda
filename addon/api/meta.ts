// Object metadata and condition shapes shared by every kind in this folder. They describe the
// plain JSON the API server sends (timestamps are RFC 3339 strings), not client-node's classes,
// because the runtime reads and writes raw JSON for built-in and custom kinds alike.

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  generateName?: string;
}

/** Any Kubernetes object as plain JSON. Every typed kind here is assignable to it. */
export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
};

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition. */
export type Condition = {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
};

/** Group, version, kind and plural of a resource: everything needed to build its REST path. */
export interface ResourceKind {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

/** `group/version`, or just `version` for the core group. */
export function apiVersionOf(r: Pick<ResourceKind, 'group' | 'version'>): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}
