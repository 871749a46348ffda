// Runs hack/build-binaries.sh for the named binaries (its default set when none are named). The
// build is a child process that this only awaits: the callers often run the process kubelet or an
// informer in the same process, and a blocking build of many minutes starved their API clients.
// It runs in a process group of its own, so an abort (Ctrl-C on `npm start`) ends the script and
// every `go build` it started, and nothing keeps compiling after the command is gone.
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const script = join(resolve(import.meta.dirname, '../..'), 'hack/build-binaries.sh');

export async function buildBinaries(names: string[] = [], signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const child = spawn('bash', [script, ...names], {
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  });
  const stop = (): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  signal?.addEventListener('abort', stop, { once: true });
  try {
    const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((res, rej) => {
      child.once('error', rej);
      child.once('exit', (c, s) => res([c, s]));
    });
    signal?.throwIfAborted();
    if (code !== 0) {
      throw new Error(`hack/build-binaries.sh ${names.join(' ')} failed (exit ${code ?? sig})`);
    }
  } finally {
    signal?.removeEventListener('abort', stop);
  }
}
