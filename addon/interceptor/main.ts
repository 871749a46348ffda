// `keda-http interceptor [--from-file routes.yaml]`: reads upstream's env vars, picks the object store
// (a YAML file, or the cluster's informers) and runs the interceptor until SIGTERM/SIGINT.
import { Lifecycle } from '../shared/lifecycle.ts';
import { createRegistry } from '../shared/metrics.ts';
import { commonFlagSpec, serviceArgs } from '../shared/service.ts';
import { startMetricsExport } from '../shared/telemetry/metrics-export.ts';
import { openStore } from '../runtime/open-store.ts';
import { readConfig } from './config.ts';
import { startInterceptor } from './interceptor.ts';
import { otlpInstruments, otlpMeterName } from './metrics.ts';

const flagSpec = { ...commonFlagSpec, 'from-file': 'string' } as const;

const usage = `usage: keda-http interceptor [--from-file <objects.yaml> | --kubeconfig <path>] [--zap-log-level=info] [--zap-encoder=json|console]

Without --from-file the interceptor reads InterceptorRoutes, HTTPScaledObjects, Services,
EndpointSlices and labelled ConfigMaps from the cluster (KUBECONFIG or in-cluster credentials).
Configuration comes from upstream's env vars; see addon/interceptor/README.md.
`;

export async function main(argv: string[]): Promise<number> {
  const args = serviceArgs('interceptor', argv, flagSpec, usage);
  if (!args) return 0;
  const { flags, log } = args;
  const { config, warnings } = readConfig();
  for (const w of warnings) log.warn(w);

  const store = await openStore(flags, log, {
    kinds: ['InterceptorRoute', 'HTTPScaledObject', 'Service', 'EndpointSlice', 'ConfigMap'],
    ...(config.watchNamespace === '' ? {} : { namespace: config.watchNamespace }),
    resyncPeriodMs: config.resyncPeriodMs,
    // Upstream's informer only caches ConfigMaps that may hold response bodies.
    labelSelectors: { ConfigMap: 'http.keda.sh/response-body=true' },
  });
  const fromFile = flags['from-file'];
  const lifecycle = new Lifecycle(log);
  const registry = createRegistry();
  // Before the proxy serves, so the export's cumulative series start before the first request.
  const metricsExport = await startMetricsExport({
    telemetry: config.telemetry,
    registry,
    instruments: otlpInstruments,
    meterName: otlpMeterName,
    log,
  });
  const running = await startInterceptor({
    config,
    store,
    log,
    fileMode: typeof fromFile === 'string',
    registry,
  });
  lifecycle.onStop('drain the proxy (readiness 503, shutdown delay, drain timeout)', () =>
    running.shutdown(),
  );
  lifecycle.onStop('stop the object store', () => store.stop());
  // Last: the final values include every request the drain let finish.
  if (metricsExport) lifecycle.onStop('export the final metrics over OTLP', () => metricsExport.shutdown());
  lifecycle.handleSignals();
  // Keep running until a signal; Lifecycle exits the process when the steps are done.
  await new Promise<never>(() => {});
  return 0;
}
