// `npm start`: the whole system on the embedded default, in one command. It brings up the local
// control plane, the process kubelet and real KEDA, runs the manager, enables the add-on the way
// the Kyma guide shows (`kubectl annotate keda default ...addon-enabled=true`), deploys a sample
// app at zero replicas with an HTTPScaledObject, sends bursts of requests through the interceptor,
// and shows live what happens. It stays up until Ctrl-C, which stops everything it started.
import { resolve } from 'node:path';
import { kubectlPath } from './cluster/control-plane.ts';
import {
  addonCondition,
  addonNamespaceDefault as addonNs,
  burst,
  forwardPort,
  replicas,
  sampleApp,
  sleep,
  startEmbedded,
  waitFor,
  waitForRoute,
  type Embedded,
} from './embedded.ts';

const appNs = 'demo';
const host = 'demo.local';
const localPort = Number(process.env.DEMO_PORT ?? 8080);
const startupDelayMs = Number(process.env.DEMO_STARTUP_DELAY_MS ?? 1500);
const t0 = performance.now();
const say = (msg: string): void => {
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
};

let embedded: Embedded | undefined;
let stopping = false;
async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('stopping everything this command started ...');
    await embedded?.stop().catch(() => undefined);
    say('stopped');
  }
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

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

try {
  const e = (embedded = await startEmbedded({ progress: say }));
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

  for (let round = 1; round <= 2; round++) {
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

  forwardPort(localPort, () => {
    const ip = e.kubelet.resolve(`keda-add-ons-http-interceptor-proxy.${addonNs}`);
    return ip ? { host: ip, port: 8080 } : undefined;
  });
  say('the system is up. Try:');
  process.stdout.write(
    [
      `  curl -i -H 'Host: ${host}' http://127.0.0.1:${localPort}/      # the interceptor's proxy Service, forwarded`,
      `  export KUBECONFIG=${e.kubeconfig}   # kubectl: ${kubectlPath()}`,
      `  kubectl get deploy,httpscaledobject,scaledobject -n ${appNs} -w`,
      `  kubectl get keda default -n ${addonNs} -o yaml`,
      `  kubectl annotate keda default -n ${addonNs} keda.kyma-project.io/addon-namespace=keda --overwrite   # move it`,
      `  logs: ${resolve(e.cluster.dir)}/kubelet/pods/*/`,
      '  Ctrl-C stops everything this command started.',
      '',
    ].join('\n'),
  );
  await new Promise(() => undefined);
} catch (err) {
  process.stderr.write(`\nstart failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await stopAll(1);
}
