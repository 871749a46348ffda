// The CRDs every integration test can rely on: this repo's crds/ and KEDA's own CRDs, taken from
// KEDA's Go module at the pinned version (never a hand-made stand-in).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cacheDir, kubectlPath, versions } from '../../hack/cluster/control-plane.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

/** Downloads github.com/kedacore/keda/v2 (Go module cache) and returns its config/crd/bases folder. */
export function kedaCrdDir(): string {
  const { KEDA_VERSION } = versions();
  // `go mod download` needs a module to run in; an empty one in the cache will do.
  const work = join(cacheDir(), 'build', 'keda-crds');
  if (!existsSync(join(work, 'go.mod'))) {
    execFileSync('mkdir', ['-p', work]);
    execFileSync('go', ['mod', 'init', 'local/keda-crds'], { cwd: work, stdio: 'ignore' });
  }
  const out = execFileSync(
    'go',
    ['mod', 'download', '-json', `github.com/kedacore/keda/v2@${KEDA_VERSION}`],
    {
      cwd: work,
      encoding: 'utf8',
    },
  );
  const { Dir, Error: err } = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!Dir)
    throw new Error(`could not download KEDA ${KEDA_VERSION}: ${err ?? 'no Dir in go mod download output'}`);
  return join(Dir, 'config/crd/bases');
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
