// `keda-http scaler [--from-file objects.yaml]`: KEDA's external scaler for HTTP traffic.
// Reads upstream's env vars, picks the object store (a YAML file, or the cluster's informers),
// runs until SIGTERM/SIGINT and stops gracefully.
import { existsSync } from 'node:fs';
import { parseFlags } from '../shared/config.ts';
import { Lifecycle } from '../shared/lifecycle.ts';
import { createLogger, parseLogLevel, type Logger } from '../shared/log.ts';
import { createRegistry } from '../shared/metrics.ts';
import { FileStore } from '../shared/store/file-store.ts';
import type { ObjectStore, StoreKind } from '../shared/store/store.ts';
import { readConfig, type ScalerConfig } from './config.ts';
import { startScaler, type RunningScaler } from './scaler.ts';

const flagSpec = {
  'from-file': 'string',
  'zap-log-level': 'string',
  'zap-encoder': 'string',
  'zap-time-encoding': 'string',
  'zap-devel': 'boolean',
  'zap-stacktrace-level': 'string',
} as const;

const usage = `usage: keda-http scaler [--from-file <objects.yaml>] [--zap-log-level=info] [--zap-encoder=json|console]

Without --from-file the scaler reads InterceptorRoutes, HTTPScaledObjects and the interceptor
admin Service's EndpointSlices from the cluster (KUBECONFIG or in-cluster credentials). With it,
the same objects come from a multi-document YAML file that is re-read when it changes.
Configuration comes from upstream's env vars; see addon/scaler/README.md.
`;

async function clusterStore(config: ScalerConfig, log: Logger): Promise<ObjectStore> {
  const url = new URL('../shared/store/cluster-store.ts', import.meta.url);
  if (!existsSync(url)) {
    throw new Error(
      'cluster mode needs addon/shared/store/cluster-store.ts, which is not in this build yet; run with --from-file <objects.yaml> instead',
    );
  }
  const mod = (await import(url.href)) as Record<string, unknown>;
  const Ctor = mod['ClusterStore'];
  if (typeof Ctor !== 'function')
    throw new Error('addon/shared/store/cluster-store.ts does not export ClusterStore');
  // Upstream's scaler RBAC: EndpointSlices, HTTPScaledObjects, InterceptorRoutes, all namespaces.
  const kinds: StoreKind[] = ['InterceptorRoute', 'HTTPScaledObject', 'EndpointSlice'];
  return new (Ctor as new (opts: Record<string, unknown>) => ObjectStore)({
    log,
    kinds,
    resyncPeriodMs: config.resyncPeriodMs,
  });
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(usage);
    return 0;
  }
  const { flags, positionals } = parseFlags(argv, flagSpec);
  if (positionals.length > 0) throw new Error(`unexpected arguments: ${positionals.join(' ')}\n\n${usage}`);
  const log = createLogger({
    component: 'scaler',
    level: parseLogLevel(
      typeof flags['zap-log-level'] === 'string' ? flags['zap-log-level'] : process.env['LOG_LEVEL'],
    ),
    format: flags['zap-encoder'] === 'console' ? 'console' : 'json',
  });
  const { config, warnings } = readConfig();
  for (const w of warnings) log.warn(w);

  const fromFile = flags['from-file'];
  const store = typeof fromFile === 'string' ? new FileStore(fromFile, log) : await clusterStore(config, log);
  const lifecycle = new Lifecycle(log);
  const started: { scaler?: RunningScaler } = {};
  // In this order: serving and polling stop first, then the store they read from.
  lifecycle.onStop('stop serving and polling', () => started.scaler?.stop());
  lifecycle.onStop('stop the object store', () => store.stop());
  lifecycle.handleSignals();
  // Upstream waits for the informer cache before it polls or serves.
  await store.synced;
  if (lifecycle.stopping) return 0;
  started.scaler = await startScaler({ config, store, log, registry: createRegistry() });
  // Keep running until a signal; Lifecycle exits the process when the steps are done.
  await new Promise<never>(() => {});
  return 0;
}
