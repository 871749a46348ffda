// The externalscaler messages as @grpc/proto-loader hands them to us and takes them back
// (keepCase, int64 as numbers). Field numbers live in ../proto/externalscaler.proto.

export interface ScaledObjectRef {
  name: string;
  namespace: string;
  scalerMetadata: Record<string, string>;
}

export interface IsActiveResponse {
  result: boolean;
}

export interface MetricSpec {
  metricName: string;
  /** Deprecated int64 target; upstream fills it for HTTPScaledObjects and the interceptors. */
  targetSize?: number;
  targetSizeFloat?: number;
}

export interface GetMetricSpecResponse {
  metricSpecs: MetricSpec[];
}

export interface GetMetricsRequest {
  scaledObjectRef: ScaledObjectRef | null;
  metricName: string;
}

export interface MetricValue {
  metricName: string;
  /** Deprecated int64 value; upstream fills it for HTTPScaledObjects and the interceptors. */
  metricValue?: number;
  metricValueFloat?: number;
}

export interface GetMetricsResponse {
  metricValues: MetricValue[];
}
