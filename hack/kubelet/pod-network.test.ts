// The pods' network namespaces against the real kernel (root): two "pods" that both bind
// 0.0.0.0:8080 answer on their own addresses, reach each other and this machine's addresses on the
// bridge; closing leaves nothing behind, and a kubelet killed with SIGKILL leaves leftovers that the
// next start with the same state directory removes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { netnsNames } from './ip-command.ts';
import { networkTraces, PodNetwork } from './pod-network.ts';
import { signalGroup, spawnSandboxed } from './sandbox.ts';

const dir = mkdtempSync(join(tmpdir(), 'pod-network-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Answers every connection with `name` and the address the connection came from, then closes it. */
const listener = (name: string): string =>
  `require('node:net').createServer((s) => s.end('${name} ' + s.remoteAddress)).listen(8080, '0.0.0.0', () => console.log('listening'))`;

function read(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, timeout: 3000 });
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString()));
    sock.on('end', () => resolve(text));
    sock.on('timeout', () => sock.destroy(new Error(`timeout reading ${host}:${port}`)));
    sock.on('error', reject);
  });
}

/** Runs a one-off script inside a namespace and returns what it printed. */
async function inside(netns: string, script: string): Promise<string> {
  const logPath = join(dir, `inside-${Date.now()}.log`);
  const child = spawnSandboxed({
    argv: [process.execPath, '-e', script],
    env: { PATH: process.env.PATH ?? '' },
    cwd: dir,
    logPath,
    owner: dir,
    netns,
  });
  const [code] = (await once(child, 'exit')) as [number];
  const out = readFileSync(logPath, 'utf8').trim();
  assert.equal(code, 0, out);
  return out;
}

async function waitForLog(path: string, text: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if (readFileSync(path, 'utf8').includes(text)) return;
    } catch {
      // not yet written
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`${path} never said ${text}`);
}

let network: PodNetwork;
const children: ChildProcess[] = [];
before(async () => {
  ({ network } = await PodNetwork.start(join(dir), `pod-network-test-${process.pid}`));
});
after(async () => {
  for (const c of children) if (c.pid) signalGroup(c.pid, 'SIGKILL');
  await network.close();
});

test('two pods bind 0.0.0.0:8080 each in its own namespace; this machine, the other pod and the bridge addresses are reachable', async () => {
  const a = await network.attach({ namespace: 'shop', name: 'a' });
  const b = await network.attach({ namespace: 'shop', name: 'b' });
  assert.ok(a.name.startsWith(`khttp${network.range}-`) && a.name.endsWith('_shop_a'), a.name);
  for (const [p, name] of [
    [a, 'pod-a'],
    [b, 'pod-b'],
  ] as const) {
    const logPath = join(dir, `${name}.log`);
    children.push(
      spawnSandboxed({
        argv: [process.execPath, '-e', listener(name)],
        env: { PATH: process.env.PATH ?? '' },
        cwd: dir,
        logPath,
        owner: dir,
        netns: p.path,
      }),
    );
    await waitForLog(logPath, 'listening');
  }
  assert.equal(await read(a.podIP, 8080), `pod-a ${network.nodeIP}`);
  assert.equal(await read(b.podIP, 8080), `pod-b ${network.nodeIP}`);

  // A ClusterIP-like address of this machine on the bridge, and the node's address.
  const clusterIP = `10.${network.range}.255.250`;
  assert.equal(await network.addHostAddress(clusterIP), true);
  assert.equal(await network.addHostAddress(clusterIP), false, 'already there');
  const host = net.createServer((s) => s.end(`host ${s.remoteAddress}`));
  await new Promise<void>((r) => host.listen(0, '0.0.0.0', r));
  const { port } = host.address() as net.AddressInfo;
  try {
    const dial = (h: string, p: number): string =>
      `const s = require('node:net').connect(${p}, '${h}'); let t = ''; s.on('data', (d) => (t += d)); s.on('end', () => console.log(t)); s.on('error', (e) => { console.log(e.code); process.exitCode = 1; });`;
    assert.equal(await inside(a.path, dial(b.podIP, 8080)), `pod-b ${a.podIP}`, 'pod to pod');
    assert.equal(await inside(a.path, dial(clusterIP, port)), `host ${a.podIP}`, 'pod to a bridge address');
    assert.equal(await inside(a.path, dial(network.nodeIP, port)), `host ${a.podIP}`, 'pod to the node');
    assert.equal(await inside(a.path, dial('127.0.0.1', 8080)), `pod-a 127.0.0.1`, "the pod's own lo");
  } finally {
    host.close();
    await network.removeHostAddress(clusterIP);
  }
  for (const c of children.splice(0)) {
    if (c.pid) signalGroup(c.pid, 'SIGKILL');
    await once(c, 'exit');
  }
  await network.detach(a.podIP);
  await network.detach(b.podIP);
  assert.ok(!(await netnsNames()).includes(a.name));
});

test('close removes namespaces, veths, the bridge and its addresses; a SIGKILLed owner leaves them, the next start with its state directory removes them', async () => {
  const stateDir = mkdtempSync(join(dir, 'killed-'));
  const module = pathToFileURL(join(import.meta.dirname, 'pod-network.ts')).href;
  const script = `
    const { PodNetwork } = await import(${JSON.stringify(module)});
    const { network } = await PodNetwork.start(${JSON.stringify(stateDir)}, 'doomed');
    await network.attach({ namespace: 'shop', name: 'x' });
    await network.attach({ namespace: 'shop', name: 'y' });
    await network.addHostAddress('10.' + network.range + '.255.251');
    console.log(network.range);
    setInterval(() => {}, 1000);`;
  const doomed = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = (await once(doomed.stdout, 'data')) as [Buffer];
  const range = Number(line.toString().trim());
  doomed.kill('SIGKILL');
  await once(doomed, 'exit');
  const left = await networkTraces(range);
  assert.ok(
    left.some((l) => l.includes('_shop_x')),
    left.join('\n'),
  );

  const { network: next, leftovers } = await PodNetwork.start(stateDir, 'next');
  try {
    assert.equal(next.range, range, 'the same state directory claims the same range again');
    assert.ok(leftovers > 0, `removed ${leftovers}`);
    const traces = await networkTraces(range);
    assert.ok(!traces.some((l) => /_shop_|kh\d+-|255\.251/.test(l)), traces.join('\n'));
    await next.attach({ namespace: 'shop', name: 'z' });
  } finally {
    await next.close();
  }
  assert.deepEqual(await networkTraces(range), []);
});
