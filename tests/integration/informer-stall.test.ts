// An informer whose process's event loop was blocked for a minute while its connections died
// without a word (as they do when the other end or a middlebox gives up on a client that stopped
// reading) recovers by itself: it sees what was created during the stall and after it, long before
// its 6-minute silence watchdog would act. The informer runs in a child process with the kubelet's
// settings (its event loop is the one blocked), against the harness's real control plane through a
// TCP relay that, for the stall, stops passing bytes on the connections open then (new ones work).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { test } from 'node:test';
import { testCluster } from '../harness/cluster.ts';

const stallMs = Number(process.env.INFORMER_STALL_MS ?? 65_000);

/** A TCP relay to `target`; freeze() blackholes the connections open at that moment. */
async function relay(target: { host: string; port: number }): Promise<{
  port: number;
  freeze(): void;
  close(): void;
}> {
  const open = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const frozen: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    const pair = { client, upstream };
    open.add(pair);
    client.pipe(upstream).pipe(client);
    const close = (): void => {
      open.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    freeze() {
      for (const { client, upstream } of open) {
        // Nothing more passes either way, and neither side is told: a dead connection.
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        client.removeAllListeners('close');
        upstream.removeAllListeners('close');
        frozen.push(client, upstream);
      }
      open.clear();
    },
    close() {
      server.close();
      // Every socket, the frozen ones too: a paused socket never reads its peer's FIN and would
      // keep this test's process alive for good.
      for (const s of frozen) s.destroy();
      for (const { client, upstream } of open) {
        client.destroy();
        upstream.destroy();
      }
    },
  };
}

test(
  'an informer recovers after its event loop was blocked for a minute and its connections died',
  { timeout: stallMs + 120_000 },
  async (t) => {
    const cluster = await testCluster();
    const ns = await cluster.freshNamespace(t);
    const kubeconfig = JSON.parse(readFileSync(cluster.kubeconfigPath, 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    const server = new URL(kubeconfig.clusters[0]!.cluster.server);
    const tcp = await relay({ host: server.hostname, port: Number(server.port) });
    t.after(() => tcp.close());
    const dir = mkdtempSync(join(tmpdir(), 'informer-stall-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    kubeconfig.clusters[0]!.cluster.server = `https://${server.hostname}:${tcp.port}`;
    const relayedKubeconfig = join(dir, 'kubeconfig');
    writeFileSync(relayedKubeconfig, JSON.stringify(kubeconfig), { mode: 0o600 });

    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'informer-stall.child.ts'), relayedKubeconfig, ns, String(stallMs)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    t.after(() => child.kill('SIGKILL'));
    const seen = new Set<string>();
    const waiters: { what: string; ok: () => boolean; resolve: () => void }[] = [];
    let unblocked = false;
    let blocking = false;
    let synced = false;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as {
        event?: string;
        name?: string;
        synced?: boolean;
        unblocked?: boolean;
        blocking?: boolean;
      };
      if (msg.synced) synced = true;
      if (msg.unblocked) unblocked = true;
      if (msg.blocking) blocking = true;
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
    await until('the stall', () => blocking, 10_000);
    tcp.freeze(); // the connections die while the child cannot notice
    await new Promise((r) => setTimeout(r, 3_000));
    await createConfigMap('during');
    await until('the end of the stall', () => unblocked, stallMs + 30_000);
    await createConfigMap('after');
    // Far below the silence watchdog (6 minutes): recovery comes from noticing the stall itself.
    await until('ConfigMaps "during" and "after"', () => seen.has('during') && seen.has('after'), 30_000);
  },
);
