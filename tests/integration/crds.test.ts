// Our CRDs on the real API server: every CEL rule refuses a bad object with its message, defaults
// are filled in, and the names, printer columns and status subresource behave as upstream's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testCluster } from '../harness/cluster.ts';

type Obj = Record<string, unknown>;

const ir = (ns: string, name: string, spec: Obj): Obj => ({
  apiVersion: 'http.keda.sh/v1beta1',
  kind: 'InterceptorRoute',
  metadata: { name, namespace: ns },
  spec,
});
const httpso = (ns: string, name: string, spec: Obj): Obj => ({
  apiVersion: 'http.keda.sh/v1alpha1',
  kind: 'HTTPScaledObject',
  metadata: { name, namespace: ns },
  spec,
});
const target = { service: 'app', port: 8080 };
const concurrency = { concurrency: { targetValue: 10 } };

async function refused(obj: Obj, message: string): Promise<void> {
  const c = await testCluster();
  const r = await c.kubectl(['create', '-f', '-'], JSON.stringify(obj));
  assert.notEqual(r.code, 0, `expected ${JSON.stringify(obj)} to be refused`);
  assert.ok(r.stderr.includes(message), `expected "${message}" in: ${r.stderr}`);
}

async function created(obj: Obj): Promise<Obj> {
  const c = await testCluster();
  return JSON.parse(await c.kubectlOk(['create', '-o', 'json', '-f', '-'], JSON.stringify(obj))) as Obj;
}

test('InterceptorRoute CEL rules refuse bad objects with upstream messages', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const exactlyOne = "exactly one of 'port' or 'portName' must be set";
  await refused(
    ir(ns, 'both-ports', { target: { service: 'a', port: 1, portName: 'http' }, scalingMetric: concurrency }),
    exactlyOne,
  );
  await refused(ir(ns, 'no-port', { target: { service: 'a' }, scalingMetric: concurrency }), exactlyOne);
  await refused(
    ir(ns, 'empty-coldstart', { target, scalingMetric: concurrency, coldStart: {} }),
    "at least one of 'fallback' or 'placeholder' must be set",
  );
  await refused(
    ir(ns, 'fallback-ports', {
      target,
      scalingMetric: concurrency,
      coldStart: { fallback: { service: { name: 'fb', port: 80, portName: 'http' } } },
    }),
    exactlyOne,
  );
  const atMostOne = "at most one of 'body' or 'bodyFromConfigMap' may be set";
  await refused(
    ir(ns, 'placeholder-both', {
      target,
      scalingMetric: concurrency,
      coldStart: { placeholder: { response: { body: 'x', bodyFromConfigMap: { name: 'cm' } } } },
    }),
    atMostOne,
  );
  await refused(
    ir(ns, 'static-both', {
      target,
      scalingMetric: concurrency,
      staticRoutes: [
        { rules: [{ paths: [{ value: '/' }] }], response: { body: 'x', bodyFromConfigMap: { name: 'cm' } } },
      ],
    }),
    atMostOne,
  );
  await refused(
    ir(ns, 'no-metric', { target, scalingMetric: {} }),
    "at least one of 'concurrency' or 'requestRate' must be set",
  );
  // Plain schema checks upstream also has.
  await refused(
    ir(ns, 'bad-port', { target: { service: 'a', port: 70000 }, scalingMetric: concurrency }),
    'spec.target.port',
  );
  await refused(
    ir(ns, 'bad-mode', {
      target,
      scalingMetric: concurrency,
      staticRoutes: [{ rules: [{}], response: {}, responseMode: 'Sometimes' }],
    }),
    'responseMode',
  );
  await refused(
    ir(ns, 'no-rules', { target, scalingMetric: concurrency, staticRoutes: [{ rules: [], response: {} }] }),
    'spec.staticRoutes[0].rules',
  );
  await refused(
    ir(ns, 'zero-target', { target, scalingMetric: { concurrency: { targetValue: 0 } } }),
    'targetValue',
  );
});

