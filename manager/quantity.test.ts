import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuantity, sameQuantity } from './quantity.ts';

test('quantities: Kubernetes suffixes and exponents; anything else is invalid', () => {
  assert.equal(parseQuantity('100m'), 0.1);
  assert.equal(parseQuantity('1'), 1);
  assert.equal(parseQuantity('1.5'), 1.5);
  assert.equal(parseQuantity('128Mi'), 128 * 2 ** 20);
  assert.equal(parseQuantity('1G'), 1e9);
  assert.equal(parseQuantity('1e3'), 1000);
  for (const bad of ['', '1 Gi', '1gb', 'abc', '-1', '1.2.3', 'Mi'])
    assert.equal(parseQuantity(bad), undefined, bad);
  assert.ok(sameQuantity('0.5', '500m'));
  assert.ok(sameQuantity('1Gi', '1024Mi'));
  assert.ok(!sameQuantity('1', '2'));
  assert.ok(!sameQuantity('1', undefined));
  assert.ok(sameQuantity(undefined, undefined));
});
