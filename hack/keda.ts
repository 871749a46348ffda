// Real KEDA on the local control plane: the operator and the metrics API server built from KEDA's Go
// module at the pinned KEDA_VERSION (hack/build-binaries.sh), installed from KEDA's own manifests
// in that module (config/: namespace, RBAC, service account, Deployments, Services, APIService) and
// run as Pods by the process kubelet (hack/kubelet), which maps KEDA's images to those binaries.
// The operator generates its certificates (--enable-cert-rotation) into the kedaorg-certs Secret;
// the kubelet's secret volumes carry them to both pods, as in a cluster. The metrics API server is
// registered as v1beta1.external.metrics.k8s.io, so the HPA can scale 1 <-> N.
// KEDA's CRDs come from the same module (hack/cluster/crds.ts installs them).
//
//   node hack/keda.ts build                           (only builds the binaries: npm run keda:build)
//   node hack/keda.ts install [--kubeconfig <path>]   (default: the `npm run cluster:up` cluster;
//                                                      `npm run kubelet` must be running for it)
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { binaryPath, kubectlPath, versions } from './cluster/control-plane.ts';
import { buildBinaries } from './cluster/build.ts';
import { goModuleDir, installCrds } from './cluster/crds.ts';

const repoRoot = resolve(import.meta.dirname, '..');

/** The kustomize folders of KEDA's config/ that make up a running KEDA (CRDs are installed apart). */
const kedaConfigDirs = ['general', 'service_account', 'rbac', 'manager', 'metrics-server'];

export const kedaNamespace = 'keda';

function log(msg: string): void {
  process.stderr.write(`[keda] ${msg}\n`);
}

/** True when keda-operator and keda-adapter are built and cached. */
export function kedaBinariesCached(): boolean {
  const v = versions().KEDA_VERSION;
  return ['keda-operator', 'keda-adapter'].every((b) => existsSync(binaryPath(b, v)));
}

/**
 * Builds keda-operator and keda-adapter from KEDA's Go module, unless they are cached. The build
 * runs as a child process and this only awaits it: a caller that also runs the process kubelet or
 * an informer keeps its event loop (a blocking build of 15-25 minutes starved their API clients).
 */
export async function ensureKedaBinaries(signal?: AbortSignal): Promise<void> {
  if (kedaBinariesCached()) return;
  log(
    `building KEDA ${versions().KEDA_VERSION} from its Go module (first run only; about 15-25 minutes on 2 cores)`,
  );
  await buildBinaries(['keda-operator', 'keda-adapter'], signal);
}

type Doc = Record<string, unknown> & {
  kind?: string;
  metadata?: { name?: string };
  spec?: { template?: { spec?: { containers?: { name: string; image: string; args?: string[] }[] } } };
};

/**
 * KEDA's manifests from its module, rendered with kubectl's kustomize, with two changes: images
 * carry the version that really runs (the manifests say `latest`), and the operator does not patch
 * the admission webhook configuration, because KEDA's webhooks are not built or installed here
 * (they only validate ScaledObjects; scaling works without them).
 */
export function kedaManifests(): string {
  const v = versions().KEDA_VERSION;
  const config = join(goModuleDir('github.com/kedacore/keda/v2', v), 'config');
  const docs: Doc[] = [];
  for (const dir of kedaConfigDirs) {
    const out = execFileSync(kubectlPath(), ['kustomize', join(config, dir)], { encoding: 'utf8' });
    for (const d of parseAllDocuments(out)) {
      const obj = d.toJS() as Doc | null;
      if (obj) docs.push(obj);
    }
  }
  for (const d of docs) {
    for (const c of d.spec?.template?.spec?.containers ?? []) {
      c.image = c.image.replace(/:latest$/, `:${v.replace(/^v/, '')}`);
      if (d.kind === 'Deployment' && d.metadata?.name === 'keda-operator') {
        c.args = [...(c.args ?? []), '--enable-webhook-patching=false'];
      }
    }
  }
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}

/**
 * Async on purpose: the kubelet that runs KEDA's pods usually lives in the same process. An abort
 * of `signal` kills kubectl (a `kubectl wait` can take minutes).
 */
function kubectl(kubeconfig: string, args: string[], input?: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      kubectlPath(),
      ['--kubeconfig', kubeconfig, ...args],
      { maxBuffer: 16 * 1024 * 1024, signal },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      },
    );
    child.stdin?.end(input ?? '');
  });
}

