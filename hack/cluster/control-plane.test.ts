import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalCluster, serviceCidrFor } from './control-plane.ts';

// The clusters this project starts, some of them at the same time on one machine (a test suite
// while the demo or a benchmark runs): their Service ranges must differ, or the process kubelets
// would put the same ClusterIP on this machine for two different Services.
const projectClusters = [
  '.cache/local-cluster',
  '.cache/test-cluster',
  '.cache/e2e-cluster',
  '.cache/e2e-browser-cluster',
  '.cache/bench-e2e-cluster',
  '.cache/bench-scaler-cluster',
  '.cache/bench-interceptor-cluster',
];

test("the project's clusters get Service ranges of their own, outside the pods' 10.200-249", () => {
  const ranges = projectClusters.map(serviceCidrFor);
  assert.equal(new Set(ranges).size, ranges.length, JSON.stringify(ranges));
  for (const r of ranges) {
    const m = /^10\.(\d+)\.(\d+)\.0\/20$/.exec(r);
    assert.ok(m, r);
    assert.ok(Number(m[1]) >= 100 && Number(m[1]) < 200 && Number(m[2]) % 16 === 0, r);
  }
});

test('a cluster keeps its range wherever the checkout lives (by the directory name)', () => {
  assert.equal(
    serviceCidrFor('/work/main/.cache/test-cluster'),
    serviceCidrFor('/tmp/clone/.cache/test-cluster'),
  );
  assert.notEqual(serviceCidrFor('/x/.cache/test-cluster'), serviceCidrFor('/x/.cache/e2e-cluster'));
});

test('with KEDA_HTTP_NO_CONTROL_PLANE=1 (npm run test:unit) no control plane starts', async () => {
  const before = process.env.KEDA_HTTP_NO_CONTROL_PLANE;
  process.env.KEDA_HTTP_NO_CONTROL_PLANE = '1';
  try {
    await assert.rejects(new LocalCluster('/nonexistent/cluster').up(), /belongs in tests\/integration/);
  } finally {
    if (before === undefined) delete process.env.KEDA_HTTP_NO_CONTROL_PLANE;
    else process.env.KEDA_HTTP_NO_CONTROL_PLANE = before;
  }
});
