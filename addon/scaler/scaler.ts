// Wires the scaler's parts together (main.ts adds the CLI, the store and the signals):
//   store (routes, EndpointSlices) -> pinger (polls /queue every tick) -> numbers
//   queue watcher (/queue/watch per pod) -> pinger.applyEvent -> StreamIsActive on change
//   gRPC server (ExternalScaler, health, reflection) reads the numbers through the scaler view.
import type { Registry } from 'prom-client';
import { listen, metricsRoute, probe, type ListeningServer } from '../shared/http-server.ts';
import type { Logger } from '../shared/log.ts';
import type { ObjectStore } from '../shared/store/store.ts';
import { startTracing, type TracingOptions } from '../shared/telemetry/tracing.ts';
import type { ScalerConfig } from './config.ts';
import { ActiveStreams } from './grpc/active-streams.ts';
import { startGrpcServer, type ScalerGrpcServer } from './grpc/server.ts';
import { prepareIsActive } from './grpc/trigger-metrics.ts';
import { healthStatus } from './health.ts';
import { readyAdminEndpoints } from './interceptors/admin-endpoints.ts';
import { QueueClient } from './interceptors/queue-client.ts';
import { QueueWatcher } from './interceptors/queue-watch.ts';
import { createScalerMetrics } from './metrics.ts';
import { Pinger } from './pinger.ts';
import { rateSettingsFromStore, scalerView } from './scaler-view.ts';

export interface RunningScaler {
  grpcPort: number;
  /** The /metrics, /livez, /readyz port, when metrics are enabled. */
  metricsPort: number | undefined;
  pinger: Pinger;
  /** Graceful stop: health NOT_SERVING, streams ended, gRPC drained, polling stopped. */
  stop(): Promise<void>;
}

export interface StartOptions {
  config: ScalerConfig;
  store: ObjectStore;
  log: Logger;
  registry: Registry;
  /** Where to listen; upstream binds every interface. Tests pass 127.0.0.1. */
  host?: string;
  /** Tests: an exporter in place of the one the telemetry config chooses, a shorter batch delay. */
  tracing?: TracingOptions;
}

export async function startScaler(opts: StartOptions): Promise<RunningScaler> {
  const { config, store, log } = opts;
  const metrics = createScalerMetrics(opts.registry);
  const tracing = await startTracing(config.telemetry, 'keda-http-external-scaler', log, opts.tracing);
  // The spans and the SDK behind them are loaded only when traces are on.
  const spans = tracing && (await import('./grpc/spans.ts')).scalerSpans(tracing);
  const adminEndpoints = {
    namespace: config.adminNamespace,
    service: config.adminService,
    port: config.adminPort,
  };
  // Set once serving starts; the health updates before that have nobody to tell.
  const serving: { grpc?: ScalerGrpcServer } = {};
  const client = new QueueClient({ timeoutMs: config.fetchTimeoutMs, maxBytes: config.queueMaxBytes });

  // The parts refer to each other only through callbacks that run after start, so they can be
  // built in reading order: the pinger, the view on its numbers, the streams, the watcher.
  const updateHealth = (): void => serving.grpc?.setHealth(healthStatus(pinger, Date.now()));
  const pinger = new Pinger({
    store,
    endpoints: adminEndpoints,
    client,
    tickMs: config.tickMs,
    stalePodMs: config.stalePodMs,
    metrics,
    log,
    rateSettingsFor: rateSettingsFromStore(store),
    onEndpoints: (eps) => watcher?.sync(eps),
    onTick: () => {
      updateHealth();
      streams.notifyAll();
    },
  });
  const view = scalerView(store, pinger);
  const streams = new ActiveStreams({
    prepare: (ref) => prepareIsActive(view, ref),
    heartbeatMs: config.streamHeartbeatMs,
    log,
    spans,
  });
  const watcher = config.queueWatchEnabled
    ? new QueueWatcher({
        log,
        connectTimeoutMs: Math.max(config.fetchTimeoutMs, 1_000),
        idleTimeoutMs: config.queueWatchIdleTimeoutMs,
        maxEventBytes: config.queueMaxBytes,
        onConnections: (n) => metrics.watchedInterceptors.set(n),
        onTransition: (pod, kind, key, concurrency, requestCount) => {
          metrics.streamEvents.inc({ event: kind });
          pinger.applyEvent(pod, key, concurrency, requestCount);
          streams.notifyKey(
            key,
            tracing && kind === 'active' ? { pod, concurrency, at: Date.now() } : undefined,
          );
        },
      })
    : undefined;

  // A route edited or deleted changes answers at once; new interceptor pods get watched at once.
  const offStore = store.onChange((kind) => {
    if (kind === 'EndpointSlice') watcher?.sync(readyAdminEndpoints(store, adminEndpoints));
    if (kind === 'InterceptorRoute' || kind === 'HTTPScaledObject') streams.refresh();
  });

  const stopPolling = async (): Promise<void> => {
    offStore();
    await pinger.stop();
    await watcher?.close();
    await client.close();
    await tracing?.shutdown();
  };
  await pinger.start(); // the first tick, as upstream polls before serving
  let grpcServer: ScalerGrpcServer;
  try {
    grpcServer = await startGrpcServer({ view, streams, log, port: config.port, host: opts.host, spans });
  } catch (err) {
    // A scaler that cannot serve must not keep polling: stop, so the process can exit.
    await stopPolling();
    throw err;
  }
  serving.grpc = grpcServer;
  updateHealth();
  const healthTimer = setInterval(updateHealth, 1_000);
  const streamsGauge = setInterval(() => metrics.activeStreams.set(streams.size), 1_000);
  healthTimer.unref();
  streamsGauge.unref();
  const stop = async (): Promise<void> => {
    clearInterval(healthTimer);
    clearInterval(streamsGauge);
    await grpcServer.stop(5_000);
    streams.stop();
    await stopPolling();
  };

  let http: ListeningServer | undefined;
  if (config.metricsEnabled) {
    const host = opts.host ?? '0.0.0.0';
    try {
      http = await listen(
        {
          '/metrics': metricsRoute(opts.registry),
          '/livez': probe(() => true),
          '/readyz': probe(() => {
            const status = healthStatus(pinger, Date.now());
            if (status === 'SERVING') return true;
            const fresh = pinger.freshness();
            return `readiness is ${status}: ${fresh === true ? (pinger.lastError ?? 'no poll yet') : fresh}`;
          }),
        },
        config.metricsPort,
        host,
      );
    } catch (err) {
      await stop();
      throw new Error(
        `cannot listen for /metrics, /livez and /readyz on ${host}:${config.metricsPort} (OTEL_PROM_EXPORTER_PORT): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }
  log.info('scaler started', {
    grpcPort: grpcServer.port,
    metricsPort: http?.port,
    adminService: `${config.adminNamespace}/${config.adminService}`,
    tick: `${config.tickMs}ms`,
    queueWatch: config.queueWatchEnabled,
  });

  return {
    grpcPort: grpcServer.port,
    metricsPort: http?.port,
    pinger,
    async stop() {
      await stop();
      await http?.close();
    },
  };
}
