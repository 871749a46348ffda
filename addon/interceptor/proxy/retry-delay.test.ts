import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelayMs } from './forward.ts';

test('a refused connection is retried after 5 ms, then twice as long each time, at most every 50 ms', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 50, 1000].map(retryDelayMs), [5, 10, 20, 40, 50, 50, 50, 50]);
});
