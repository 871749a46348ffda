// A KEDA external scaler whose answers the caller sets: for testing KEDA itself (activation through
// `external-push`, 1 <-> N through the HPA and KEDA's metrics API server) without the add-on.
// Speaks KEDA's externalscaler.proto (the add-on's copy): IsActive, StreamIsActive (pushes on every
// change of `active`), GetMetricSpec (one metric with the target size) and GetMetrics.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { externalScalerProtoPath } from '../../addon/scaler/grpc/server.ts';

export interface ScalerAnswers {
  active: boolean;
  /** The metric value GetMetrics reports. */
  value: number;
  /** The target per replica GetMetricSpec reports (the HPA wants ceil(value / target) replicas). */
  target: number;
}

export interface TestExternalScaler {
  /** host:port, for a trigger's `scalerAddress`. */
  address: string;
  set(answers: Partial<ScalerAnswers>): void;
  /** How many calls of each method KEDA made so far. */
  calls: Record<'IsActive' | 'StreamIsActive' | 'GetMetricSpec' | 'GetMetrics', number>;
  stop(): Promise<void>;
}

interface Ref {
  name: string;
  namespace: string;
}

export async function startTestExternalScaler(
  opts: { host?: string; metricName?: string } & Partial<ScalerAnswers> = {},
): Promise<TestExternalScaler> {
  const answers: ScalerAnswers = {
    active: opts.active ?? false,
    value: opts.value ?? 0,
    target: opts.target ?? 10,
  };
  const metricName = opts.metricName ?? 'requests';
  const calls: TestExternalScaler['calls'] = {
    IsActive: 0,
    StreamIsActive: 0,
    GetMetricSpec: 0,
    GetMetrics: 0,
  };
  const streams = new Set<grpc.ServerWritableStream<Ref, { result: boolean }>>();
  const definition = protoLoader.loadSync(externalScalerProtoPath, {
    keepCase: true,
    longs: Number,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    externalscaler: { ExternalScaler: { service: grpc.ServiceDefinition } };
  };
  const server = new grpc.Server();
  server.addService(pkg.externalscaler.ExternalScaler.service, {
    IsActive(_call: grpc.ServerUnaryCall<Ref, unknown>, cb: grpc.sendUnaryData<{ result: boolean }>) {
      calls.IsActive++;
      cb(null, { result: answers.active });
    },
    StreamIsActive(call: grpc.ServerWritableStream<Ref, { result: boolean }>) {
      calls.StreamIsActive++;
      streams.add(call);
      call.write({ result: answers.active });
      call.on('cancelled', () => streams.delete(call));
      call.on('close', () => streams.delete(call));
    },
    GetMetricSpec(_call: grpc.ServerUnaryCall<Ref, unknown>, cb: grpc.sendUnaryData<unknown>) {
      calls.GetMetricSpec++;
      cb(null, {
        metricSpecs: [{ metricName, targetSize: answers.target, targetSizeFloat: answers.target }],
      });
    },
    GetMetrics(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      calls.GetMetrics++;
      cb(null, {
        metricValues: [{ metricName, metricValue: answers.value, metricValueFloat: answers.value }],
      });
    },
  });
  const host = opts.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    address: `${host}:${port}`,
    calls,
    set(next) {
      const wasActive = answers.active;
      Object.assign(answers, next);
      if (answers.active !== wasActive) for (const s of streams) s.write({ result: answers.active });
    },
    async stop() {
      for (const s of streams) s.end();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), 2000); // KEDA may hold a stream open
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}
