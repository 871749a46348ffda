// InterceptorRoute http.keda.sh/v1beta1: where the interceptor sends matching requests and how the
// target scales. The schema (defaults, CEL rules) lives in crds/http.keda.sh_interceptorroutes.yaml;
// these types mirror it field for field.
import { kinds } from './kinds.ts';
import type { Condition, ObjectMeta } from './meta.ts';

export const interceptorRouteKind = kinds.interceptorRoute;
export const interceptorRouteApiVersion =
  `${interceptorRouteKind.group}/${interceptorRouteKind.version}` as const;

/** A Service port, by number or by name (exactly one of the two). */
export type TargetRef = {
  /** Name of a Service in the route's namespace. */
  service: string;
  port?: number;
  portName?: string;
};

export type ServiceRef = {
  name: string;
  port?: number;
  portName?: string;
};

export type ConfigMapBodyRef = {
  /** A ConfigMap in the route's namespace labelled `http.keda.sh/response-body: "true"`. */
  name: string;
  /** The data key; when unset the interceptor uses the request path ("/" becomes index.html). */
  key?: string;
};

export type StaticResponse = {
  /** 100-599; unset means 503 for a placeholder and 200 for a static route. */
  statusCode?: number;
  body?: string;
  bodyFromConfigMap?: ConfigMapBodyRef;
  headers?: Record<string, string>;
};

export type ColdStartSpec = {
  fallback?: { service: ServiceRef };
  placeholder?: {
    response: StaticResponse;
    /** Extension: HTML for browsers, 503 for APIs. */ contentNegotiation?: boolean;
  };
  /** Extension: requests held at most while scaling from zero; more get 503 at once. */
  maxPendingRequests?: number;
};

/** Go duration strings ("30s"); unset means the interceptor's env default, "0s" disables. */
export type InterceptorRouteTimeouts = {
  readiness?: string;
  request?: string;
  responseHeader?: string;
};

export type PathMatch = { value: string };
export type HeaderMatch = { name: string; value?: string };

export type RoutingRule = {
  hosts?: string[];
  paths?: PathMatch[];
  headers?: HeaderMatch[];
};

export type ConcurrencyMetric = { targetValue: number };
export type RequestRateMetric = {
  targetValue: number;
  /** Default "1m". */
  window?: string;
  /** Default "1s". */
  granularity?: string;
};

export type ScalingMetric = {
  concurrency?: ConcurrencyMetric;
  requestRate?: RequestRateMetric;
};

export const responseModes = ['Always', 'WhenUnavailable'] as const;
export type ResponseMode = (typeof responseModes)[number];

export type StaticRoute = {
  rules: RoutingRule[];
  response: StaticResponse;
  /** Default "WhenUnavailable". */
  responseMode?: ResponseMode;
};

export type InterceptorRouteSpec = {
  target: TargetRef;
  coldStart?: ColdStartSpec;
  timeouts?: InterceptorRouteTimeouts;
  rules?: RoutingRule[];
  scalingMetric: ScalingMetric;
  staticRoutes?: StaticRoute[];
};

export type InterceptorRouteStatus = {
  conditions?: Condition[];
};

export type InterceptorRoute = {
  apiVersion: typeof interceptorRouteApiVersion;
  kind: 'InterceptorRoute';
  metadata: ObjectMeta;
  spec: InterceptorRouteSpec;
  status?: InterceptorRouteStatus;
};

/** The label a ConfigMap needs before the interceptor will serve a body from it. */
export const responseBodyLabel = 'http.keda.sh/response-body';

export const interceptorRouteConditions = {
  ready: 'Ready',
  /** Upstream's only reason; we keep it for the healthy case. */
  reasonReconciled: 'Reconciled',
} as const;
