// `npm run bench:e2e`: cold start and warm overhead of this add-on against the upstream Go add-on,
// in one run, on one local control plane, with one KEDA. Both add-ons run side by side as pods of
// the process kubelet: ours installed by the manager from the Keda annotation (kyma-system), the
// upstream one (its interceptor, scaler and operator built from its Go module at the pinned release)
// from its own manifests (keda-upstream). Each serves the same app (the echo image, the same start-up
// delay) in its own namespace under its own host; each operator is restricted to its namespace so
// the two never reconcile the same HTTPScaledObject. Samples alternate between the two add-ons.
//
// Per cold sample (the app at zero: no pod, no endpoint), timestamps on this process's clock:
//   sent       the request leaves for the interceptor's pod
//   activated  KEDA set the Deployment's replicas from 0 (a watch event)
//   ready      the app's EndpointSlice has a ready endpoint (a watch event)
//   answered   the full response arrived
// The add-on's own share is (activated - sent) + (answered - ready): request to KEDA activation
// (interceptor counting, scaler, KEDA reacting to the scaler) plus backend ready to response
// (interceptor noticing readiness and forwarding). Between activated and ready is the cluster's and
// the app's time (ReplicaSet, scheduling, process start, the app's own start-up, readiness probe),
// the same for both add-ons.
//
// Warm: wrk (fixed connections) and a fixed-rate client against each interceptor's pod, the app up.
// Both interceptors run with their defaults and reach the app through its Service, as users run
// them (upstream v0.15.0 has no direct pod routing). The Service's proxy is the process kubelet's
// userspace proxy, which runs in this process: it is on both add-ons' path alike, and wrk runs
// without blocking this process (wrkAsync) so that it keeps forwarding.
import { join, resolve } from 'node:path';
import http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { Informer, KubeClient } from '../../addon/runtime/index.ts';
import { kinds, type KubeObject } from '../../addon/api/index.ts';
import {
  addonCondition,
  addonNamespaceDefault,
  get,
  replicas,
  sampleApp,
  sleep,
  startEmbedded,
  waitFor,
  type Embedded,
} from '../embedded.ts';
import { upstreamBinary, upstreamVersion } from '../upstream-addon.ts';
import { versions } from '../cluster/control-plane.ts';
import { fixedRate, round, wrkAsync } from './interceptor-lib.ts';
import { report } from './report.ts';
import { UPSTREAM_PORTS, upstreamAddon } from './upstream-manifests.ts';
import { renderColdStartChart } from './chart.ts';
import { ensureSystemPackages } from '../system-packages.ts';

const samples = Number(process.env.BENCH_E2E_SAMPLES ?? 10);
const startupDelayMs = Number(process.env.BENCH_E2E_STARTUP_DELAY_MS ?? 1000);
const scaledownPeriod = 5;
const warmSeconds = Number(process.env.BENCH_E2E_WARM_SECONDS ?? 8);
const fixedRps = Number(process.env.BENCH_E2E_FIXED_RPS ?? 500);
const warmRounds = Number(process.env.BENCH_E2E_WARM_ROUNDS ?? 3);
const chartPath = resolve(import.meta.dirname, '../../docs/images/bench-e2e-cold-start.png');

