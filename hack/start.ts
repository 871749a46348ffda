// `npm start`: the whole system on the embedded default, in one command. It brings up the local
// control plane, the process kubelet and real KEDA, runs the manager, enables the add-on the way
// the Kyma guide shows (`kubectl annotate keda default ...addon-enabled=true`), deploys a sample
// app at zero replicas with an HTTPScaledObject, sends bursts of requests through the interceptor,
// and shows live what happens. It stays up until Ctrl-C, which stops everything it started, at
// any moment (start-up included), and exits 130.
//   DEMO_PORT (8080)             the local port forwarded to the interceptor's proxy Service
//   DEMO_STARTUP_DELAY_MS (1500) the sample app's own start-up time
//   DEMO_BURSTS (2)              how many cold-start bursts to show before settling
//   DEMO_CLUSTER_DIR             the state directory (default .cache/local-cluster)
import { resolve } from 'node:path';
import { kubectlPath } from './cluster/control-plane.ts';
import {
  addonCondition,
  addonNamespaceDefault as addonNs,
  burst,
  forwardPort,
  installedAddonNamespace,
  replicas,
  sampleApp,
  sleep,
  startEmbedded,
  waitFor,
  waitForRoute,
  type Embedded,
} from './embedded.ts';
import { ensureSystemPackages } from './system-packages.ts';

const appNs = 'demo';
const host = 'demo.local';
const localPort = Number(process.env.DEMO_PORT ?? 8080);
const startupDelayMs = Number(process.env.DEMO_STARTUP_DELAY_MS ?? 1500);
const bursts = Number(process.env.DEMO_BURSTS ?? 2);
const t0 = performance.now();
const say = (msg: string): void => {
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
};

/** Aborted by Ctrl-C: start-up stops what it has started so far and rejects. */
const interrupted = new AbortController();
let startup: Promise<Embedded> | undefined;
let embedded: Embedded | undefined;
let stopping: Promise<void> | undefined;
function stopAll(code: number): void {
  stopping ??= (async () => {
    say('stopping everything this command started ...');
    interrupted.abort();
    await startup?.catch(() => undefined);
    await embedded?.stop().catch((err: unknown) => say(`  could not stop everything: ${String(err)}`));
    say('stopped');
  })();
  void stopping.then(() => process.exit(code));
}

/** What the demo prints to try once it is up; tests/e2e/start.test.ts runs them in this order. */
function demoCommands(opts: { port: number; kubeconfig: string; stateDir: string }): string[] {
  return [
    `curl -i -H 'Host: ${host}' http://127.0.0.1:${opts.port}/      # the interceptor's proxy Service, forwarded`,
    `export KUBECONFIG=${opts.kubeconfig}   # kubectl: ${kubectlPath()}`,
    `kubectl get deploy,httpscaledobject,scaledobject -n ${appNs}`,
    `kubectl get deploy demo -n ${appNs} -w   # replicas as they change (-w takes one kind)`,
    `kubectl get keda default -n ${addonNs} -o yaml`,
    `kubectl annotate keda default -n ${addonNs} keda.kyma-project.io/addon-namespace=keda --overwrite   # move it`,
    `logs: ${resolve(opts.stateDir)}/kubelet/pods/*/`,
  ];
}

/** The interceptor's counts for the demo's route, from its admin API (undefined while unknown). */
async function routeCounts(e: Embedded): Promise<{ Concurrency: number; RequestCount: number } | undefined> {
  const ip = e.kubelet.resolve(`keda-add-ons-http-interceptor-admin.${addonNs}`);
  if (!ip) return undefined;
  const res = await fetch(`http://${ip}:9090/queue`).catch(() => undefined);
  const q = (await res?.json().catch(() => undefined)) as
    Record<string, { Concurrency: number; RequestCount: number }> | undefined;
  return q?.[`${appNs}/demo`];
}

/**
 * Prints replicas, held requests and the request rate once a second while `work` runs. The rate is
 * the change of the interceptor's RequestCount (it only grows) over the tick, from a baseline read
 * before `work` starts, so the first tick of a burst already shows it.
 */
