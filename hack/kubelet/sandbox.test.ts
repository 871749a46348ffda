import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mountOrder } from './sandbox.ts';

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
