// End to end on the embedded default: a real control plane, the process kubelet running every pod
// as a local process, real KEDA, and this project's manager, interceptor, scaler and operator.
// The scenarios run in order, like one user's session, and print how long each phase took.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import {
  addonCondition,
  burst,
  replicas,
  sampleApp,
  sleep,
  startEmbedded,
  waitFor,
  waitForRoute,
  type Embedded,
} from '../../hack/embedded.ts';
import { startCollector } from '../harness/otel-collector.ts';

const dir = resolve(import.meta.dirname, '../../.cache/e2e-cluster');
const kedaNs = 'kyma-system';
const appNs = 'shop';
const startupDelayMs = 2000;
let e: Embedded;
let addonNs = kedaNs;

const phases: string[] = [];
function phase(name: string, since: number): void {
  phaseMs(name, performance.now() - since);
}
function phaseMs(name: string, ms: number): void {
  const line = `${name}: ${(ms / 1000).toFixed(2)} s`;
  phases.push(line);
  process.stderr.write(`[e2e] ${line}\n`);
}

/** `kubectl annotate keda default ...`, as a user types it. */
async function annotate(pair: string): Promise<void> {
  await e.kubectl(['annotate', 'keda', 'default', '-n', kedaNs, '--overwrite', pair]);
}

async function installed(ns: string): Promise<void> {
  await waitFor(
    `AddonInstalled=True in ${ns}`,
    async () => {
      const c = await addonCondition(e);
      return c.status === 'True' && c.message?.endsWith(`namespace ${ns}`) ? true : undefined;
    },
    240_000,
  );
}

/** Sends `count` concurrent requests with the app at zero; asserts every one is answered 200. */
async function coldBurst(host: string, name: string, count: number): Promise<void> {
  assert.equal((await replicas(e, appNs, name)).spec, 0, 'the app starts at zero replicas');
  const r = await burst(e, addonNs, host, count);
  phaseMs(
    `${name}: first response from zero (the app's own start-up, ${startupDelayMs} ms, included)`,
    r.ms[0] ?? 0,
  );
  phaseMs(`${name}: last of ${count} concurrent responses from zero`, r.ms.at(-1) ?? 0);
  process.stderr.write(
    `[e2e] ${name}: first ${r.ms[0]?.toFixed(0)} ms, last ${r.ms.at(-1)?.toFixed(0)} ms, statuses ${JSON.stringify(r.statuses)}\n`,
  );
  if (r.ok !== count) {
    const logs = await e
      .kubectl(['logs', '-n', addonNs, 'deployment/keda-add-ons-http-interceptor', '--tail=30'])
      .catch((err: unknown) => String(err));
    process.stderr.write(`[e2e] interceptor log tail:\n${logs}\n`);
  }
  assert.deepEqual(r.statuses, { '200': count }, 'every request answered 200, none lost');
  assert.ok(r.coldStart, 'X-KEDA-HTTP-Cold-Start: true on the requests that waited');
  assert.ok((await replicas(e, appNs, name)).spec >= 1, 'the app was scaled up');
}

async function backToZero(name: string): Promise<void> {
  const t = performance.now();
  await waitFor(
    `${name} back at zero replicas`,
    async () => ((await replicas(e, appNs, name)).spec === 0 ? true : undefined),
    120_000,
  );
  phase(`${name}: scale back to zero after the burst`, t);
}

