// `keda-http scaler [--from-file objects.yaml]`: KEDA's external scaler for HTTP traffic.
// Reads upstream's env vars, picks the object store (a YAML file, or the cluster's informers),
// runs until SIGTERM/SIGINT and stops gracefully.
import { Lifecycle } from '../shared/lifecycle.ts';
import { errorFields } from '../shared/log.ts';
import { commonFlagSpec, serviceArgs } from '../shared/service.ts';
import { createRegistry } from '../shared/metrics.ts';
import { startMetricsExport } from '../shared/telemetry/metrics-export.ts';
import { openStore } from '../runtime/open-store.ts';
import { readConfig } from './config.ts';
import { otlpInstruments, otlpMeterName } from './metrics.ts';
import { startScaler, type RunningScaler } from './scaler.ts';

const flagSpec = { ...commonFlagSpec, 'from-file': 'string' } as const;

const usage = `usage: keda-http scaler [--from-file <objects.yaml> | --kubeconfig <path>] [--zap-log-level=info] [--zap-encoder=json|console]

Without --from-file the scaler reads InterceptorRoutes, HTTPScaledObjects and the interceptor
admin Service's EndpointSlices from the cluster (KUBECONFIG or in-cluster credentials). With it,
the same objects come from a multi-document YAML file that is re-read when it changes.
Configuration comes from upstream's env vars; see addon/scaler/README.md.
`;

export async function main(argv: string[]): Promise<number> {
  const args = serviceArgs('scaler', argv, flagSpec, usage);
  if (!args) return 0;
  const { flags, log } = args;
  const { config, warnings } = readConfig();
  for (const w of warnings) log.warn(w);

  // Upstream's scaler RBAC: EndpointSlices, HTTPScaledObjects, InterceptorRoutes, all namespaces.
  // Only the admin Service's EndpointSlices are of interest, so only those are watched.
  const store = await openStore(flags, log, {
    kinds: ['InterceptorRoute', 'HTTPScaledObject', 'EndpointSlice'],
    resyncPeriodMs: config.resyncPeriodMs,
    labelSelectors: { EndpointSlice: `kubernetes.io/service-name=${config.adminService}` },
  });
  const registry = createRegistry();
  const metricsExport = await startMetricsExport({
    telemetry: config.telemetry,
    registry,
    instruments: otlpInstruments,
    meterName: otlpMeterName,
    log,
  });
  const lifecycle = new Lifecycle(log);
  const started: { scaler?: RunningScaler } = {};
  // In this order: serving and polling stop first, then the store they read from, then the last
  // export of the metrics, which then hold the final tick.
  lifecycle.onStop('stop serving and polling', () => started.scaler?.stop());
  lifecycle.onStop('stop the object store', () => store.stop());
  if (metricsExport) lifecycle.onStop('export the final metrics over OTLP', () => metricsExport.shutdown());
  lifecycle.handleSignals();
  // Upstream waits for the informer cache before it polls or serves.
  await store.synced;
  if (lifecycle.stopping) return 0;
  try {
    started.scaler = await startScaler({ config, store, log, registry });
  } catch (err) {
    // A port in use, typically: say so, release what started, and exit non-zero.
    log.error('the scaler cannot start', errorFields(err));
    process.stderr.write(`keda-http scaler: ${err instanceof Error ? err.message : String(err)}\n`);
    await lifecycle.stop();
    return 1;
  }
  // Keep running until a signal; Lifecycle exits the process when the steps are done.
  await new Promise<never>(() => {});
  return 0;
}
