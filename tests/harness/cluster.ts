// Gives integration tests the live control plane: one per test run (started by global-setup.ts,
// or on first use when a single file is run by hand), and a fresh namespace per test.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import type { TestContext } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { LocalCluster, kubectlPath } from '../../hack/cluster/control-plane.ts';
import { installCrds } from '../../hack/cluster/crds.ts';

// KEDA_HTTP_TEST_CLUSTER_DIR lets two test runs on one machine use separate control planes.
export const testClusterDir = resolve(
  process.env.KEDA_HTTP_TEST_CLUSTER_DIR ?? resolve(import.meta.dirname, '../../.cache/test-cluster'),
);

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface TestCluster {
  kubeconfigPath: string;
  kc: k8s.KubeConfig;
  local: LocalCluster;
  /** Runs kubectl against the test cluster, as a user would; never throws on a non-zero exit. */
  kubectl(args: string[], stdin?: string): Promise<KubectlResult>;
  /** Like kubectl, but throws with stderr when the command fails. */
  kubectlOk(args: string[], stdin?: string): Promise<string>;
  /** A namespace made for this test and deleted after it. */
  freshNamespace(t: TestContext): Promise<string>;
}

let shared: Promise<TestCluster> | undefined;

export function testCluster(): Promise<TestCluster> {
  shared ??= start();
  return shared;
}

async function start(): Promise<TestCluster> {
  const local = new LocalCluster(testClusterDir);
  // The global setup already started it and installed CRDs; otherwise (one file run by hand) do it here.
  if (process.env.KEDA_HTTP_TEST_CLUSTER_READY !== '1') {
    await local.up();
    installCrds(local.kubeconfigPath);
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(local.kubeconfigPath);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const kubectl = (args: string[], stdin?: string): Promise<KubectlResult> =>
    new Promise((res) => {
      const child = execFile(
        kubectlPath(),
        ['--kubeconfig', local.kubeconfigPath, ...args],
        { maxBuffer: 64 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          res({ stdout, stderr, code });
        },
      );
      if (stdin !== undefined) child.stdin?.end(stdin);
    });
  let counter = 0;
  return {
    kubeconfigPath: local.kubeconfigPath,
    kc,
    local,
    kubectl,
    async kubectlOk(args, stdin) {
      const r = await kubectl(args, stdin);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
      return r.stdout;
    },
    async freshNamespace(t) {
      const slug = t.name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '')
        .slice(0, 40)
        .replace(/-$/, '');
      const name = `t-${process.pid}-${++counter}-${slug}`.slice(0, 63).replace(/-$/, '');
      await core.createNamespace({ body: { metadata: { name } } });
      t.after(async () => {
        await core.deleteNamespace({ name }).catch(() => undefined);
      });
      return name;
    },
  };
}
