// `npm start` as a user runs it (`node hack/start.ts`, its own process): Ctrl-C during start-up
// leaves nothing running; once up, every command it prints works after every other command it
// prints (the `curl` still answers after the printed namespace move); Ctrl-C then stops everything.
// Its state directory is one of its own, and the bursts are left out (tests/e2e/scenarios.test.ts
// has them), so a run takes a few minutes.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test, type TestContext } from 'node:test';
import { kubectlPath } from '../../hack/cluster/control-plane.ts';

const repoRoot = resolve(import.meta.dirname, '../..');
const dir = resolve(repoRoot, '.cache/e2e-start-cluster');

interface Demo {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line matching `re` (printed already or later). */
  line(re: RegExp, timeoutMs: number): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `node hack/start.ts`; a test that ends early still stops it (and all it started) first. */
function startDemo(t: TestContext, port: number): Demo {
  const child = spawn(process.execPath, [join(repoRoot, 'hack/start.ts')], {
    env: { ...process.env, DEMO_CLUSTER_DIR: dir, DEMO_PORT: String(port), DEMO_BURSTS: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  const onLine = (l: string): void => {
    lines.push(l);
    process.stderr.write(`[start] ${l}\n`);
    for (const w of waiters.splice(0)) {
      if (w.re.test(l)) w.resolve(l);
      else waiters.push(w);
    }
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    await exit;
  });
  return {
    child,
    lines,
    exit,
    line: (re, timeoutMs) =>
      new Promise((res, rej) => {
        const seen = lines.find((l) => re.test(l));
        if (seen) return res(seen);
        const timer = setTimeout(
          () =>
            rej(new Error(`no line matching ${re} within ${timeoutMs} ms:\n${lines.slice(-30).join('\n')}`)),
          timeoutMs,
        );
        waiters.push({ re, resolve: (l) => (clearTimeout(timer), res(l)) });
        void exit.then(({ code }) =>
          rej(
            new Error(`start exited (${code}) before a line matching ${re}:\n${lines.slice(-30).join('\n')}`),
          ),
        );
      }),
  };
}

/** Processes that belong to this state directory: the control plane, the manager, the kubelet's pods. */
function leftovers(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ');
      const environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
      if (cmdline.includes(dir) || environ.includes(dir)) found.push(`${pid}: ${cmdline.slice(0, 160)}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

async function interruptAndCheck(demo: Demo): Promise<void> {
  demo.child.kill('SIGINT');
  const { code, signal } = await demo.exit;
  const output = demo.lines.join('\n');
  assert.ok(code === 130 || code === 0, `exit code ${code} (signal ${signal}):\n${output.slice(-3000)}`);
  assert.doesNotMatch(output, /unsettled top-level await/);
  assert.deepEqual(leftovers(), [], 'processes left running after Ctrl-C');
}

describe('npm start', { concurrency: false }, () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('Ctrl-C while the control plane starts leaves nothing running', { timeout: 300_000 }, async (t) => {
    const demo = startDemo(t, await freePort());
    await demo.line(/starting the local control plane/, 120_000);
    await demo.line(/started kube-apiserver/, 60_000);
    await interruptAndCheck(demo);
  });

  test(
    'Ctrl-C while KEDA is installed (kubelet and pods running) leaves nothing running',
    { timeout: 300_000 },
    async (t) => {
      const demo = startDemo(t, await freePort());
      await demo.line(/installing KEDA/, 180_000);
      await new Promise((r) => setTimeout(r, 5_000)); // KEDA's pods are starting
      await interruptAndCheck(demo);
    },
  );

  test(
    'every printed command works after every other, then Ctrl-C stops everything',
    { timeout: 900_000 },
    async (t) => {
      const port = await freePort();
      const demo = startDemo(t, port);
      await demo.line(/Ctrl-C stops everything this command started/, 600_000);
      const start = demo.lines.findIndex((l) => l.includes('the system is up. Try:'));
      const printed = demo.lines
        .slice(start + 1)
        .map((l) => l.trim())
        .filter((l) => !l.startsWith('logs:') && !l.startsWith('Ctrl-C'));
      assert.ok(
        printed.some((c) => c.startsWith('curl ')),
        printed.join('\n'),
      );

      // A shell as the user has it: `kubectl` is the cached one, run from the repository.
      const bin = mkdtempSync(join(tmpdir(), 'start-test-bin-'));
      symlinkSync(kubectlPath(), join(bin, 'kubectl'));
      const curl = printed.find((c) => c.startsWith('curl '))!;
      // One command a line: the printed ones carry `# ...` comments.
      const script = (cmd: string): string =>
        [
          'set -e',
          ...printed.filter((c) => c.startsWith('export ')),
          // A watch (-w) never ends by itself: a few seconds of it show it works.
          cmd.includes(' -w') ? `timeout 5 ${cmd.replace(/#.*$/, '')} || [ $? = 124 ]` : cmd,
        ].join('\n');
      const sh = (cmd: string): { status: number | null; out: string } => {
        const r = spawnSync('bash', ['-c', script(cmd)], {
          cwd: repoRoot,
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
          encoding: 'utf8',
          timeout: 120_000,
        });
        return { status: r.status, out: `${r.stdout}${r.stderr}` };
      };
      /** The printed curl answers 200 (the app scales from zero for it), within two minutes. */
      const curlWorks = async (after: string): Promise<void> => {
        const deadline = Date.now() + 120_000;
        let last = { status: 0 as number | null, out: '' };
        while (Date.now() < deadline) {
          last = sh(`${curl.replace(/#.*$/, '')} --max-time 60 --silent --show-error`);
          if (last.status === 0 && /^HTTP\/1\.1 200/.test(last.out)) return;
          await new Promise((r) => setTimeout(r, 2_000));
        }
        assert.fail(`after \`${after}\` the printed curl no longer answers 200: ${last.out.slice(0, 500)}`);
      };
      /** The move is done: installed in `ns`, and no interceptor left where it was. */
      const movedTo = async (ns: string): Promise<void> => {
        const deadline = Date.now() + 240_000;
        for (;;) {
          const status = sh(
            `kubectl get keda default -n kyma-system -o 'jsonpath={.status.conditions[?(@.type=="AddonInstalled")].status} {.status.conditions[?(@.type=="AddonInstalled")].message}'`,
          ).out;
          const old = sh(
            'kubectl get deploy keda-add-ons-http-interceptor -n kyma-system --ignore-not-found -o name',
          ).out;
          if (status.startsWith('True ') && status.trim().endsWith(`namespace ${ns}`) && old.trim() === '')
            return;
          if (Date.now() > deadline)
            assert.fail(`the add-on did not finish moving to ${ns}: ${status} ${old}`);
          await new Promise((r) => setTimeout(r, 2_000));
        }
      };
      try {
        for (const cmd of printed) {
          const r = sh(cmd);
          assert.equal(r.status, 0, `\`${cmd}\` failed: ${r.out.slice(-1000)}`);
          const moved = /addon-namespace=(\S+)/.exec(cmd)?.[1];
          if (moved) await movedTo(moved);
          await curlWorks(cmd);
        }
      } finally {
        rmSync(bin, { recursive: true, force: true });
      }
      await interruptAndCheck(demo);
    },
  );
});
