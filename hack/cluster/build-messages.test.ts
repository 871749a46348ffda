// Build messages ("first run only: 15-25 minutes") show only when something is built: with every
// binary in the cache, making sure of them prints nothing at all.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { versions } from './control-plane.ts';

test('with every binary cached, nothing about building is printed', () => {
  const cache = mkdtempSync(join(tmpdir(), 'build-messages-'));
  try {
    const v = versions();
    mkdirSync(join(cache, 'bin'));
    for (const name of [
      `etcd-${v.ETCD_VERSION}`,
      `kube-apiserver-${v.KUBERNETES_VERSION}`,
      `kube-controller-manager-${v.KUBERNETES_VERSION}`,
      `kubectl-${v.KUBERNETES_VERSION}`,
      `keda-operator-${v.KEDA_VERSION}`,
      `keda-adapter-${v.KEDA_VERSION}`,
    ]) {
      writeFileSync(join(cache, 'bin', name), '');
      chmodSync(join(cache, 'bin', name), 0o755);
    }
    const script = `
      const { LocalCluster } = await import(${JSON.stringify(join(import.meta.dirname, 'control-plane.ts'))});
      const { ensureKedaBinaries } = await import(${JSON.stringify(join(import.meta.dirname, '../keda.ts'))});
      await new LocalCluster(${JSON.stringify(join(cache, 'cluster'))}).ensureBinaries();
      await ensureKedaBinaries();
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, KEDA_HTTP_CACHE: cache },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(`${r.stdout}${r.stderr}`, '');
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
