// The hosts file under churn, read the way a pod reads it: a process in a real sandbox (sandbox.sh;
// needs root, as the kubelet does) reads /etc/hosts in a tight loop while the file is rewritten
// thousands of times with Services coming and going. Every read must be whole (it ends with the
// end line), never empty or cut, and the pod must see the last version (its /etc/hosts follows
// the file, not the one there at its start).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HostsFile, hostsFileEnd } from './hosts-file.ts';
import { baseImage } from '../image/base-images.ts';
import { spawnSandboxed, type ContainerRoot } from './sandbox.ts';

const reader = `
const { readFileSync } = require('node:fs');
const end = ${JSON.stringify(`${hostsFileEnd}\n`)};
let reads = 0, bad = 0, example = '';
const until = Date.now() + Number(process.argv[1]);
let last = '';
while (Date.now() < until) {
  const text = readFileSync('/etc/hosts', 'utf8');
  reads++;
  if (!text.endsWith(end) || !text.startsWith('127.0.0.1 localhost')) { bad++; example = JSON.stringify(text.slice(-80)); }
  last = text;
}
console.log(JSON.stringify({ reads, bad, example, sawFinal: last.includes('svc-final') }));
`;

/** Churns the hosts file while a sandboxed reader reads it; `image` runs the reader in an image root. */
async function churn(image: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hosts-file-test-'));
  try {
    // The kubelet keeps the file in a directory of its own (an image root mounts that directory).
    const hosts = new HostsFile(join(dir, 'hosts.d', 'hosts'), '127.0.0.1 localhost');
    const readMs = 4_000;
    let root: ContainerRoot | undefined;
    if (image) {
      const rootfs = join(dir, 'rootfs');
      mkdirSync(join(rootfs, 'app'), { recursive: true });
      await (await baseImage('gcr.io/distroless/nodejs24-debian12:nonroot')).populate(rootfs);
      mkdirSync(join(dir, 'layer'));
      root = {
        rootfs,
        layerDir: join(dir, 'layer'),
        workingDir: '/app',
        uid: 65532,
        gid: 65532,
        readOnly: true,
        noNewPrivileges: false,
      };
    }
    const child = spawnSandboxed({
      argv: [image ? '/nodejs/bin/node' : process.execPath, '-e', reader, String(readMs)],
      env: { PATH: '/usr/bin:/bin' },
      cwd: dir,
      logPath: join(dir, 'reader.log'),
      hostsFile: hosts.path,
      owner: dir,
      ...(root ? { root } : {}),
    });
    const started = Date.now();
    let writes = 0;
    // Services come and go: the file grows and shrinks, as a namespace of a test is made and deleted.
    while (Date.now() - started < readMs - 1_000) {
      const n = writes % 40;
      hosts.write(Array.from({ length: n }, (_, i) => `10.100.0.${i}\tsvc-${i}.ns svc-${i}.ns.svc`));
      writes++;
      if (writes % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    hosts.write(['10.100.1.1\tsvc-final.ns svc-final.ns.svc']);
    const [code] = (await once(child, 'exit')) as [number | null];
    const log = readFileSync(join(dir, 'reader.log'), 'utf8');
    assert.equal(code, 0, log);
    const result = JSON.parse(log.trim().split('\n').at(-1) ?? '{}') as {
      reads: number;
      bad: number;
      example: string;
      sawFinal: boolean;
    };
    assert.ok(
      writes > 1_000 && result.reads > 1_000,
      `${writes} writes, ${result.reads} reads: too few to tell`,
    );
    assert.equal(
      result.bad,
      0,
      `${result.bad} of ${result.reads} reads were empty or cut, e.g. ${result.example}`,
    );
    assert.ok(result.sawFinal, "the pod's /etc/hosts did not follow the file's last version");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('pods read the hosts file whole while Services churn, and see its latest version', () => churn(false));

test('so do containers in an image root (the staged add-on image)', () => churn(true));

test('a write that changes nothing leaves the file alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hosts-file-test-'));
  try {
    const hosts = new HostsFile(join(dir, 'hosts'), '127.0.0.1 localhost');
    hosts.write(['10.100.0.1\ta.ns', '10.100.0.2\tb.ns']);
    const before = readFileSync(hosts.path);
    const inode = (p: string): number => statSync(p).ino;
    const ino = inode(hosts.path);
    hosts.write(['10.100.0.2\tb.ns', '10.100.0.1\ta.ns']); // same Services, another order
    assert.equal(inode(hosts.path), ino, 'rewritten although nothing changed');
    assert.deepEqual(readFileSync(hosts.path), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