const t0 = performance.now();
const say = (msg: string): void => {
  process.stderr.write(`[bench:e2e ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);
};

interface AddonUnderTest {
  label: string;
  /** Where the interceptor and its Services run. */
  namespace: string;
  /** Where the app, its Service and its HTTPScaledObject live. */
  appNamespace: string;
  host: string;
  proxyPort: number;
  adminPort: number;
  /** The interceptor pod's address, read once it runs. */
  podIP?: string;
}

const ours: AddonUnderTest = {
  label: 'keda-http (this)',
  namespace: addonNamespaceDefault,
  appNamespace: 'bench-ours',
  host: 'ours.bench.local',
  proxyPort: 8080,
  adminPort: 9090,
};
const upstream: AddonUnderTest = {
  label: `upstream ${upstreamVersion()} (Go)`,
  namespace: 'keda-upstream',
  appNamespace: 'bench-upstream',
  host: 'upstream.bench.local',
  proxyPort: UPSTREAM_PORTS.proxy,
  adminPort: UPSTREAM_PORTS.admin,
};
const addons = [ours, upstream];

interface ColdSample {
  totalMs: number;
  activationMs: number;
  readyToResponseMs: number;
  addonShareMs: number;
  clusterAndAppMs: number;
  status: string;
}

const deploymentKind = kinds.deployment;
const sliceKind = kinds.endpointSlice;
type Deployment = KubeObject & { spec?: { replicas?: number }; status?: { replicas?: number } };
type Slice = KubeObject & { endpoints?: { conditions?: { ready?: boolean } }[] };

/** Watches each app's Deployment and EndpointSlices; stamps the first scale-up and the first ready endpoint. */
class Marks {
  readonly deployments: Informer<Deployment>;
  readonly slices: Informer<Slice>;
  #armed = new Map<string, { activated?: number; ready?: number }>();

  constructor(client: KubeClient) {
    const opts = { labelSelector: undefined, resyncPeriodMs: 0 };
    this.deployments = new Informer<Deployment>(client, deploymentKind, opts);
    this.slices = new Informer<Slice>(client, sliceKind, {
      ...opts,
      labelSelector: 'kubernetes.io/service-name=demo',
    });
    this.deployments.on(({ object }) => {
      const m = this.#armed.get(object.metadata.namespace ?? '');
      if (
        m &&
        m.activated === undefined &&
        object.metadata.name === 'demo' &&
        (object.spec?.replicas ?? 0) > 0
      )
        m.activated = performance.now();
    });
    this.slices.on(({ object }) => {
      const m = this.#armed.get(object.metadata.namespace ?? '');
      if (m && m.ready === undefined && (object.endpoints ?? []).some((e) => e.conditions?.ready === true))
        m.ready = performance.now();
    });
    this.deployments.start();
    this.slices.start();
  }

  arm(namespace: string): { activated?: number; ready?: number } {
    const m = {};
    this.#armed.set(namespace, m);
    return m;
  }

  /** The app has no replica, no pod and no endpoint: the next request is a cold start. */
  atZero(namespace: string): boolean {
    const d = this.deployments.get(namespace, 'demo');
    const slices = this.slices.list(namespace);
    return (
      d !== undefined &&
      (d.spec?.replicas ?? 0) === 0 &&
      (d.status?.replicas ?? 0) === 0 &&
      slices.every((s) => (s.endpoints ?? []).length === 0)
    );
  }

  stop(): void {
    this.deployments.stop();
    this.slices.stop();
  }
}

async function podIP(e: Embedded, namespace: string): Promise<string> {
  return waitFor(`a running interceptor pod in ${namespace}`, async () => {
    const out = await e.kubectl([
      'get',
      'pods',
      '-n',
      namespace,
      '-l',
      'app.kubernetes.io/instance=interceptor',
      '--field-selector=status.phase=Running',
      '-o',
      'jsonpath={.items[*].status.podIP}',
    ]);
    const ips = out.split(' ').filter(Boolean);
    return ips.length === 1 ? ips[0] : undefined;
  });
}

async function rolledOut(e: Embedded, namespace: string, name: string): Promise<void> {
  await e.kubectl(['rollout', 'status', '-n', namespace, `deployment/${name}`, '--timeout=300s']);
}

async function install(e: Embedded): Promise<void> {
  say(`$ kubectl annotate keda default -n ${ours.namespace} keda.kyma-project.io/addon-enabled=true`);
  await e.kubectl([
    'annotate',
    'keda',
    'default',
    '-n',
    ours.namespace,
    '--overwrite',
    'keda.kyma-project.io/addon-enabled=true',
  ]);
  await waitFor(
    'AddonInstalled=True',
    async () => ((await addonCondition(e)).status === 'True' ? true : undefined),
    300_000,
  );
  // Users tune the add-on with `kubectl set env`; the manager keeps such patches.
  await e.kubectl([
    'set',
    'env',
    '-n',
    ours.namespace,
    'deployment/keda-add-ons-http-operator',
    `KEDA_HTTP_OPERATOR_WATCH_NAMESPACE=${ours.appNamespace}`,
  ]);

  say(`installing the upstream add-on ${upstreamVersion()} in ${upstream.namespace}`);
  const objects = upstreamAddon(upstream.namespace, upstream.appNamespace);
  await e.kubectl(['apply', '-f', '-'], objects.map((o) => JSON.stringify(o)).join('\n---\n'));
  for (const a of addons)
    for (const d of ['interceptor', 'external-scaler', 'operator'])
      await rolledOut(e, a.namespace, `keda-add-ons-http-${d}`);
  for (const a of addons) a.podIP = await podIP(e, a.namespace);

  say(
    `deploying the same app twice (start-up delay ${startupDelayMs} ms), at zero, one HTTPScaledObject each`,
  );
  for (const a of addons)
    await e.kubectl(
      ['apply', '-f', '-'],
      sampleApp({ namespace: a.appNamespace, host: a.host, startupDelayMs, scaledownPeriod }),
    );
  for (const a of addons) {
    await waitFor(
      `${a.label}: KEDA's ScaledObject for ${a.appNamespace}/demo Ready`,
      async () => {
        const ready = await e.kubectl([
          'get',
          'scaledobject',
          'demo',
          '-n',
          a.appNamespace,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return ready === 'True' ? true : undefined;
      },
      300_000,
    );
    await waitFor(`${a.label}: the interceptor knows ${a.appNamespace}/demo`, async () => {
      const q = (await (await fetch(`http://${a.podIP}:${a.adminPort}/queue`)).json()) as object;
      return `${a.appNamespace}/demo` in q ? true : undefined;
    });
  }
}

async function coldSample(marks: Marks, a: AddonUnderTest): Promise<ColdSample> {
  await waitFor(
    `${a.label}: the app at zero`,
    async () => (marks.atZero(a.appNamespace) ? true : undefined),
    180_000,
  );
  // Every interceptor's cache has to have seen the endpoint go, or the request is not a cold start.
  await sleep(1000);
  const m = marks.arm(a.appNamespace);
  const agent = new http.Agent({ keepAlive: false });
  const sent = performance.now();
  const r = await get(agent, a.podIP!, a.host, '/', a.proxyPort);
  const answered = sent + r.ms;
  agent.destroy();
  await waitFor(
    `${a.label}: both watch events`,
    async () => (m.activated && m.ready ? true : undefined),
    10_000,
  ).catch(() => undefined);
  const activated = m.activated ?? NaN;
  const ready = Math.min(m.ready ?? NaN, answered);
  const s: ColdSample = {
    totalMs: r.ms,
    activationMs: activated - sent,
    readyToResponseMs: answered - ready,
    addonShareMs: activated - sent + (answered - ready),
    clusterAndAppMs: ready - activated,
    status: r.status,
  };
  say(
    `  ${a.label.padEnd(24)} ${r.status} in ${s.totalMs.toFixed(0)} ms: activation ${s.activationMs.toFixed(0)} ms, ` +
      `cluster + app ${s.clusterAndAppMs.toFixed(0)} ms, ready to response ${s.readyToResponseMs.toFixed(0)} ms` +
      `${r.cold ? '' : ' (no X-KEDA-HTTP-Cold-Start header)'}`,
  );
  return s;
}

async function warm(
  a: AddonUnderTest,
): Promise<{ rps: number; p99ms: number; fixedP50ms: number; fixedP99ms: number; errors: number }> {
  const url = `http://${a.podIP}:${a.proxyPort}/`;
  // The app has to be up: the first request may be a cold start.
  await waitFor(`${a.label}: the app answering`, async () => {
    const r = await get(new http.Agent(), a.podIP!, a.host, '/', a.proxyPort);
    return r.status === '200' ? true : undefined;
  });
  const w = await wrkAsync(url, { host: a.host, connections: 50, seconds: warmSeconds, cpus: '0,1' });
  const f = await fixedRate(url, { host: a.host, rps: fixedRps, seconds: warmSeconds });
  say(
    `  ${a.label.padEnd(24)} wrk ${w.rps.toFixed(0)} req/s p99 ${w.p99ms} ms; at ${fixedRps} req/s p50 ${f.p50ms.toFixed(1)} ms p99 ${f.p99ms.toFixed(1)} ms; errors ${w.errors + f.errors}`,
  );
  return {
    rps: w.rps,
    p99ms: w.p99ms,
    fixedP50ms: f.p50ms,
    fixedP99ms: f.p99ms,
    errors: w.errors + f.errors,
  };
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const worst = (xs: number[]): number => Math.max(...xs.filter((x) => !Number.isNaN(x)));
const ms = (n: number): string => (Number.isNaN(n) ? '-' : `${round(n)}`);

async function main(): Promise<void> {
  // Before the long part: wrk, taskset and Chromium (the chart) are there or installed, and the
  // upstream binaries are built.
  ensureSystemPackages('bench');
  for (const c of ['interceptor', 'scaler', 'operator'] as const) upstreamBinary(c);
  const e = await startEmbedded({
    dir: resolve(import.meta.dirname, '../../.cache/bench-e2e-cluster'),
    progress: say,
  });
  let marks: Marks | undefined;
  try {
    await install(e);
    const kc = new KubeConfig();
    kc.loadFromFile(e.kubeconfig);
    marks = new Marks(new KubeClient(kc));
    await Promise.all([marks.deployments.synced, marks.slices.synced]);

    say(`cold starts: ${samples} per add-on, alternating (each waits for its app to be back at zero)`);
    const cold = new Map<AddonUnderTest, ColdSample[]>(addons.map((a) => [a, []]));
    for (let i = 0; i < samples; i++) {
      for (const a of i % 2 === 0 ? addons : [...addons].reverse())
        cold.get(a)!.push(await coldSample(marks, a));
    }

    say(
      `warm: wrk (50 connections, ${warmSeconds} s) and ${fixedRps} req/s fixed rate, a warm-up round, then ${warmRounds} rounds, alternating`,
    );
    // Warm means the app stays up between rounds: one replica at least, as a user would pin it.
    for (const a of addons)
      await e.kubectl([
        'patch',
        'httpscaledobject',
        'demo',
        '-n',
        a.appNamespace,
        '--type=merge',
        '-p',
        '{"spec":{"replicas":{"min":1}}}',
      ]);
    for (const a of addons)
      await waitFor(
        `${a.label}: the app at one replica or more`,
        async () => ((await replicas(e, a.appNamespace, 'demo')).ready >= 1 ? true : undefined),
        180_000,
      );
    const warmRuns = new Map<AddonUnderTest, Awaited<ReturnType<typeof warm>>[]>(addons.map((a) => [a, []]));
    // One unrecorded round first: it warms both alike (JIT, connection pools, the app), as a
    // benchmark's warm-up should; the recorded rounds alternate which add-on goes first.
    for (const a of addons) await warm(a);
    for (let i = 0; i < warmRounds; i++)
      for (const a of i % 2 === 0 ? addons : [...addons].reverse()) warmRuns.get(a)!.push(await warm(a));

    const row = (a: AddonUnderTest): (string | number)[] => {
      const c = cold.get(a)!;
      const w = warmRuns.get(a)!;
      const ok = c.filter((s) => s.status === '200').length;
      return [
        a.label,
        `${ok}/${c.length}`,
        ms(median(c.map((s) => s.totalMs))),
        ms(worst(c.map((s) => s.totalMs))),
        ms(median(c.map((s) => s.activationMs))),
        ms(median(c.map((s) => s.readyToResponseMs))),
        ms(median(c.map((s) => s.addonShareMs))),
        ms(worst(c.map((s) => s.addonShareMs))),
        ms(median(c.map((s) => s.clusterAndAppMs))),
        round(median(w.map((x) => x.rps))),
        round(median(w.map((x) => x.fixedP99ms)), 1),
        w.reduce((n, x) => n + x.errors, 0),
      ];
    };
    const oc = cold.get(ours)!;
    const uc = cold.get(upstream)!;
    const ow = warmRuns.get(ours)!;
    const uw = warmRuns.get(upstream)!;
    const shareRatio = median(oc.map((s) => s.addonShareMs)) / median(uc.map((s) => s.addonShareMs));
    const rpsRatio = median(ow.map((x) => x.rps)) / median(uw.map((x) => x.rps));
    const p99Ours = median(ow.map((x) => x.fixedP99ms));
    const p99Up = median(uw.map((x) => x.fixedP99ms));
    const verdicts = [
      `add-on's own share of a cold start under a tenth of upstream's: ${shareRatio < 0.1 ? 'met' : 'MISSED'} (${round(shareRatio, 3)}x upstream, median ${ms(median(oc.map((s) => s.addonShareMs)))} ms vs ${ms(median(uc.map((s) => s.addonShareMs)))} ms)`,
      `warm throughput no worse than upstream: ${rpsRatio >= 1 ? 'met' : `MISSED by ${round((1 - rpsRatio) * 100, 1)}%`} (${round(rpsRatio, 2)}x)`,
      `p99 at ${fixedRps} req/s no worse than upstream: ${p99Ours <= p99Up ? 'met' : 'MISSED'} (${round(p99Ours, 1)} ms vs ${round(p99Up, 1)} ms)`,
    ];

    await report({
      name: 'e2e',
      title: 'End to end: cold start and warm overhead, this add-on vs upstream, same cluster and KEDA',
      columns: [
        'add-on',
        'cold 200s',
        'cold p50 ms',
        'cold worst ms',
        'request to activation p50',
        'ready to response p50',
        "add-on's share p50",
        "add-on's share worst",
        'cluster + app p50',
        'warm req/s (wrk 50 conn)',
        `p99 ms @${fixedRps}/s`,
        'warm errors',
      ],
      rows: addons.map(row),
      verdicts,
      versions: {
        'upstream http-add-on': upstreamVersion(),
        KEDA: versions().KEDA_VERSION,
        Kubernetes: versions().KUBERNETES_VERSION,
      },
      notes: [
        `![cold start chart](images/${chartPath.split('/').pop()})`,
        'Each cold sample: the app (the echo image, start-up delay ' +
          `${startupDelayMs} ms, readiness probe every 1 s) at zero replicas with no pod and no endpoint; one GET sent to ` +
          "the interceptor's pod. `request to activation`: sent to KEDA setting the Deployment's replicas (a watch event); " +
          "`ready to response`: the app's EndpointSlice turning ready (a watch event) to the full response; the add-on's " +
          'share is their sum. `cluster + app` (ReplicaSet, pod start, app start-up, readiness probe) is between them and ' +
          'the same for both add-ons. Samples alternate between the add-ons (the order flips every pair).',
        'Both add-ons run as pods of the process kubelet on the same control plane with the same KEDA: ours installed by ' +
          `the manager from the Keda annotation in ${ours.namespace}, upstream's interceptor, scaler and operator (built ` +
          `from github.com/kedacore/http-add-on at ${upstreamVersion()}) from its manifests in ${upstream.namespace}, ` +
          'each operator restricted to its app namespace. Both interceptors run with their defaults and reach the app ' +
          "through its Service, whose proxy is the process kubelet's userspace proxy (a Node TCP relay in the benchmark's " +
          'own process, upstream v0.15.0 having no direct pod routing): it is on both paths alike, adds a hop a kernel ' +
          'kube-proxy would not, and caps both warm numbers; bench:interceptor compares the interceptors without it. ' +
          'Warm: wrk and the fixed-rate client on the same 2 cores as everything else (not pinned): compare the ratio, ' +
          `not the absolute numbers. After one unrecorded warm-up round for each add-on, ${warmRounds} rounds alternate ` +
          'which goes first; the table has the median of the rounds. p99 at the fixed rate is the 1% slowest of ' +
          `${fixedRps * warmSeconds} requests per round and moves by several times between rounds with the machine's ` +
          'other load (the JSON line has every round).',
      ],
      data: {
        samples,
        startupDelayMs,
        cold: Object.fromEntries(addons.map((a) => [a.label, cold.get(a)])),
        warm: Object.fromEntries(addons.map((a) => [a.label, warmRuns.get(a)])),
        shareRatio,
        rpsRatio,
        chart: join('docs/images', chartPath.split('/').pop()!),
      },
    });
    // The results are printed and written first: a chart that cannot be drawn loses none of them.
    await renderColdStartChart({
      path: chartPath,
      title: 'Cold start from zero replicas: one request, request sent to response',
      subtitle: `${samples} samples each, alternating; app start-up delay ${startupDelayMs} ms; same KEDA ${versions().KEDA_VERSION}`,
      series: addons.map((a) => ({
        label: a.label,
        samplesMs: cold.get(a)!.map((s) => s.totalMs),
        addonShareMs: cold.get(a)!.map((s) => s.addonShareMs),
      })),
    });
    say(`chart written to ${chartPath}`);
  } finally {
    marks?.stop();
    say('stopping everything this benchmark started');
    await e.stop({ purge: true });
  }
}

await main();
