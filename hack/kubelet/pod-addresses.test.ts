// Pod address ranges: each kubelet claims its own 10.N.0.0/16, even two in one process; addresses
// are handed out round robin and skip .0 and .255.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PodAddresses } from './pod-addresses.ts';

test('two kubelets claim different ranges; a closed range can be claimed again', async () => {
  const a = PodAddresses.claim('test-a');
  const b = PodAddresses.claim('test-b');
  try {
    assert.notEqual(a.range, b.range);
    assert.equal(a.nodeIP, `10.${a.range}.0.1`);
    assert.equal(a.cidr, `10.${a.range}.0.0/16`);
  } finally {
    b.close();
    a.close();
  }
  const again = PodAddresses.claim('test-c');
  again.close();
  assert.equal(again.range, a.range);
});

test('addresses are given out round robin, skip .0 and .255, and a released one is not reused at once', () => {
  const r = PodAddresses.claim('test-alloc');
  try {
    const first = r.allocate();
    assert.equal(first, `10.${r.range}.0.2`);
    assert.equal(r.allocate(), `10.${r.range}.0.3`);
    r.release(first);
    assert.equal(r.allocate(), `10.${r.range}.0.4`, 'a released address is not reused at once');
    for (let i = 5; i <= 254; i++) r.allocate();
    assert.equal(r.allocate(), `10.${r.range}.1.1`, '.255 and .0 are skipped');
  } finally {
    r.close();
  }
});

test('a preferred range (the one a state directory had) is claimed first when it is free', () => {
  const a = PodAddresses.claim('test-pref-a');
  const b = PodAddresses.claim('test-pref-b', a.range + 7);
  try {
    assert.equal(b.range, a.range + 7);
    const c = PodAddresses.claim('test-pref-c', a.range);
    c.close();
    assert.notEqual(c.range, a.range, 'a range a live kubelet holds is never taken');
  } finally {
    b.close();
    a.close();
  }
});
