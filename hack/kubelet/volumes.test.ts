import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeClient } from '../../addon/runtime/index.ts';
import { spawnSandboxed } from './sandbox.ts';
import { PodVolumes } from './volumes.ts';
import type { Container, Pod } from './types.ts';

// The timer logic alone: a client that answers when the test says so stands in for the API server.
test('stop() during a sync that is still reading from the API server ends the syncing for good', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'volumes-test-'));
  let calls = 0;
  let answer: ((v: unknown) => void) | undefined;
  const client = {
    get: () => {
      calls++;
      return new Promise((resolve) => (answer = resolve));
    },
  } as unknown as KubeClient;
  const pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: { containers: [], volumes: [{ name: 'cfg', configMap: { name: 'cfg' } }] },
  } as unknown as Pod;
  const volumes = new PodVolumes(client, pod, dir);
  try {
    volumes.startSync();
    const t0 = Date.now();
    while (calls === 0 && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, 1, 'the first sync tick asked for the ConfigMap');
    volumes.stop(); // while that read is in flight
    answer?.({ metadata: { name: 'cfg', namespace: 'ns' }, data: { a: 'b' } });
    await new Promise((r) => setTimeout(r, 2_500)); // longer than the 2 s sync interval
    assert.equal(calls, 1, 'no tick after stop()');
  } finally {
    volumes.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

// A real sandbox (unshare, bind mounts; needs root, as the kubelet does): a pod that mounts an
// emptyDir at /tmp still finds what it needs under /tmp (the cache with the binaries and the bind
// shim, when KEDA_HTTP_CACHE is under /tmp), and sees its own empty /tmp, not the machine's.
test('an emptyDir at /tmp hides nothing the pod needs that lives under /tmp', async () => {
  const root = mkdtempSync('/tmp/volumes-test-');
  const cache = join(root, 'cache');
  mkdirSync(join(cache, 'bin'), { recursive: true });
  writeFileSync(join(cache, 'bin', 'keda-adapter'), '#!/bin/sh\necho adapter ran\n', { mode: 0o755 });
  writeFileSync(join(root, 'machine-tmp-file'), '');
  const pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: {
      containers: [{ name: 'c', volumeMounts: [{ name: 'temp-vol', mountPath: '/tmp' }] }],
      volumes: [{ name: 'temp-vol', emptyDir: {} }],
    },
  } as unknown as Pod;
  const volumes = new PodVolumes({} as KubeClient, pod, join(root, 'pod'));
  try {
    await volumes.prepare();
    writeFileSync(join(root, 'pod', 'volumes', 'temp-vol', 'pod-scratch-file'), '');
    const container = pod.spec.containers[0] as Container;
    const child = spawnSandboxed({
      argv: ['sh', '-c', `${cache}/bin/keda-adapter; ls /tmp; ls ${root} 2>&1 || true`],
      env: { PATH: '/usr/bin:/bin' },
      cwd: '/',
      logPath: join(root, 'log'),
      mounts: volumes.mountsFor(container, [cache]),
      owner: root,
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    const out = readFileSync(join(root, 'log'), 'utf8');
    assert.equal(code, 0, out);
    assert.match(out, /^adapter ran$/m, 'the binary under /tmp ran inside the sandbox');
    assert.match(out, /pod-scratch-file/, "the pod's /tmp is its emptyDir");
    assert.doesNotMatch(out, /machine-tmp-file/, "the machine's /tmp stays hidden");
  } finally {
    volumes.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

// The add-on's images run as 65532; their emptyDirs (scratch space) must be writable by that user,
// as on a real node.
test('an emptyDir is writable by a non-root user', async () => {
  const root = mkdtempSync(join(tmpdir(), 'volumes-test-'));
  chmodSync(root, 0o755);
  const pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: { containers: [{ name: 'c' }], volumes: [{ name: 'scratch', emptyDir: {} }] },
  } as unknown as Pod;
  const volumes = new PodVolumes({} as KubeClient, pod, join(root, 'pod'));
  try {
    await volumes.prepare();
    const file = join(root, 'pod', 'volumes', 'scratch', 'written-by-65532');
    for (let dir = join(root, 'pod', 'volumes'); dir !== root; dir = join(dir, '..')) chmodSync(dir, 0o755);
    const r = spawnSync('setpriv', ['--reuid=65532', '--regid=65532', '--clear-groups', 'touch', file], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    volumes.stop();
    rmSync(root, { recursive: true, force: true });
  }
});