/**
 * Waits (up to a minute) until KEDA has finished every ScaledObject and ScaledJob being deleted.
 * KEDA puts `finalizer.keda.sh` on them; once KEDA is gone nobody removes it, and such an object
 * blocks its namespace's deletion and any later deletion of KEDA's CRDs forever.
 */
async function finishDeletions(kubeconfig: string): Promise<void> {
  const pending = async (): Promise<string[]> => {
    const out = await kubectl(kubeconfig, [
      'get',
      'scaledobjects.keda.sh,scaledjobs.keda.sh',
      '-A',
      '-o',
      'jsonpath={range .items[?(@.metadata.deletionTimestamp)]}{.metadata.namespace}/{.metadata.name} {end}',
    ]).catch(() => '');
    return out.split(' ').filter(Boolean);
  };
  for (let i = 0; i < 120 && (await pending()).length > 0; i++) await new Promise((r) => setTimeout(r, 500));
  const left = await pending();
  if (left.length > 0)
    log(`uninstalling while KEDA still finalizes ${left.join(', ')}; they will stay stuck`);
}

export interface KedaInstallation {
  namespace: string;
  /** Seconds it took until both Deployments were Available and the APIService answered. */
  readySeconds: number;
  /**
   * Lets KEDA finish ScaledObjects being deleted, then deletes what was applied (the CRDs stay)
   * and waits until KEDA's pods are gone.
   */
  uninstall(): Promise<void>;
}

/**
 * Installs KEDA into the cluster (idempotent: server-side apply) and waits until the operator and
 * the metrics API server are Available and `external.metrics.k8s.io` is served. A process kubelet
 * must be running for the cluster (startKubelet), since KEDA runs as its Pods. Async on purpose:
 * that kubelet usually lives in the calling process, so nothing here may block the event loop
 * while KEDA starts.
 */
export async function installKeda(opts: {
  kubeconfig: string;
  timeoutSeconds?: number;
  /** Stops waiting (and the kubectl it runs) when aborted; rejects with the abort reason. */
  signal?: AbortSignal;
}): Promise<KedaInstallation> {
  const t0 = performance.now();
  const signal = opts.signal;
  await ensureKedaBinaries(signal);
  installCrds(opts.kubeconfig);
  const manifests = kedaManifests();
  await kubectl(
    opts.kubeconfig,
    ['apply', '--server-side', '--force-conflicts', '-f', '-'],
    manifests,
    signal,
  );
  const timeout = `${opts.timeoutSeconds ?? 180}s`;
  try {
    await kubectl(
      opts.kubeconfig,
      [
        'wait',
        '-n',
        kedaNamespace,
        '--for=condition=Available',
        `--timeout=${timeout}`,
        'deployment/keda-operator',
        'deployment/keda-metrics-apiserver',
      ],
      undefined,
      signal,
    );
    await kubectl(
      opts.kubeconfig,
      [
        'wait',
        '--for=condition=Available',
        `--timeout=${timeout}`,
        'apiservice/v1beta1.external.metrics.k8s.io',
      ],
      undefined,
      signal,
    );
  } catch (err) {
    signal?.throwIfAborted();
    const pods = await kubectl(opts.kubeconfig, ['get', 'pods', '-n', kedaNamespace, '-o', 'wide']).catch(
      (e: unknown) => String(e),
    );
    throw new Error(
      `KEDA did not become ready: ${(err as Error).message}\nPods:\n${pods}\n` +
        'Is a process kubelet running for this cluster (startKubelet)? Pod logs are under <stateDir>/kubelet/pods/.',
      { cause: err },
    );
  }
  const readySeconds = (performance.now() - t0) / 1000;
  log(`KEDA ${versions().KEDA_VERSION} ready in ${readySeconds.toFixed(1)}s`);
  return {
    namespace: kedaNamespace,
    readySeconds,
    async uninstall() {
      await finishDeletions(opts.kubeconfig);
      await kubectl(opts.kubeconfig, ['delete', '--ignore-not-found', '--wait=true', '-f', '-'], manifests);
    },
  };
}

if (import.meta.main) {
  const [command, ...rest] = process.argv.slice(2);
  const i = rest.indexOf('--kubeconfig');
  const kubeconfig = i >= 0 ? rest[i + 1] : join(repoRoot, '.cache/local-cluster/kubeconfig');
  if (command === 'build') {
    await ensureKedaBinaries();
  } else if (command === 'install' && kubeconfig) {
    await installKeda({ kubeconfig });
  } else {
    process.stderr.write('usage: node hack/keda.ts build | install --kubeconfig <path>\n');
    process.exit(2);
  }
}
