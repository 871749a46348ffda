// node --test-global-setup: starts the control plane once for the whole test run, installs the
// CRDs, and tears it down (state removed) at the end. If it cannot start, the run fails and says why.
import { LocalCluster } from '../../hack/cluster/control-plane.ts';
import { installCrds } from '../../hack/cluster/crds.ts';
import { testClusterDir } from './cluster.ts';

const cluster = new LocalCluster(testClusterDir);

export async function globalSetup(): Promise<void> {
  const t0 = performance.now();
  // A clean start: a previous run killed half-way must not leak objects into this one.
  await cluster.down({ purge: true });
  await cluster.up();
  installCrds(cluster.kubeconfigPath);
  process.env.KEDA_HTTP_TEST_CLUSTER_READY = '1';
  process.stderr.write(
    `[harness] control plane and CRDs ready in ${((performance.now() - t0) / 1000).toFixed(1)}s\n`,
  );
}

export async function globalTeardown(): Promise<void> {
  if (process.env.KEDA_HTTP_KEEP_TEST_CLUSTER === '1') return;
  await cluster.down({ purge: true });
}
