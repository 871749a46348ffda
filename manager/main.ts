// `keda-http manager`: watches Keda objects and installs, moves, reconfigures and removes the HTTP
// add-on from their annotations. Flags follow controller-runtime's names.
import { hostname } from 'node:os';
import type { HTTPScaledObject, InterceptorRoute, Keda, KubeObject } from '../addon/api/index.ts';
import { Manager, objectKeyOf, type Informer } from '../addon/runtime/index.ts';
import { EnvReader, parseFlags } from '../addon/shared/config.ts';
import { listen, metricsRoute, probe } from '../addon/shared/http-server.ts';
import { Lifecycle } from '../addon/shared/lifecycle.ts';
import { createRegistry } from '../addon/shared/metrics.ts';
import { loadKubeConfig } from '../addon/shared/kubeconfig.ts';
import { commonFlagSpec, loggerFromFlags, parseBindAddress } from '../addon/shared/service.ts';
import { kinds } from './kinds.ts';
import { servedKeda } from './decide.ts';
import { AddonReconciler } from './reconciler.ts';
import { managedByLabel, managedByValue } from './render/values.ts';

export async function main(argv: string[]): Promise<number> {
  const { flags } = parseFlags(argv, {
    ...commonFlagSpec,
    'leader-elect': 'boolean',
    'leader-election-namespace': 'string',
    'metrics-bind-address': 'string',
    'health-probe-bind-address': 'string',
  });
  const str = (k: string, d: string): string => (typeof flags[k] === 'string' ? (flags[k] as string) : d);
  const log = loggerFromFlags('manager', flags);
  const env = new EnvReader();
  const image = env.raw('KEDA_HTTP_ADDON_IMAGE');
  const pullPolicy = env.oneOf(
    'KEDA_HTTP_ADDON_IMAGE_PULL_POLICY',
    ['Always', 'IfNotPresent', 'Never'],
    'IfNotPresent',
  );
  const reapplyIntervalMs = env.duration('KEDA_HTTP_MANAGER_REAPPLY_INTERVAL', 300_000);
  const podNamespace = env.string('POD_NAMESPACE', 'kyma-system');
  env.done();
  const metricsAddr = parseBindAddress('metrics-bind-address', str('metrics-bind-address', ':8080'));
  const probeAddr = parseBindAddress('health-probe-bind-address', str('health-probe-bind-address', ':8081'));

  const kubeConfig = loadKubeConfig(typeof flags.kubeconfig === 'string' ? flags.kubeconfig : undefined);
  const registry = createRegistry();
  const lifecycle = new Lifecycle(log);
  const manager = new Manager({
    kubeConfig,
    log,
    registry,
    ...(flags['leader-elect'] === true
      ? {
          leaderElection: {
            namespace: str('leader-election-namespace', podNamespace),
            name: 'keda-http-manager',
            identity: `${hostname()}_${process.pid}`,
          },
        }
      : {}),
    onLostLeadership: () => {
      log.error('lost leadership; exiting so a new candidate takes over');
      void lifecycle.stop().then(() => process.exit(1));
    },
  });

  const kedas = manager.informer<Keda>(kinds.keda);
  const deployments = manager.informer<KubeObject>(kinds.deployment, {
    labelSelector: `${managedByLabel}=${managedByValue}`,
  });
  const servedKey = (): string[] => {
    const s = servedKeda(kedas.list());
    return s ? [objectKeyOf(s)] : [];
  };

  // Route informers start only once the add-on's CRDs exist (before that their lists would fail).
  let routeInformers: { hso: Informer<HTTPScaledObject>; ir: Informer<InterceptorRoute> } | undefined;
  const reconciler = new AddonReconciler({
    client: manager.client,
    events: manager.events('keda-http-manager'),
    log,
    kedas,
    deployments,
    image: { ...(image ? { image } : {}), pullPolicy },
    reapplyIntervalMs,
    onCrdsInstalled: () => {
      if (routeInformers) return;
      routeInformers = {
        hso: manager.informer<HTTPScaledObject>(kinds.httpScaledObject),
        ir: manager.informer<InterceptorRoute>(kinds.interceptorRoute),
      };
      // Hosts feed the EnvoyFilter: a route added or removed re-renders it.
      controller.watch(routeInformers.hso, { map: servedKey, filter: (e) => e.type !== 'resync' });
      controller.watch(routeInformers.ir, { map: servedKey, filter: (e) => e.type !== 'resync' });
    },
    routeHosts: () => {
      if (!routeInformers?.hso.hasSynced || !routeInformers.ir.hasSynced) return undefined;
      return [
        ...routeInformers.hso.list().flatMap((o) => o.spec.hosts ?? []),
        ...routeInformers.ir.list().flatMap((o) => o.spec.rules?.flatMap((r) => r.hosts ?? []) ?? []),
      ];
    },
  });
  const controller = manager
    .controller({ name: 'addon', reconcile: reconciler.reconcile })
    // Any Keda change can change which one is served, so every Keda object is looked at again.
    .watch(kedas, { map: () => kedas.keys() })
    .watch(deployments, { map: servedKey, filter: (e) => e.type !== 'resync' });

  const servers = await Promise.all([
    metricsAddr
      ? listen({ '/metrics': metricsRoute(registry) }, metricsAddr.port, metricsAddr.host)
      : undefined,
    probeAddr
      ? listen(
          { '/healthz': probe(() => manager.healthz()), '/readyz': probe(() => manager.readyz()) },
          probeAddr.port,
          probeAddr.host,
        )
      : undefined,
  ]);
  lifecycle.onStop('manager', () => manager.stop());
  for (const s of servers) if (s) lifecycle.onStop(`server :${s.port}`, () => s.close());
  lifecycle.handleSignals();
  manager.start();
  log.info('manager started', {
    metrics: metricsAddr ? `${metricsAddr.host}:${servers[0]?.port}` : 'off',
    probes: probeAddr ? `${probeAddr.host}:${servers[1]?.port}` : 'off',
    leaderElection: flags['leader-elect'] === true,
  });
  // Keep running until a signal stops the lifecycle (which exits the process).
  await new Promise<never>(() => undefined);
  return 0;
}