async function watching<T>(e: Embedded, work: () => Promise<T>): Promise<T> {
  let done = false;
  let lastCount = (await routeCounts(e))?.RequestCount;
  const ticker = (async () => {
    while (!done) {
      await sleep(1000);
      if (done) break;
      const [r, c] = await Promise.all([
        replicas(e, appNs, 'demo').catch(() => ({ spec: 0, ready: 0 })),
        routeCounts(e),
      ]);
      const rate = c && lastCount !== undefined ? `${Math.max(0, c.RequestCount - lastCount)} req/s` : '?';
      lastCount = c?.RequestCount ?? lastCount;
      say(
        `    replicas ${r.ready}/${r.spec}   held/in-flight requests ${c?.Concurrency ?? '?'}   request rate ${rate}   total requests ${c?.RequestCount ?? '?'}`,
      );
    }
  })();
  try {
    return await work();
  } finally {
    done = true;
    await ticker;
  }
}

async function main(): Promise<void> {
  ensureSystemPackages('start');
  startup = startEmbedded({ dir: process.env.DEMO_CLUSTER_DIR, progress: say, signal: interrupted.signal });
  const e = (embedded = await startup);
  say(`$ kubectl annotate keda default -n ${addonNs} keda.kyma-project.io/addon-enabled=true`);
  await e.kubectl([
    'annotate',
    'keda',
    'default',
    '-n',
    addonNs,
    '--overwrite',
    'keda.kyma-project.io/addon-enabled=true',
  ]);
  let last = '';
  await waitFor('AddonInstalled=True', async () => {
    const cond = await addonCondition(e);
    if (cond.message && cond.message !== last)
      say(`  AddonInstalled=${cond.status} ${cond.reason}: ${cond.message}`);
    last = cond.message ?? last;
    return cond.status === 'True' ? true : undefined;
  });

  say(
    `deploying the sample app ${appNs}/demo at zero replicas (start-up delay ${startupDelayMs} ms) with an HTTPScaledObject for ${host}`,
  );
  await e.kubectl(
    ['apply', '-f', '-'],
    sampleApp({ namespace: appNs, host, startupDelayMs, scaledownPeriod: 15 }),
  );
  await waitForRoute(e, addonNs, `${appNs}/demo`);

  for (let round = 1; round <= bursts; round++) {
    say(`burst ${round}: 50 concurrent requests to http://${host}/ with the app at zero replicas`);
    const r = await watching(e, () => burst(e, addonNs, host, 50));
    say(
      `  statuses ${JSON.stringify(r.statuses)}; cold start ${r.ms[0]?.toFixed(0)} ms to the first response, ` +
        `${r.ms.at(-1)?.toFixed(0)} ms to the last (the app itself takes ${startupDelayMs} ms to start); ` +
        `X-KEDA-HTTP-Cold-Start: ${r.coldStart}`,
    );
    say('  waiting for KEDA to scale the app back to zero (cooldown 15 s) ...');
    const t = performance.now();
    await watching(e, () =>
      waitFor('zero replicas', async () =>
        (await replicas(e, appNs, 'demo')).spec === 0 ? true : undefined,
      ),
    );
    say(`  back at zero replicas after ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }

  // The add-on's namespace is looked up at each connection: the printed "move it" moves it.
  const forward = forwardPort(localPort, async () => {
    const ip = e.kubelet.resolve(`keda-add-ons-http-interceptor-proxy.${await installedAddonNamespace(e)}`);
    return ip ? { host: ip, port: 8080 } : undefined;
  });
  await new Promise<void>((res, rej) => {
    forward.once('listening', res);
    forward.once('error', (err) => rej(new Error(`cannot forward 127.0.0.1:${localPort}: ${err.message}`)));
  });
  say('the system is up. Try:');
  const commands = demoCommands({ port: localPort, kubeconfig: e.kubeconfig, stateDir: e.cluster.dir });
  process.stdout.write(
    [...commands.map((c) => `  ${c}`), '  Ctrl-C stops everything this command started.', ''].join('\n'),
  );
}

if (import.meta.main) {
  process.on('SIGINT', () => stopAll(130));
  process.on('SIGTERM', () => stopAll(143));
  main().catch((err: unknown) => {
    if (interrupted.signal.aborted) return; // Ctrl-C: stopAll is already stopping everything
    process.stderr.write(`\nstart failed: ${err instanceof Error ? err.message : String(err)}\n`);
    stopAll(1);
  });
}
