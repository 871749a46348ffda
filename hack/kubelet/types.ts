// The parts of core/v1 Pod, Service and EndpointSlice (as plain JSON) the process kubelet reads and
// writes. Only what it uses; unknown fields pass through untouched.
import { kinds, type KubeObject } from '../../addon/api/index.ts';

export const podKind = kinds.pod;
export const nodeKind = kinds.node;
export const leaseKind = kinds.lease;
export const serviceKind = kinds.service;
export const endpointSliceKind = kinds.endpointSlice;
export const namespaceKind = kinds.namespace;
export const configMapKind = kinds.configMap;
export const secretKind = kinds.secret;

export interface KeySelector {
  name: string;
  key: string;
  optional?: boolean;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
    configMapKeyRef?: KeySelector;
    secretKeyRef?: KeySelector;
  };
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

export type PortRef = number | string;

export interface Probe {
  httpGet?: {
    path?: string;
    port: PortRef;
    host?: string;
    scheme?: 'HTTP' | 'HTTPS';
    httpHeaders?: { name: string; value: string }[];
  };
  tcpSocket?: { port: PortRef; host?: string };
  grpc?: { port: number; service?: string };
  exec?: { command: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export interface ContainerState {
  waiting?: { reason: string; message?: string };
  running?: { startedAt: string };
  terminated?: {
    exitCode: number;
    signal?: number;
    reason: string;
    message?: string;
    startedAt?: string;
    finishedAt: string;
  };
}

export interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: ContainerState;
  lastState: ContainerState;
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime: string;
  reason?: string;
  message?: string;
}

export interface PodStatus {
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  podIP?: string;
  podIPs?: { ip: string }[];
  hostIP?: string;
  hostIPs?: { ip: string }[];
  startTime?: string;
  conditions?: PodCondition[];
  containerStatuses?: ContainerStatus[];
  message?: string;
  reason?: string;
}

export type Pod = KubeObject & {
  spec: {
    nodeName?: string;
    schedulerName?: string;
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    /** The pod shares this machine's network (no namespace of its own); its address is the node's. */
    hostNetwork?: boolean;
    restartPolicy?: 'Always' | 'OnFailure' | 'Never';
    terminationGracePeriodSeconds?: number;
    hostname?: string;
    containers: Container[];
    initContainers?: Container[];
  };
  status?: PodStatus;
};

export type Service = KubeObject & {
  spec: {
    type?: string;
    clusterIP?: string;
    ports?: { name?: string; port: number; protocol?: string; targetPort?: PortRef }[];
  };
};

export type EndpointSlice = KubeObject & {
  addressType: string;
  endpoints?: {
    addresses: string[];
    conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  }[];
  ports?: { name?: string; port?: number; protocol?: string }[];
};

/** RFC 3339 with seconds precision, as the API server stores metav1.Time. */
export const nowTime = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
