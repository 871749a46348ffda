// The CRDs every integration test can rely on: this repo's crds/ and KEDA's own CRDs, taken from
// KEDA's Go module at the pinned version (never a hand-made stand-in).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cacheDir, kubectlPath, versions } from './control-plane.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

/** Downloads a Go module into Go's module cache (no build) and returns its folder. */
export function goModuleDir(module: string, version: string): string {
  // `go mod download` needs a module to run in; an empty one in the cache will do.
  const work = join(cacheDir(), 'build', 'module-downloads');
  if (!existsSync(join(work, 'go.mod'))) {
    execFileSync('mkdir', ['-p', work]);
    execFileSync('go', ['mod', 'init', 'local/module-downloads'], { cwd: work, stdio: 'ignore' });
  }
  const out = execFileSync('go', ['mod', 'download', '-json', `${module}@${version}`], {
    cwd: work,
    encoding: 'utf8',
  });
  const { Dir, Error: err } = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!Dir)
    throw new Error(`could not download ${module}@${version}: ${err ?? 'no Dir in go mod download output'}`);
  return Dir;
}

/** KEDA's own CRDs, from its Go module at the pinned version. */
export function kedaCrdDir(): string {
  return join(goModuleDir('github.com/kedacore/keda/v2', versions().KEDA_VERSION), 'config/crd/bases');
}

/** Istio's CRDs (EnvoyFilter, PeerAuthentication, ...), from istio.io/api at the pinned version. */
export function istioCrdFile(): string {
  const { ISTIO_API_VERSION } = versions();
  return join(
    goModuleDir('istio.io/api', ISTIO_API_VERSION),
    'kubernetes/customresourcedefinitions.gen.yaml',
  );
}

function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(f) ? [p] : [];
    })
    .sort();
}

/** Applies KEDA's CRDs and every CRD under crds/, then waits until all are Established. */
export function installCrds(kubeconfig: string): void {
  const files = [...yamlFiles(kedaCrdDir()), ...yamlFiles(join(repoRoot, 'crds'))];
  const args = ['--kubeconfig', kubeconfig];
  for (const f of files) {
    execFileSync(kubectlPath(), [...args, 'apply', '--server-side', '--force-conflicts', '-f', f], {
      stdio: 'pipe',
    });
  }
  execFileSync(
    kubectlPath(),
    [...args, 'wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all'],
    {
      stdio: 'pipe',
    },
  );
}