describe('end to end', { concurrency: false }, () => {
  before(async () => {
    const t = performance.now();
    e = await startEmbedded({ dir, progress: (m) => process.stderr.write(`[e2e] ${m}\n`) });
    phase('control plane, kubelet, KEDA and manager up', t);
  });

  after(async () => {
    process.stderr.write(`[e2e] phases:\n${phases.map((p) => `  ${p}`).join('\n')}\n`);
    await e?.stop({ purge: true });
  });

  test('1. annotating the Keda object installs the add-on; its Deployments run; AddonInstalled=True', async () => {
    const t = performance.now();
    await annotate('keda.kyma-project.io/addon-enabled=true');
    await installed(kedaNs);
    phase('install (annotate to AddonInstalled=True)', t);
    const pods = await e.kubectl([
      'get',
      'pods',
      '-n',
      kedaNs,
      '-o',
      'jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\\n"}{end}',
    ]);
    for (const d of ['interceptor', 'external-scaler', 'operator']) {
      assert.match(pods, new RegExp(`keda-add-ons-http-${d}-\\S+ Running`), `${d} runs`);
    }
  });

  test('2a. HTTPScaledObject: 200 concurrent requests at zero are all answered, then back to zero', async () => {
    await e.kubectl(
      ['apply', '-f', '-'],
      sampleApp({
        namespace: appNs,
        name: 'web',
        host: 'web.shop.test',
        startupDelayMs,
        scaledownPeriod: 10,
      }),
    );
    await waitFor('the ScaledObject made by the operator', async () =>
      (await e.kubectl(['get', 'scaledobject', 'web', '-n', appNs, '-o', 'name']).catch(() => ''))
        ? true
        : undefined,
    );
    await waitForRoute(e, addonNs, `${appNs}/web`);
    await coldBurst('web.shop.test', 'web', 200);
    await backToZero('web');
  });

  test('2b. InterceptorRoute with a user ScaledObject: the same from zero', async () => {
    const app = sampleApp({ namespace: appNs, name: 'api', host: 'api.shop.test', startupDelayMs })
      .split('\n---\n')
      .filter((d) => !d.includes('"HTTPScaledObject"'))
      .join('\n---\n');
    await e.kubectl(['apply', '-f', '-'], app);
    await e.kubectl(
      ['apply', '-f', '-'],
      [
        {
          apiVersion: 'http.keda.sh/v1beta1',
          kind: 'InterceptorRoute',
          metadata: { name: 'api', namespace: appNs },
          spec: {
            target: { service: 'api', port: 8080 },
            rules: [{ hosts: ['api.shop.test'] }],
            scalingMetric: { concurrency: { targetValue: 100 } },
          },
        },
        {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'ScaledObject',
          metadata: { name: 'api', namespace: appNs },
          spec: {
            scaleTargetRef: { name: 'api' },
            minReplicaCount: 0,
            maxReplicaCount: 3,
            cooldownPeriod: 10,
            pollingInterval: 5,
            triggers: [
              {
                type: 'external-push',
                metadata: {
                  interceptorRoute: 'api',
                  scalerAddress: `keda-add-ons-http-external-scaler.${addonNs}:9090`,
                },
              },
            ],
          },
        },
      ]
        .map((o) => JSON.stringify(o))
        .join('\n---\n'),
    );
    await waitForRoute(e, addonNs, `${appNs}/api`);
    await waitFor('KEDA to scale api to zero', async () =>
      (await replicas(e, appNs, 'api')).spec === 0 ? true : undefined,
    );
    await coldBurst('api.shop.test', 'api', 200);
    await backToZero('api');
  });

  test('3. restarting the interceptor while requests are in flight loses none', async () => {
    // Warm the app so the requests are in flight at the restart, not waiting for a cold start.
    const warm = await burst(e, addonNs, 'web.shop.test', 1);
    assert.deepEqual(warm.statuses, { '200': 1 });
    const t = performance.now();
    let stop = false;
    const statuses: Record<string, number> = {};
    const traffic = (async () => {
      while (!stop) {
        const r = await burst(e, addonNs, 'web.shop.test', 10);
        for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
      }
    })();
    await sleep(1000);
    await e.kubectl(['rollout', 'restart', 'deployment/keda-add-ons-http-interceptor', '-n', addonNs]);
    await e.kubectl([
      'rollout',
      'status',
      'deployment/keda-add-ons-http-interceptor',
      '-n',
      addonNs,
      '--timeout=120s',
    ]);
    await sleep(2000);
    stop = true;
    await traffic;
    phase('interceptor rollout under traffic', t);
    process.stderr.write(`[e2e] requests during the interceptor restart: ${JSON.stringify(statuses)}\n`);
    assert.deepEqual(
      Object.keys(statuses),
      ['200'],
      `every request answered 200: ${JSON.stringify(statuses)}`,
    );
  });

  test('4. restarting the scaler: KEDA reconnects and scaling goes on', async () => {
    await e.kubectl(['rollout', 'restart', 'deployment/keda-add-ons-http-external-scaler', '-n', addonNs]);
    await e.kubectl([
      'rollout',
      'status',
      'deployment/keda-add-ons-http-external-scaler',
      '-n',
      addonNs,
      '--timeout=120s',
    ]);
    await waitFor(
      'web at zero',
      async () => ((await replicas(e, appNs, 'web')).spec === 0 ? true : undefined),
      120_000,
    );
    await coldBurst('web.shop.test', 'web', 20);
    await backToZero('web');
  });

  test("4b. tracing: OTEL_* set on the interceptor and scaler; a cold start's trace reaches a real collector", async () => {
    // Pods live in their own network namespaces: the collector listens on the node's address.
    const collector = await startCollector({ host: e.kubelet.nodeIP });
    const deployments = ['keda-add-ons-http-interceptor', 'keda-add-ons-http-external-scaler'];
    // The manager owns only what it renders: env set with `kubectl set env` stays (manager/drift.ts).
    const setEnv = async (pairs: string[]): Promise<void> => {
      for (const d of deployments)
        await e.kubectl(['set', 'env', `deployment/${d}`, '-n', addonNs, ...pairs]);
      for (const d of deployments)
        await e.kubectl(['rollout', 'status', `deployment/${d}`, '-n', addonNs, '--timeout=120s']);
    };
    try {
      await backToZero('web');
      const t = performance.now();
      await setEnv([
        'OTEL_EXPORTER_OTLP_TRACES_ENABLED=true',
        'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf',
        `OTEL_EXPORTER_OTLP_ENDPOINT=${collector.httpEndpoint}`,
        'OTEL_BSP_SCHEDULE_DELAY=200',
      ]);
      await waitForRoute(e, addonNs, `${appNs}/web`);
      phase('tracing: set env and roll out interceptor and scaler', t);
      const r = await burst(e, addonNs, 'web.shop.test', 1);
      assert.deepEqual(r.statuses, { '200': 1 });
      assert.ok(r.coldStart, 'the request waited for a cold start');
      const server = await collector.waitFor(
        () =>
          collector
            .spans()
            .find(
              (s) =>
                s.name === 'keda-http-interceptor' &&
                s.attributes['keda.route'] === `${appNs}/web` &&
                s.attributes['cold-start'] === 'true',
            ),
        30_000,
      );
      const spans = collector.spans().filter((s) => s.traceId === server.traceId);
      const hold = spans.find((s) => s.name === 'cold-start wait');
      const client = spans.find((s) => s.kind === 'CLIENT');
      assert.equal(hold?.parentSpanId, server.spanId);
      assert.equal(hold?.attributes['keda.cold_start.outcome'], 'ready');
      assert.equal(client?.parentSpanId, server.spanId);
      assert.equal(client?.attributes['http.response.status_code'], 200);
      const waitedMs = Number(((hold?.endTimeUnixNano ?? 0n) - (hold?.startTimeUnixNano ?? 0n)) / 1_000_000n);
      assert.ok(waitedMs >= startupDelayMs, `the wait covers the app's start-up: ${waitedMs} ms`);
      phaseMs('tracing: cold-start wait span', waitedMs);
      const told = await collector.waitFor(
        () =>
          collector
            .spans()
            .find(
              (s) =>
                s.name === 'StreamIsActive send' &&
                s.attributes['keda.route'] === `${appNs}/web` &&
                s.attributes['keda.scaler.active'] === true,
            ),
        30_000,
      );
      assert.equal(told.resource['service.name'], 'keda-http-external-scaler');
      // KEDA was told while the request was held.
      assert.ok(told.endTimeUnixNano >= (hold?.startTimeUnixNano ?? 0n));
      assert.ok(told.endTimeUnixNano <= (hold?.endTimeUnixNano ?? 0n));
    } finally {
      await setEnv([
        'OTEL_EXPORTER_OTLP_TRACES_ENABLED-',
        'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL-',
        'OTEL_EXPORTER_OTLP_ENDPOINT-',
        'OTEL_BSP_SCHEDULE_DELAY-',
      ]);
      await collector.stop();
    }
    // The next scenario starts from zero, as every cold start here does.
    await backToZero('web');
  });

  test('5. changing addon-namespace moves the add-on; the old namespace keeps its other objects', async () => {
    await e.kubectl(['create', 'configmap', 'unrelated', '-n', kedaNs, '--from-literal=keep=me']);
    const t = performance.now();
    await annotate('keda.kyma-project.io/addon-namespace=keda-http');
    addonNs = 'keda-http';
    await installed(addonNs);
    phase('namespace move (annotate to AddonInstalled=True in the new namespace)', t);
    const left = await e.kubectl([
      'get',
      'deployments,services',
      '-n',
      kedaNs,
      '-l',
      'app.kubernetes.io/managed-by=keda-http-manager',
      '-o',
      'name',
    ]);
    assert.equal(left.trim(), '', 'no add-on objects left in the old namespace');
    assert.match(await e.kubectl(['get', 'configmap', 'unrelated', '-n', kedaNs, '-o', 'name']), /unrelated/);
    // The operator of the new install re-points the ScaledObject at the new scaler.
    await waitFor('ScaledObject pointing at the new scaler', async () =>
      (
        await e.kubectl([
          'get',
          'scaledobject',
          'web',
          '-n',
          appNs,
          '-o',
          'jsonpath={.spec.triggers[0].metadata.scalerAddress}',
        ])
      ).includes(`.${addonNs}:`)
        ? true
        : undefined,
    );
    await waitForRoute(e, addonNs, `${appNs}/web`);
    await coldBurst('web.shop.test', 'web', 20);
  });

  test('6. disable is refused while routes exist, then removes all of the add-on', async () => {
    await annotate('keda.kyma-project.io/addon-enabled=false');
    await waitFor('HTTPAddonInUse', async () =>
      (await addonCondition(e)).reason === 'HTTPAddonInUse' ? true : undefined,
    );
    assert.match(
      await e.kubectl(['get', 'deployments', '-n', addonNs, '-o', 'name']),
      /keda-add-ons-http-interceptor/,
    );
    await e.kubectl(['delete', 'httpscaledobject', 'web', '-n', appNs]);
    await e.kubectl(['delete', 'interceptorroute', 'api', '-n', appNs]);
    await e.kubectl(['delete', 'scaledobject', 'api', '-n', appNs]);
    await annotate('test.example.com/nudge=1');
    await waitFor(
      'HTTPAddonDisabled',
      async () => ((await addonCondition(e)).reason === 'HTTPAddonDisabled' ? true : undefined),
      120_000,
    );
    const left = await e.kubectl([
      'get',
      'deployments,services,scaledobjects,configmaps',
      '-A',
      '-l',
      'app.kubernetes.io/managed-by=keda-http-manager',
      '-o',
      'name',
    ]);
    assert.equal(left.trim(), '', 'nothing of the add-on remains');
  });
});
