// An informer whose process's event loop was blocked for longer than the API server's and the
// connections' timeouts recovers by itself: it sees what was created during the stall and after it,
// without waiting for its 6-minute silence watchdog. The informer runs in a child process (its event
// loop is the one blocked); the API server is the harness's real control plane.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { test } from 'node:test';
import { testCluster } from '../harness/cluster.ts';

const stallMs = Number(process.env.INFORMER_STALL_MS ?? 65_000);

test(
  'an informer recovers after its event loop was blocked for a minute',
  { timeout: stallMs + 120_000 },
  async (t) => {
    const cluster = await testCluster();
    const ns = await cluster.freshNamespace(t);
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'informer-stall.child.ts'), cluster.kubeconfigPath, ns],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    t.after(() => child.kill('SIGKILL'));
    const seen = new Set<string>();
    const waiters: { what: string; ok: () => boolean; resolve: () => void }[] = [];
    let unblocked = false;
    let synced = false;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as {
        event?: string;
        name?: string;
        synced?: boolean;
        unblocked?: boolean;
      };
      if (msg.synced) synced = true;
      if (msg.unblocked) unblocked = true;
      if (msg.event === 'added' && msg.name) seen.add(msg.name);
      for (const w of waiters.splice(0))
        if (w.ok()) w.resolve();
        else waiters.push(w);
    });
    const until = (what: string, ok: () => boolean, timeoutMs: number): Promise<void> =>
      new Promise((resolve, reject) => {
        if (ok()) return resolve();
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no ${what} within ${timeoutMs} ms; the informer's log:\n${stderr.slice(-4000)}`),
            ),
          timeoutMs,
        );
        waiters.push({ what, ok, resolve: () => (clearTimeout(timer), resolve()) });
      });
    const createConfigMap = (name: string): Promise<string> =>
      cluster.kubectlOk(['create', 'configmap', name, '-n', ns, '--from-literal=k=v']);

    await until('sync', () => synced, 30_000);
    await createConfigMap('before');
    await until('ConfigMap "before"', () => seen.has('before'), 10_000);

    child.stdin.write(`block ${stallMs}\n`);
    await new Promise((r) => setTimeout(r, 5_000));
    await createConfigMap('during');
    await until('the end of the stall', () => unblocked, stallMs + 30_000);
    await createConfigMap('after');
    // Far below the silence watchdog (6 minutes): recovery comes from noticing the stall itself.
    await until('ConfigMaps "during" and "after"', () => seen.has('during') && seen.has('after'), 30_000);
  },
);