test('InterceptorRoute defaults: window 1m, granularity 1s, responseMode WhenUnavailable', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const out = (await created(
    ir(ns, 'defaults', {
      target,
      scalingMetric: { concurrency: { targetValue: 5 }, requestRate: { targetValue: 7 } },
      staticRoutes: [{ rules: [{ hosts: ['*'] }], response: { body: 'ok' } }],
    }),
  )) as { spec: { scalingMetric: { requestRate: Obj }; staticRoutes: Obj[] } };
  assert.deepEqual(out.spec.scalingMetric.requestRate, { targetValue: 7, window: '1m', granularity: '1s' });
  assert.equal(out.spec.staticRoutes[0]?.responseMode, 'WhenUnavailable');
  const table = await c.kubectlOk(['get', 'interceptorroutes', '-n', ns]);
  assert.match(table, /^NAME\s+TARGETSERVICE\s+READY\s+AGE/);
  assert.match(table, /defaults\s+app\s+/);
});

test('HTTPScaledObject CEL rules, defaults, short name and printer columns', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const eitherPort = "must define either the 'portName' or the 'port'";
  await refused(httpso(ns, 'no-port', { scaleTargetRef: { name: 'app', service: 'app' } }), eitherPort);
  await refused(
    httpso(ns, 'both-ports', { scaleTargetRef: { name: 'app', service: 'app', port: 80, portName: 'http' } }),
    eitherPort,
  );
  await refused(
    httpso(ns, 'failover-ports', {
      scaleTargetRef: { name: 'app', service: 'app', port: 80 },
      coldStartTimeoutFailoverRef: { service: 'fb' },
    }),
    eitherPort,
  );
  await refused(
    httpso(ns, 'no-service', { scaleTargetRef: { name: 'app', port: 80 } }),
    'spec.scaleTargetRef.service',
  );

  const out = (await created(
    httpso(ns, 'defaults', {
      scaleTargetRef: { name: 'app', kind: 'Deployment', apiVersion: 'apps/v1', service: 'app', port: 8080 },
      replicas: { min: 0, max: 5 },
      coldStartTimeoutFailoverRef: { service: 'fb', port: 80 },
      scalingMetric: { concurrency: {}, requestRate: {} },
    }),
  )) as { spec: { coldStartTimeoutFailoverRef: Obj; scalingMetric: Obj } };
  assert.equal(out.spec.coldStartTimeoutFailoverRef.timeoutSeconds, 30);
  assert.deepEqual(out.spec.scalingMetric, {
    concurrency: { targetValue: 100 },
    requestRate: { targetValue: 100, window: '1m', granularity: '1s' },
  });
  const table = await c.kubectlOk(['get', 'httpso', '-n', ns]);
  assert.match(table, /^NAME\s+TARGETWORKLOAD\s+TARGETSERVICE\s+MINREPLICAS\s+MAXREPLICAS\s+AGE\s+READY/);
  assert.match(table, /defaults\s+.*\s0\s+5\s+/);
});

test('status is a subresource: writes to the main resource cannot change it', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  await created(ir(ns, 'st', { target, scalingMetric: concurrency }));
  await c.kubectlOk([
    'patch',
    'interceptorroute',
    'st',
    '-n',
    ns,
    '--type=merge',
    '-p',
    JSON.stringify({
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'X',
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      },
    }),
  ]);
  const main = JSON.parse(
    await c.kubectlOk(['get', 'interceptorroute', 'st', '-n', ns, '-o', 'json']),
  ) as Obj;
  assert.equal(main.status, undefined);
  await c.kubectlOk([
    'patch',
    'interceptorroute',
    'st',
    '-n',
    ns,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'X',
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      },
    }),
  ]);
  const after = JSON.parse(await c.kubectlOk(['get', 'interceptorroute', 'st', '-n', ns, '-o', 'json'])) as {
    status?: { conditions?: Obj[] };
  };
  assert.equal(after.status?.conditions?.[0]?.reason, 'X');
});

