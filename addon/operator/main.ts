// `keda-http operator`: reconciles HTTPScaledObjects into KEDA ScaledObjects and keeps
// InterceptorRoutes' Ready condition truthful. Flags and env vars are upstream's (see README.md).
import { KubeConfig } from '@kubernetes/client-node';
import { listen, metricsRoute, probe, type Handler, type ListeningServer } from '../shared/http-server.ts';
import { Lifecycle } from '../shared/lifecycle.ts';
import { createLogger, errorFields } from '../shared/log.ts';
import { createRegistry } from '../shared/metrics.ts';
import { Manager } from '../runtime/manager.ts';
import { readOperatorConfig, scalerAddress, type OperatorConfig } from './config.ts';
import { registerHTTPScaledObjectController } from './http-scaled-object-controller.ts';
import { registerInterceptorRouteController } from './interceptor-route-controller.ts';

const usage = `usage: keda-http operator [--leader-elect] [--metrics-bind-address=:8080] [--health-probe-bind-address=:8081]
                          [--zap-log-level=info] [--zap-encoder=json|console] [--kubeconfig=<path>]

Env: KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_SERVICE (required), KEDA_HTTP_OPERATOR_EXTERNAL_SCALER_PORT (8091),
KEDA_HTTP_OPERATOR_NAMESPACE, KEDA_HTTP_OPERATOR_WATCH_NAMESPACE,
KEDA_HTTP_OPERATOR_LEADER_ELECTION_{LEASE_DURATION,RENEW_DEADLINE,RETRY_PERIOD} (15s, 10s, 2s).
See addon/operator/README.md.
`;

export interface RunningOperator {
  manager: Manager;
  metricsPort: number | undefined;
  probePort: number | undefined;
  stop(): Promise<void>;
}

/** Starts everything; used by main() and by tests that run the operator in-process. */
export async function startOperator(
  config: OperatorConfig,
  opts: { kubeConfig?: KubeConfig; onLostLeadership?: () => void; stream?: NodeJS.WritableStream } = {},
): Promise<RunningOperator> {
  const log = createLogger({
    component: 'operator',
    level: config.logLevel,
    format: config.logFormat,
    stream: opts.stream,
  });
  const kubeConfig = opts.kubeConfig ?? new KubeConfig();
  if (!opts.kubeConfig) {
    if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
    else kubeConfig.loadFromDefault();
  }
  const registry = createRegistry();
  const manager = new Manager({
    kubeConfig,
    log,
    registry,
    namespace: config.watchNamespace,
    leaderElection: config.leaderElect
      ? {
          namespace: config.leaseNamespace,
          name: config.leaseName,
          leaseDurationMs: config.leaseDurationMs,
          renewDeadlineMs: config.renewDeadlineMs,
          retryPeriodMs: config.retryPeriodMs,
        }
      : undefined,
    onLostLeadership: opts.onLostLeadership,
  });
  const events = manager.events('keda-add-ons-http-operator');
  registerHTTPScaledObjectController({ manager, events, scalerAddress: scalerAddress(config) });
  registerInterceptorRouteController({ manager, events });

  const servers: ListeningServer[] = [];
  const probes: Record<string, Handler> = {
    '/healthz': probe(() => manager.healthz()),
    '/readyz': probe(() => manager.readyz()),
  };
  const metrics: Record<string, Handler> = { '/metrics': metricsRoute(registry) };
  const { metrics: m, probes: p } = config;
  if (m && p && m.port === p.port && m.port !== 0 && m.host === p.host) {
    servers.push(await listen({ ...probes, ...metrics }, m.port, m.host));
  } else {
    if (m) servers.push(await listen(metrics, m.port, m.host));
    if (p) servers.push(await listen(probes, p.port, p.host));
  }
  manager.start();
  log.info('operator started', {
    scalerAddress: scalerAddress(config),
    watchNamespace: config.watchNamespace || '(all)',
    leaderElection: config.leaderElect ? `${config.leaseNamespace}/${config.leaseName}` : 'off',
  });
  return {
    manager,
    metricsPort: m ? servers[0]?.port : undefined,
    probePort: p ? servers[servers.length - 1]?.port : undefined,
    async stop() {
      await manager.stop();
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(usage);
    return 0;
  }
  const { config, warnings } = readOperatorConfig(argv);
  const bootLog = createLogger({ component: 'operator', level: config.logLevel, format: config.logFormat });
  for (const w of warnings) bootLog.warn(w);
  const lifecycle = new Lifecycle(bootLog);
  const running = await startOperator(config, {
    onLostLeadership: () => {
      // As controller-runtime: a replica that lost the lease exits and restarts as a candidate.
      bootLog.error('lost the leader lease; exiting so Kubernetes restarts this replica');
      void lifecycle.stop().finally(() => process.exit(1));
    },
  }).catch((err: unknown) => {
    bootLog.error('operator failed to start', errorFields(err));
    throw err;
  });
  lifecycle.onStop('stop controllers, release the lease, stop informers and servers', () => running.stop());
  lifecycle.handleSignals();
  await new Promise<never>(() => {});
  return 0;
}
