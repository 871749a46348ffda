// Test-only: a gRPC client for the scaler as KEDA sees it, built from the protocol facts (KEDA's
// externalscaler.proto field table and the standard grpc.health.v1 protocol), written here on
// purpose rather than loaded from the server's own proto file, so a drift in the server's copy
// shows up as a failing test. int64 fields arrive as strings, as on the wire.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const kedaExternalScalerProto = `
syntax = "proto3";
package externalscaler;
service ExternalScaler {
  rpc IsActive(ScaledObjectRef) returns (IsActiveResponse) {}
  rpc StreamIsActive(ScaledObjectRef) returns (stream IsActiveResponse) {}
  rpc GetMetricSpec(ScaledObjectRef) returns (GetMetricSpecResponse) {}
  rpc GetMetrics(GetMetricsRequest) returns (GetMetricsResponse) {}
}
message ScaledObjectRef { string name = 1; string namespace = 2; map<string, string> scalerMetadata = 3; }
message IsActiveResponse { bool result = 1; }
message GetMetricSpecResponse { repeated MetricSpec metricSpecs = 1; }
message MetricSpec { string metricName = 1; int64 targetSize = 2; double targetSizeFloat = 3; }
message GetMetricsRequest { ScaledObjectRef scaledObjectRef = 1; string metricName = 2; }
message GetMetricsResponse { repeated MetricValue metricValues = 1; }
message MetricValue { string metricName = 1; int64 metricValue = 2; double metricValueFloat = 3; }
`;

const healthProto = `
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; } ServingStatus status = 1; }
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
`;

export interface Ref {
  name: string;
  namespace: string;
  scalerMetadata: Record<string, string>;
}
export interface WireSpec {
  metricName: string;
  targetSize: string;
  targetSizeFloat: number;
}
export interface WireValue {
  metricName: string;
  metricValue: string;
  metricValueFloat: number;
}
type Unary<Req, Res> = (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => void;

interface RawClient extends grpc.Client {
  IsActive: Unary<Ref, { result: boolean }>;
  GetMetricSpec: Unary<Ref, { metricSpecs: WireSpec[] }>;
  GetMetrics: Unary<{ scaledObjectRef: Ref; metricName: string }, { metricValues: WireValue[] }>;
  StreamIsActive(req: Ref): grpc.ClientReadableStream<{ result: boolean }>;
}
interface RawHealth extends grpc.Client {
  Check: Unary<{ service: string }, { status: string }>;
}

let loaded: grpc.GrpcObject | undefined;
function packages(): grpc.GrpcObject {
  if (loaded) return loaded;
  const dir = mkdtempSync(join(tmpdir(), 'keda-client-'));
  writeFileSync(join(dir, 'externalscaler.proto'), kedaExternalScalerProto);
  writeFileSync(join(dir, 'health.proto'), healthProto);
  const def = protoLoader.loadSync([join(dir, 'externalscaler.proto'), join(dir, 'health.proto')], {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  loaded = grpc.loadPackageDefinition(def);
  return loaded;
}

function promise<Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));
}

export class KedaClient {
  readonly raw: RawClient;
  readonly health: RawHealth;

  constructor(address: string) {
    const pkg = packages();
    const Scaler = (pkg['externalscaler'] as grpc.GrpcObject)[
      'ExternalScaler'
    ] as grpc.ServiceClientConstructor;
    const v1 = ((pkg['grpc'] as grpc.GrpcObject)['health'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
    const Health = v1['Health'] as grpc.ServiceClientConstructor;
    this.raw = new Scaler(address, grpc.credentials.createInsecure()) as unknown as RawClient;
    this.health = new Health(address, grpc.credentials.createInsecure()) as unknown as RawHealth;
  }

  isActive(ref: Ref): Promise<boolean> {
    return promise(this.raw.IsActive.bind(this.raw), ref).then((r) => r.result);
  }

  metricSpecs(ref: Ref): Promise<WireSpec[]> {
    return promise(this.raw.GetMetricSpec.bind(this.raw), ref).then((r) => r.metricSpecs);
  }

  metrics(ref: Ref, metricName = ''): Promise<WireValue[]> {
    return promise(this.raw.GetMetrics.bind(this.raw), { scaledObjectRef: ref, metricName }).then(
      (r) => r.metricValues,
    );
  }

  streamIsActive(ref: Ref): grpc.ClientReadableStream<{ result: boolean }> {
    return this.raw.StreamIsActive(ref);
  }

  healthStatus(service: string): Promise<string> {
    return promise(this.health.Check.bind(this.health), { service }).then((r) => r.status);
  }

  close(): void {
    this.raw.close();
    this.health.close();
  }
}

/** A ScaledObject's trigger metadata for an InterceptorRoute, as users write it. */
export function routeRef(namespace: string, route: string): Ref {
  return {
    name: `so-${route}`,
    namespace,
    scalerMetadata: { interceptorRoute: route, scalerAddress: 'keda-add-ons-http-external-scaler.keda:9090' },
  };
}
