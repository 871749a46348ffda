// Runs hack/build-binaries.sh for the named binaries (its default set when none are named). The
// build is a child process that this only awaits: the callers often run the process kubelet or an
// informer in the same process, and a blocking build of many minutes starved their API clients.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const script = join(resolve(import.meta.dirname, '../..'), 'hack/build-binaries.sh');

export async function buildBinaries(names: string[] = []): Promise<void> {
  const child = spawn('bash', [script, ...names], { stdio: ['ignore', 'inherit', 'inherit'] });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res, rej) => {
    child.once('error', rej);
    child.once('exit', (c, s) => res([c, s]));
  });
  if (code !== 0) {
    throw new Error(`hack/build-binaries.sh ${names.join(' ')} failed (exit ${code ?? signal})`);
  }
}
