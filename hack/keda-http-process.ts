// Runs `keda-http <command>` as a real child process, as it runs in a Pod, and keeps its output
// for assertions and for failure messages.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';

const repoRoot = resolve(import.meta.dirname, '..');

export interface ServiceProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM (or the given signal), then wait for exit; resolves with the exit code or signal. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | string>;
}

export function startKedaHttp(args: string[], env: Record<string, string> = {}): ServiceProcess {
  const child = spawn(process.execPath, [resolve(repoRoot, 'bin/keda-http.ts'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  let exited: Promise<number | string> | undefined;
  const exit = (): Promise<number | string> => {
    exited ??=
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve(child.exitCode ?? child.signalCode ?? 'unknown')
        : once(child, 'exit').then(([code, sig]) => (code as number | null) ?? (sig as string));
    return exited;
  };
  return {
    child,
    output: () => out,
    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exit();
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exit();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
