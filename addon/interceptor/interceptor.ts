// Assembles the interceptor from its parts and runs it: route table, counters, endpoint readiness,
// proxy listeners, admin and metrics servers, and the graceful drain. main.ts only reads config,
// picks the object store and calls startInterceptor; tests call it directly with their own store.
import type { Registry } from 'prom-client';
import { listen, metricsRoute, type ListeningServer } from '../shared/http-server.ts';
import type { Logger } from '../shared/log.ts';
import { createRegistry } from '../shared/metrics.ts';
import type { ObjectStore } from '../shared/store/store.ts';
import { startAdminServer } from './admin/admin-server.ts';
import type { InterceptorConfig } from './config.ts';
import { ReadyEndpointsCache } from './endpoints/ready-cache.ts';
import { TargetResolver } from './endpoints/targets.ts';
import { InterceptorMetrics } from './metrics.ts';
import type { PipelineDeps } from './pipeline/deps.ts';
import { RequestPipeline } from './pipeline/pipeline.ts';
import { ReadAheadBudget } from './pipeline/request-body.ts';
import { AccessLog } from './proxy/access-log.ts';
import { BackendTrust } from './proxy/backend-trust.ts';
import { Forwarder } from './proxy/forward.ts';
import { HoldLimits } from './proxy/holding.ts';
import { loadMinorGc } from './internals/minor-gc.ts';
import { configureRuntimeInternals } from './internals/switches.ts';
import { IdleScavenge } from './proxy/idle-scavenge.ts';
import { StaticResponder } from './proxy/static-response.ts';
import { RequestQueue } from './queue/queue.ts';
import { QueueWatch } from './queue/watch.ts';
import { LiveRouteTable } from './routing/live-table.ts';
import { ProxyServers } from './server/proxy-server.ts';
import { HoldCutoff } from './server/hold-cutoff.ts';
import { loadTlsOptions } from './server/tls-store.ts';
import { startTracing, type TracingOptions } from '../shared/telemetry/tracing.ts';

export interface StartOptions {
  config: InterceptorConfig;
  store: ObjectStore;
  log: Logger;
  /** `--from-file` mode: always dial EndpointSlice addresses (no cluster DNS). */
  fileMode: boolean;
  /** Bind address for every server; tests pass 127.0.0.1. */
  host?: string;
  registry?: Registry;
  /** Tests: an exporter in place of the one the telemetry config chooses, a shorter batch delay. */
  tracing?: TracingOptions;
}

export interface RunningInterceptor {
  proxyPort: number;
  tlsPort: number | undefined;
  adminPort: number;
  metricsPort: number | undefined;
  queue: RequestQueue;
  table: LiveRouteTable;
  ready: ReadyEndpointsCache;
  servers: ProxyServers;
  forwarder: Forwarder;
  registry: Registry;
  /**
   * Upstream's SIGTERM sequence: readiness 503, shutdown delay, drain, then the rest; requests still
   * held for a cold start are answered 503 + Retry-After before the drain ends.
   */
  shutdown(): Promise<void>;
  /** Stops everything at once (tests). */
  close(): Promise<void>;
}

