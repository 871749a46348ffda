// Pod address ranges: each kubelet claims its own 10.N.0.0/16, even two in one process; addresses
// are handed out round robin and skip .0 and .255. (Allocation adds to lo, so it runs as root.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PodAddresses } from './pod-addresses.ts';
import { loopbackAddresses } from './loopback-addresses.ts';

test('two kubelets claim different ranges; a closed range can be claimed again', async () => {
  const a = PodAddresses.claim('test-a');
  const b = PodAddresses.claim('test-b');
  try {
    assert.notEqual(a.range, b.range);
    assert.equal(a.nodeIP, `10.${a.range}.0.1`);
    assert.equal(a.cidr, `10.${a.range}.0.0/16`);
  } finally {
    await b.close();
    await a.close();
  }
  const again = PodAddresses.claim('test-c');
  await again.close();
  assert.equal(again.range, a.range);
});

test('addresses are on lo while allocated, given out round robin, and removed on release', async () => {
  const r = PodAddresses.claim('test-alloc');
  try {
    const first = await r.allocate();
    const second = await r.allocate();
    assert.equal(first, `10.${r.range}.0.2`);
    assert.equal(second, `10.${r.range}.0.3`);
    assert.ok((await loopbackAddresses()).includes(first));
    await r.release(first);
    assert.ok(!(await loopbackAddresses()).includes(first));
    assert.equal(await r.allocate(), `10.${r.range}.0.4`, 'a released address is not reused at once');
  } finally {
    await r.close();
  }
  assert.ok(
    !(await loopbackAddresses()).some((ip) => ip.startsWith(`10.${r.range}.`)),
    'close removes them all',
  );
});
