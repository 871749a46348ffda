// Compiles bind-to-pod-ip.c (the LD_PRELOAD shim that makes each pod bind its own loopback
// address) with gcc into the cache, once per version of the source. Never committed as a binary.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../cluster/control-plane.ts';

const source = join(import.meta.dirname, 'bind-to-pod-ip.c');

/** The path of the compiled shim, building it first if this version of the source was never built. */
export function bindShimPath(): string {
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
  const out = join(cacheDir(), 'kubelet', `bind-to-pod-ip-${hash}.so`);
  if (existsSync(out)) return out;
  mkdirSync(join(cacheDir(), 'kubelet'), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Werror', '-o', tmp, source, '-ldl'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
    throw new Error(
      `could not compile the pod-address shim ${source} with gcc (install gcc: apt-get install -y gcc): ${stderr}`,
    );
  }
  renameSync(tmp, out); // atomic: a concurrent build of the same source is harmless
  return out;
}
