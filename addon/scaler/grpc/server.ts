// The gRPC server KEDA talks to: externalscaler.ExternalScaler, grpc.health.v1.Health (services
// "liveness" and "readiness") and server reflection, as upstream registers them.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { Logger } from '../../shared/log.ts';
import { errorFields } from '../../shared/log.ts';
import type { Attributes } from '@opentelemetry/api';
import type { ActiveStreams } from './active-streams.ts';
import type { ScalerSpans } from './spans.ts';
import type {
  GetMetricSpecResponse,
  GetMetricsRequest,
  GetMetricsResponse,
  IsActiveResponse,
  ScaledObjectRef,
} from './messages.ts';
import { boundedText } from '../../shared/bounded-text.ts';
import {
  ScalerError,
  isActive,
  metricSpecs,
  metricValues,
  refLogFields,
  type ScalerView,
} from './trigger-metrics.ts';

export const externalScalerProtoPath = fileURLToPath(
  new URL('../proto/externalscaler.proto', import.meta.url),
);

// The reflection services' own protos, so that listing services shows them as grpc-go does
// (`grpcurl list` gives the same answer for this scaler and upstream's).
const reflectionProtoDir = join(
  dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')),
  'build/proto',
);
const reflectionProtos = ['grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'];

const loaderOptions: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING';

export interface ScalerGrpcServer {
  port: number;
  /** Sets the status of the "liveness" and "readiness" health services. */
  setHealth(status: HealthStatus): void;
  /** Health goes NOT_SERVING, open streams end, then the server stops (forcefully after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

export interface GrpcServerOptions {
  view: ScalerView;
  streams: ActiveStreams;
  log: Logger;
  port: number;
  host?: string;
  /** Present when traces are on: each unary call gets a span. */
  spans?: ScalerSpans | undefined;
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<ScalerGrpcServer> {
  const { view, streams, log, spans } = opts;

  /** Answers a unary call, inside its span when traces are on. */
  const answer = <Req extends ScaledObjectRef | GetMetricsRequest, T>(
    call: grpc.ServerUnaryCall<Req, T>,
    callback: grpc.sendUnaryData<T>,
    run: () => T,
    describe: (answer: T) => Attributes,
    ref: ScaledObjectRef = call.request as ScaledObjectRef,
  ): void => {
    const method = call.getPath().split('/').pop() ?? '';
    try {
      callback(null, spans ? spans.call(method, ref, call.metadata, run, describe) : run());
    } catch (err) {
      log.debug('request failed', { method, ...refLogFields(ref), ...errorFields(err) });
      callback(toServiceError(err));
    }
  };
  const definition = protoLoader.loadSync([externalScalerProtoPath, healthProtoPath, ...reflectionProtos], {
    ...loaderOptions,
    includeDirs: [reflectionProtoDir],
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    externalscaler: { ExternalScaler: grpc.ServiceClientConstructor };
  };
  const server = new grpc.Server();
  const openStreams = new Set<grpc.ServerWritableStream<ScaledObjectRef, IsActiveResponse>>();

  const handlers: grpc.UntypedServiceImplementation = {
    IsActive(
      call: grpc.ServerUnaryCall<ScaledObjectRef, IsActiveResponse>,
      callback: grpc.sendUnaryData<IsActiveResponse>,
    ) {
      answer(
        call,
        callback,
        () => ({ result: isActive(view, call.request) }),
        (a) => ({ 'keda.scaler.active': a.result }),
      );
    },
    GetMetricSpec(
      call: grpc.ServerUnaryCall<ScaledObjectRef, GetMetricSpecResponse>,
      callback: grpc.sendUnaryData<GetMetricSpecResponse>,
    ) {
      answer(
        call,
        callback,
        () => ({ metricSpecs: metricSpecs(view, call.request) }),
        (a) => ({ 'keda.scaler.metric_names': a.metricSpecs.map((m) => m.metricName) }),
      );
    },
    GetMetrics(
      call: grpc.ServerUnaryCall<GetMetricsRequest, GetMetricsResponse>,
      callback: grpc.sendUnaryData<GetMetricsResponse>,
    ) {
      const ref = call.request.scaledObjectRef ?? { name: '', namespace: '', scalerMetadata: {} };
      answer(
        call,
        callback,
        () => ({ metricValues: metricValues(view, ref, call.request.metricName) }),
        (a) => ({
          'keda.scaler.metric_names': a.metricValues.map((m) => m.metricName),
          'keda.scaler.metric_values': a.metricValues.map((m) => m.metricValueFloat ?? m.metricValue ?? 0),
        }),
        ref,
      );
    },
    StreamIsActive(call: grpc.ServerWritableStream<ScaledObjectRef, IsActiveResponse>) {
      openStreams.add(call);
      const unsubscribe = streams.subscribe(call.request, {
        send: (result) => {
          if (!call.cancelled) call.write({ result });
        },
        fail: (err) => {
          openStreams.delete(call);
          call.emit('error', toServiceError(err));
        },
      });
      call.on('cancelled', () => {
        unsubscribe();
        openStreams.delete(call);
      });
    },
  };
  server.addService(loaded.externalscaler.ExternalScaler.service, handlers);

  const health = new HealthImplementation({ '': 'SERVING', liveness: 'UNKNOWN', readiness: 'UNKNOWN' });
  health.addToServer(server);
  new ReflectionService(definition).addToServer(server);

  const host = opts.host ?? '0.0.0.0';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (!err) {
        resolve(bound);
        return;
      }
      server.forceShutdown(); // nothing was served; release what the server holds
      reject(
        new Error(`cannot listen for gRPC on ${host}:${opts.port} (KEDA_HTTP_SCALER_PORT): ${err.message}`),
      );
    });
  });

  return {
    port,
    setHealth(status) {
      health.setStatus('liveness', status);
      health.setStatus('readiness', status);
    },
    async stop(graceMs = 5_000) {
      health.setStatus('liveness', 'NOT_SERVING');
      health.setStatus('readiness', 'NOT_SERVING');
      // Open streams never finish on their own; ending them lets the graceful stop complete.
      // KEDA reconnects to another replica (or to us after a restart).
      for (const call of openStreams) call.end();
      openStreams.clear();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

/**
 * The status KEDA gets. Its message travels in a response header (grpc-message), so it is bounded
 * here as well, whatever produced it; the parts of it that came from the request already are.
 */
function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  const maxDetails = 2_048;
  if (err instanceof ScalerError) return { code: err.code, details: boundedText(err.message, maxDetails) };
  const message = err instanceof Error ? err.message : String(err);
  return { code: grpc.status.UNKNOWN, details: boundedText(message, maxDetails) };
}
