// Runs hack/ensure-system-packages.sh from the commands that need Debian packages (the demo, the
// benchmarks), so they work when started directly (`node hack/bench/e2e.ts`) and not only through
// npm's pre-scripts. Synchronous on purpose: it runs first, before anything else is started.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const script = join(import.meta.dirname, 'ensure-system-packages.sh');

export type PackageGroup = 'start' | 'test' | 'bench';

/** Installs what `group` needs when missing; throws with the script's explanation when it cannot. */
export function ensureSystemPackages(group: PackageGroup): void {
  const r = spawnSync('bash', [script, group], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    throw new Error(
      `the Debian packages this needs are missing and could not be installed (hack/ensure-system-packages.sh ${group} exited ${r.status ?? r.signal}; see above)`,
    );
  }
}