export async function startInterceptor(opts: StartOptions): Promise<RunningInterceptor> {
  const { config, store, log } = opts;
  // First: the pieces below check the runtime internals they use against these switches.
  configureRuntimeInternals(config.internals, log);
  const host = opts.host ?? '0.0.0.0';
  const registry = opts.registry ?? createRegistry();
  const queue = new RequestQueue();
  const table = new LiveRouteTable(store, queue, log, config.watchNamespace);
  const ready = new ReadyEndpointsCache(store);
  const targets = new TargetResolver(store);
  // TLS material is loaded before anything listens: a bad certificate stops the start, as upstream.
  const tlsOptions = config.tls.enabled ? await loadTlsOptions(config.tls) : undefined;
  const backendTls = tlsOptions ? { ca: tlsOptions.ca, skipVerify: config.tls.skipVerify } : undefined;
  const forwarder = new Forwarder({
    connectTimeoutMs: config.connectTimeoutMs,
    maxConnsPerHost: config.maxConnsPerHost,
    idleConnTimeoutMs: config.backendIdleConnTimeoutMs,
    forceHttp2: config.forceHttp2,
    ...(backendTls ? { tls: backendTls } : {}),
  });
  // Pods that left the endpoints: their connection pools go, instead of idling until they time out.
  ready.onOriginsRemoved((origins) => forwarder.retireOrigins(origins));
  let draining = false;
  const holdCutoff = new HoldCutoff();

  const holds = new HoldLimits(config.coldStartMaxPendingPerRoute, config.coldStartMaxPendingTotal);
  // Promotes held requests' state while idle, so a release does not pay for it (proxy/idle-scavenge.ts).
  const gc = loadMinorGc();
  const idleScavenge = gc
    ? new IdleScavenge({
        held: () => holds.held,
        gc,
        onScavenge: (ms, bytes) =>
          log.debug('scavenged while idle with requests held', {
            ms: Math.round(ms * 10) / 10,
            newSpaceMiB: Math.round((bytes / 1048576) * 10) / 10,
            held: holds.held,
          }),
      })
    : undefined;
  const metrics = new InterceptorMetrics(registry, holds);
  const tracing = await startTracing(config.telemetry, 'keda-http-interceptor', log, opts.tracing);
  // The tracing step and the SDK behind it are loaded only when traces are on.
  const traceRequest = tracing && (await import('./pipeline/trace-request.ts')).requestTracer(tracing);
  table.onSwap(() => metrics.retainRoutes(new Set(queue.keys())));
  const deps: PipelineDeps = {
    config,
    table,
    queue,
    ready,
    targets,
    forwarder,
    backendTrust: new BackendTrust(backendTls),
    statics: new StaticResponder(store),
    holds,
    readAhead: new ReadAheadBudget(),
    metrics,
    log,
    accessLog: config.logRequests ? new AccessLog(log) : undefined,
    directPodRouting: config.directPodRouting || opts.fileMode,
    fileMode: opts.fileMode,
    draining: () => draining,
    holdCutoff,
    traceRequest,
  };

  await store.synced;
  ready.start();
  targets.start();
  await table.start();

  const limits = {
    readHeaderTimeoutMs: config.readHeaderTimeoutMs,
    maxHeaderBytes: (1 << 20) + 4096,
    maxConcurrentStreams: config.maxConcurrentStreams,
  };
  const plain = new RequestPipeline(deps, 'http');
  const servers = new ProxyServers(log, limits, plain.handleRequest, plain.handleUpgrade);
  const watch = new QueueWatch(queue, config.queueWatchHeartbeatMs);
  const started: ListeningServer[] = [];
  try {
    started.push(
      await startAdminServer(
        { queue, watch, ready: () => !draining && table.current !== undefined },
        config.adminPort,
        host,
      ),
    );
    if (config.metricsEnabled)
      started.push(await listen({ '/metrics': metricsRoute(registry) }, config.metricsPort, host));
    const proxyPort = await servers.listenPlain(config.proxyPort, host);
    let tlsPort: number | undefined;
    if (tlsOptions) {
      // The TLS listener shares everything but the upstream scheme (https, SNI svc.ns).
      const secure = new RequestPipeline(deps, 'https');
      tlsPort = await servers.listenTls(
        config.tls.port,
        tlsOptions,
        host,
        secure.handleRequest,
        secure.handleUpgrade,
      );
    }
    idleScavenge?.start();
    log.info('interceptor started', {
      proxyPort,
      tlsPort,
      adminPort: started[0]?.port,
      metricsPort: started[1]?.port,
      routes: table.current?.size ?? 0,
    });

    const stopInfrastructure = async (): Promise<void> => {
      watch.close();
      idleScavenge?.stop();
      await Promise.allSettled(started.map((s) => s.close()));
      table.stop();
      ready.stop();
      targets.stop();
      await forwarder.close();
      // Last: the spans of the requests the drain let finish are exported before the process exits.
      await tracing?.shutdown();
    };

    let shuttingDown: Promise<void> | undefined;
    return {
      proxyPort,
      tlsPort,
      adminPort: started[0]?.port ?? 0,
      metricsPort: config.metricsEnabled ? started[1]?.port : undefined,
      queue,
      table,
      ready,
      servers,
      forwarder,
      registry,
      shutdown: () =>
        (shuttingDown ??= (async () => {
          draining = true;
          log.info('draining: readiness is now 503; still serving during the shutdown delay', {
            shutdownDelayMs: config.shutdownDelayMs,
          });
          await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
          const t0 = performance.now();
          // Requests still held for a cold start when the drain is about to give up are answered
          // 503 + Retry-After, while their connections are open, rather than reset with them.
          const clean = await servers.drain(config.drainTimeoutMs, () => {
            if (holds.held > 0)
              log.info('drain ending: answering the requests still held with 503 and Retry-After', {
                held: holds.held,
              });
            holdCutoff.reach();
          });
          log.info(clean ? 'drained' : 'drain timeout reached; closed the remaining connections', {
            ms: Math.round(performance.now() - t0),
          });
          await stopInfrastructure();
        })()),
      close: async () => {
        draining = true;
        servers.close();
        await stopInfrastructure();
      },
    };
  } catch (err) {
    servers.close();
    watch.close();
    await Promise.allSettled(started.map((s) => s.close()));
    await tracing?.shutdown();
    throw err;
  }
}
