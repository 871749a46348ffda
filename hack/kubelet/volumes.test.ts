import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeClient } from '../../addon/runtime/index.ts';
import { PodVolumes } from './volumes.ts';
import type { Pod } from './types.ts';

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