test('Keda CR: kedas plural, printer columns, status subresource', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  await created({
    apiVersion: 'operator.kyma-project.io/v1alpha1',
    kind: 'Keda',
    metadata: { name: 'default', namespace: ns },
    spec: {
      logging: { operator: { level: 'info', format: 'json' } },
      resources: { operator: { requests: { cpu: '50m', memory: '100Mi' } } },
    },
  });
  await c.kubectlOk([
    'patch',
    'kedas',
    'default',
    '-n',
    ns,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { state: 'Ready', served: 'True' } }),
  ]);
  const table = await c.kubectlOk(['get', 'kedas', '-n', ns]);
  assert.match(table, /^NAME\s+GENERATION\s+AGE\s+STATE/);
  assert.match(table, /default\s+1\s+\S+\s+Ready/);
  await refused(
    {
      apiVersion: 'operator.kyma-project.io/v1alpha1',
      kind: 'Keda',
      metadata: { name: 'bad', namespace: ns },
      spec: { logging: { operator: { level: 'loud' } } },
    },
    'spec.logging.operator.level',
  );
});

test('a manifest using every upstream field round-trips unchanged (nothing pruned)', async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const response = { statusCode: 503, body: 'waking up', headers: { 'retry-after': '5' } };
  const rules = [
    {
      hosts: ['app.example.com', '*.example.com'],
      paths: [{ value: '/api' }],
      headers: [{ name: 'x-tenant', value: 'a' }, { name: 'x-debug' }],
    },
  ];
  const irSpec = {
    target: { service: 'app', portName: 'http' },
    coldStart: {
      fallback: { service: { name: 'sorry', port: 8080 } },
      placeholder: { response },
    },
    timeouts: { readiness: '10s', request: '1m', responseHeader: '0s' },
    rules,
    scalingMetric: {
      concurrency: { targetValue: 50 },
      requestRate: { targetValue: 20, window: '30s', granularity: '2s' },
    },
    staticRoutes: [
      {
        rules,
        response: { bodyFromConfigMap: { name: 'pages', key: 'index.html' } },
        responseMode: 'Always',
      },
      {
        rules: [{ paths: [{ value: '/healthz' }] }],
        response: { statusCode: 200 },
        responseMode: 'WhenUnavailable',
      },
    ],
  };
  const gotIr = (await created(ir(ns, 'full', irSpec))) as { spec: Obj };
  assert.deepEqual(gotIr.spec, irSpec);

  const soSpec = {
    hosts: ['a.example.com'],
    pathPrefixes: ['/v1'],
    headers: [{ name: 'x-a', value: '1' }],
    scaleTargetRef: { name: 'app', kind: 'Deployment', apiVersion: 'apps/v1', service: 'app', port: 8080 },
    coldStartTimeoutFailoverRef: { service: 'fb', portName: 'http', timeoutSeconds: 10 },
    replicas: { min: 1, max: 9 },
    targetPendingRequests: 50,
    scaledownPeriod: 300,
    initialCooldownPeriod: 60,
    scalingMetric: { requestRate: { targetValue: 10, window: '2m', granularity: '5s' } },
    timeouts: { conditionWait: '20s', responseHeader: '30s' },
  };
  const gotSo = (await created(httpso(ns, 'full', soSpec))) as { spec: Obj };
  assert.deepEqual(gotSo.spec, soSpec);
});

test("this project's InterceptorRoute extensions are kept: a held-request limit and content negotiation", async (t) => {
  const c = await testCluster();
  const ns = await c.freshNamespace(t);
  const limited = await created(
    ir(ns, 'limited', { target, scalingMetric: concurrency, coldStart: { maxPendingRequests: 500 } }),
  );
  assert.deepEqual((limited.spec as Obj).coldStart, { maxPendingRequests: 500 });
  const negotiated = await created(
    ir(ns, 'negotiated', {
      target,
      scalingMetric: concurrency,
      coldStart: { placeholder: { contentNegotiation: true, response: { body: 'starting' } } },
    }),
  );
  const placeholder = ((negotiated.spec as Obj).coldStart as Obj).placeholder as Obj;
  assert.equal(placeholder.contentNegotiation, true);
  await refused(
    ir(ns, 'negative', { target, scalingMetric: concurrency, coldStart: { maxPendingRequests: -1 } }),
    'spec.coldStart.maxPendingRequests',
  );
});
