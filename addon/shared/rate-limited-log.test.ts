import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from './log.ts';
import { RateLimitedLog } from './rate-limited-log.ts';

test('one warning per subject per interval, the next one says how many were left out', () => {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  let now = 0;
  const log = new RateLimitedLog(createLogger({ component: 'test', stream }), 30_000, () => now);
  assert.equal(log.warn('pod-a', 'bad answer', { pod: 'pod-a' }), true);
  assert.equal(log.warn('pod-a', 'bad answer', { pod: 'pod-a' }), false);
  assert.equal(log.warn('pod-b', 'bad answer', { pod: 'pod-b' }), true, 'subjects are apart');
  now = 10_000;
  assert.equal(log.warn('pod-a', 'bad answer', { pod: 'pod-a' }), false);
  now = 30_000;
  assert.equal(log.warn('pod-a', 'bad answer', { pod: 'pod-a' }), true);
  log.forget('pod-b');
  assert.equal(log.warn('pod-b', 'bad answer', { pod: 'pod-b' }), true, 'a forgotten subject starts over');
  assert.deepEqual(
    lines.map((l) => [l['pod'], l['suppressedSinceLast']]),
    [
      ['pod-a', undefined],
      ['pod-b', undefined],
      ['pod-a', 2],
      ['pod-b', undefined],
    ],
  );
  assert.ok(lines.every((l) => l['level'] === 'warn'));
});
