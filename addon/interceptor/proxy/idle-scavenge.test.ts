import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import { loadMinorGc } from '../internals/minor-gc.ts';
import { IdleScavenge } from './idle-scavenge.ts';

const MiB = 1024 * 1024;

function fake(state: { held: number; utilization: number; newSpace: number }): {
  s: IdleScavenge;
  calls: () => number;
} {
  let calls = 0;
  const s = new IdleScavenge({
    held: () => state.held,
    gc: () => {
      calls++;
      state.newSpace = 0;
    },
    utilization: () => state.utilization,
    newSpaceUsed: () => state.newSpace,
  });
  return { s, calls: () => calls };
}

test('scavenges only while requests are held, the loop was idle and the young generation is worth it', () => {
  const state = { held: 0, utilization: 0, newSpace: 20 * MiB };
  const { s, calls } = fake(state);
  assert.equal(s.check(), false, 'nothing held: nothing to promote for a release');
  state.held = 10_000;
  state.utilization = 0.5;
  assert.equal(s.check(), false, 'busy: its own traffic scavenges soon, a forced pause would land on it');
  state.utilization = 0.02;
  state.newSpace = 3 * MiB;
  assert.equal(s.check(), false, 'little in new space: not worth a pause');
  state.newSpace = 20 * MiB;
  assert.equal(s.check(), true);
  assert.equal(calls(), 1);
  assert.equal(s.check(), false, 'new space is empty after it');
  assert.equal(s.runs, 1);
});

test('the minor GC is real: objects kept alive leave the young generation, and stay alive', () => {
  const gc = loadMinorGc();
  assert.ok(gc, 'Node 24 can expose a minor GC');
  const newSpace = (): number =>
    v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space')?.space_used_size ?? 0;
  gc();
  gc();
  // Shaped like held state: many small objects that live on.
  const kept: { i: number; headers: string[] }[] = [];
  // A natural scavenge can land at the very end of a fill and leave new space nearly empty (it has
  // promoted what lives): then fill again, so the scavenge under test has live young objects.
  for (let attempt = 0; attempt < 5 && (attempt === 0 || newSpace() < 4 * MiB); attempt++) {
    for (let i = 0; i < 100_000; i++) kept.push({ i, headers: [`x-${i}`, String(i)] });
  }
  const before = newSpace();
  const seen: number[] = [];
  const s = new IdleScavenge({
    held: () => kept.length,
    gc,
    utilization: () => 0,
    minNewSpaceBytes: 1 * MiB,
    onScavenge: (_ms, bytes) => seen.push(bytes),
  });
  let runs = 0;
  while (s.check() && runs < 5) runs++;
  const after = newSpace();
  assert.ok(runs >= 1 && runs <= 2, `one or two scavenges promote what lives (${runs})`);
  assert.ok(before >= 4 * MiB, `the test filled new space (${before} bytes)`);
  assert.ok(after < 1 * MiB, `new space emptied: ${before} -> ${after} bytes`);
  assert.ok((seen[0] ?? 0) >= before, 'told of the bytes in new space before the scavenge');
  assert.equal(kept[99_999]?.headers[1], '99999');
});
