import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { baseImage } from '../image/base-images.ts';
import { ip, ipDelete } from './ip-command.ts';
import { mountOrder, spawnSandboxed, type ContainerRoot } from './sandbox.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

test('a mount that would hide another mount source (an emptyDir at /tmp, state under /tmp) goes last', () => {
  const certs = { source: '/tmp/ci/pods/p/volumes/certificates', target: '/certs' };
  const tmp = { source: '/tmp/ci/pods/p/volumes/temp-vol', target: '/tmp' };
  const token = {
    source: '/tmp/ci/pods/p/serviceaccount',
    target: '/var/run/secrets/kubernetes.io/serviceaccount',
  };
  assert.deepEqual(mountOrder([tmp, certs, token]), [certs, token, tmp]);
  // Nothing to hide: the order is kept.
  const a = { source: '/work/x/a', target: '/a' };
  const b = { source: '/work/x/b', target: '/b' };
  assert.deepEqual(mountOrder([b, a]), [b, a]);
});

// A container of a staged image: a root file system made of the runtime base image's files (the
// same as hack/image/stage.ts puts under the add-on) plus a probe script that reports what the
// process is and can do.
describe('a container in an image root', () => {
  const dir = join(repoRoot, '.cache', `sandbox-test-${process.pid}`);
  const rootfs = join(dir, 'rootfs');
  const volume = join(dir, 'volume');
  const hosts = join(dir, 'hosts');
  const resolvConf = join(dir, 'resolv.conf');
  // A network namespace with only lo, as a pod's without its veth.
  const netns = `sandbox-test-${process.pid}`;

  before(async () => {
    await mkdir(join(rootfs, 'app'), { recursive: true });
    await (await baseImage('gcr.io/distroless/nodejs24-debian12:nonroot')).populate(rootfs);
    await writeFile(join(rootfs, 'app/probe.mjs'), probeScript);
    await mkdir(volume, { recursive: true, mode: 0o777 });
    await chmod(volume, 0o777); // an emptyDir is writable by any user
    await writeFile(hosts, '10.96.1.2 echo.shop\n');
    await writeFile(resolvConf, 'nameserver 10.200.0.1\n');
    await ip(['netns', 'add', netns]);
    await ip(['link', 'set', 'lo', 'up'], { netns });
  });
  after(async () => {
    await ipDelete(['netns', 'del', netns]);
    await rm(dir, { recursive: true, force: true });
  });

  async function probe(name: string, root: Partial<ContainerRoot>): Promise<Record<string, unknown>> {
    const layerDir = join(dir, `${name}.layer`);
    await mkdir(layerDir, { recursive: true });
    const logPath = join(dir, `${name}.log`);
    const child = spawnSandboxed({
      argv: ['/nodejs/bin/node', 'probe.mjs', repoRoot],
      env: { PATH: '/usr/bin:/bin' },
      cwd: repoRoot,
      logPath,
      hostsFile: hosts,
      resolvConf,
      mounts: [{ source: volume, target: '/data' }],
      owner: dir,
      netns: `/run/netns/${netns}`,
      root: {
        rootfs,
        layerDir,
        workingDir: '/app',
        uid: 65532,
        gid: 65532,
        readOnly: true,
        noNewPrivileges: true,
        ...root,
      },
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    const log = await readFile(logPath, 'utf8');
    assert.equal(code, 0, log);
    return JSON.parse(log.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  }

  test('runs as the given uid and gid, sees only the image, and cannot write to it (EROFS)', async () => {
    const seen = await probe('read-only', {});
    assert.deepEqual(seen.identity, { uid: 65532, gid: 65532, groups: [], noNewPrivs: '1' });
    assert.equal(seen.cwd, '/app');
    assert.equal(seen.checkoutVisible, false, 'this checkout is not in the image');
    assert.equal(seen.writeApp, 'EROFS');
    assert.equal(seen.writeTmp, 'EROFS');
    assert.equal(seen.writeVolume, 'ok', 'a mounted volume stays writable');
    assert.match(String(seen.hosts), /echo\.shop/);
    assert.equal(
      seen.resolved,
      '10.96.1.2',
      "Service names resolve through the image's nsswitch.conf and /etc/hosts",
    );
    assert.deepEqual(seen.interfaces, ['lo'], "it runs in the pod's network namespace");
    assert.equal(seen.resolvConf, 'nameserver 10.200.0.1\n', "the kubelet's resolv.conf");
    assert.equal(await readFile(join(volume, 'written'), 'utf8'), 'from the container');
  });

  test('without readOnly, writes land in a throw-away layer, never in the staged tree', async () => {
    const seen = await probe('writable', { readOnly: false, uid: 0, gid: 0, noNewPrivileges: false });
    assert.deepEqual(seen.identity, { uid: 0, gid: 0, groups: [], noNewPrivs: '0' });
    assert.equal(seen.writeApp, 'ok');
    assert.equal(existsSync(join(rootfs, 'app/written')), false);
  });
});

const probeScript = `
import fs from 'node:fs';
import os from 'node:os';
import dns from 'node:dns/promises';
const resolved = await dns.lookup('echo.shop').then((r) => r.address, (err) => err.code);
const attempt = (f) => { try { f(); return 'ok'; } catch (err) { return err.code; } };
const status = fs.readFileSync('/proc/self/status', 'utf8');
console.log(JSON.stringify({
  identity: {
    uid: process.getuid(),
    gid: process.getgid(),
    groups: process.getgroups().filter((g) => g !== process.getgid()),
    noNewPrivs: /NoNewPrivs:\\s*(\\d)/.exec(status)[1],
  },
  cwd: process.cwd(),
  checkoutVisible: fs.existsSync(process.argv[2]),
  writeApp: attempt(() => fs.writeFileSync('/app/written', 'x')),
  writeTmp: attempt(() => fs.writeFileSync('/tmp/written', 'x')),
  writeVolume: attempt(() => fs.writeFileSync('/data/written', 'from the container')),
  hosts: fs.readFileSync('/etc/hosts', 'utf8'),
  resolvConf: fs.readFileSync('/etc/resolv.conf', 'utf8'),
  interfaces: Object.keys(os.networkInterfaces()),
  resolved,
}));
`;
