import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conditionUnchanged, findCondition, isConditionTrue, setCondition } from './conditions.ts';

test('lastTransitionTime changes only when the status changes', () => {
  const t1 = new Date('2026-01-01T00:00:00Z');
  const t2 = new Date('2026-01-01T00:05:00Z');
  const t3 = new Date('2026-01-01T00:10:00Z');
  let list = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'A', message: 'a' }, t1);
  assert.equal(list[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');
  list = setCondition(list, { type: 'Ready', status: 'False', reason: 'B', message: 'b' }, t2);
  assert.equal(list[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');
  assert.equal(list[0]?.reason, 'B');
  list = setCondition(list, { type: 'Ready', status: 'True', reason: 'C', message: 'c' }, t3);
  assert.equal(list[0]?.lastTransitionTime, '2026-01-01T00:10:00Z');
  assert.ok(isConditionTrue(list, 'Ready'));
  assert.equal(list.length, 1);
});

test('other conditions are kept and the input is not modified', () => {
  const before = setCondition(undefined, { type: 'Other', status: 'True', reason: 'X', message: '' });
  const after = setCondition(before, {
    type: 'Ready',
    status: 'True',
    reason: 'Y',
    message: '',
    observedGeneration: 3,
  });
  assert.equal(before.length, 1);
  assert.equal(after.length, 2);
  assert.equal(findCondition(after, 'Ready')?.observedGeneration, 3);
  assert.ok(
    conditionUnchanged(after, {
      type: 'Ready',
      status: 'True',
      reason: 'Y',
      message: '',
      observedGeneration: 3,
    }),
  );
  assert.ok(
    !conditionUnchanged(after, {
      type: 'Ready',
      status: 'True',
      reason: 'Y',
      message: '',
      observedGeneration: 4,
    }),
  );
});
