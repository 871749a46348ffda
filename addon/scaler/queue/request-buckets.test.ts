import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestBuckets, round3 } from './request-buckets.ts';
import { RateWindows } from './rate-windows.ts';

const t0 = 1_700_000_000_000; // a whole second, like Go's Truncate would produce

test('the average is per bucket over the buckets written so far', () => {
  const b = new RequestBuckets(10_000, 1_000);
  assert.equal(b.windowAverage(t0), 0, 'nothing recorded');
  b.record(t0, 5);
  assert.equal(b.windowAverage(t0), 5);
  b.record(t0 + 1_000, 3);
  assert.equal(b.windowAverage(t0 + 1_000), 4);
  b.record(t0 + 1_500, 1); // same bucket
  assert.equal(b.windowAverage(t0 + 1_999), 4.5);
});

test('buckets after the last write stop counting, and a full window of silence gives 0', () => {
  const b = new RequestBuckets(3_000, 1_000);
  b.record(t0, 3);
  b.record(t0 + 1_000, 3);
  b.record(t0 + 2_000, 3);
  assert.equal(b.windowAverage(t0 + 2_000), 3);
  // One second later with no write: the bucket that wraps to index of t0+3s held t0's 3.
  assert.equal(b.windowAverage(t0 + 3_000), 2);
  assert.equal(b.windowAverage(t0 + 4_000), 1);
  assert.equal(b.windowAverage(t0 + 5_000), 0);
});

test('recording zeros every tick decays the rate; a write a whole window later starts afresh', () => {
  const b = new RequestBuckets(4_000, 1_000);
  for (let s = 0; s < 4; s++) b.record(t0 + s * 1_000, 8);
  assert.equal(b.windowAverage(t0 + 3_000), 8);
  b.record(t0 + 4_000, 0);
  assert.equal(b.windowAverage(t0 + 4_000), 6);
  b.record(t0 + 5_000, 0);
  assert.equal(b.windowAverage(t0 + 5_000), 4);
  b.record(t0 + 20_000, 2);
  assert.equal(b.windowAverage(t0 + 20_000), 2, 'a reset keeps nothing from before');
});

test('a value older than the window is ignored; an older in-window value is added', () => {
  const b = new RequestBuckets(3_000, 1_000);
  b.record(t0 + 10_000, 3);
  b.record(t0 + 7_000, 100); // bt + window <= lastWrite
  assert.equal(b.windowAverage(t0 + 10_000), 3);
  b.record(t0 + 9_000, 3); // one bucket back: counted, and firstWrite moves back
  assert.equal(b.windowAverage(t0 + 10_000), 3);
});

test('sub-second granularity works (upstream divides by zero there)', () => {
  const b = new RequestBuckets(1_000, 100);
  b.record(t0, 1);
  b.record(t0 + 100, 1);
  assert.equal(b.windowAverage(t0 + 100), 1);
  assert.equal(b.windowAverage(t0 + 2_000), 0);
});

test('rounding to 3 decimals like Go math.Round(x*1000)/1000', () => {
  assert.equal(round3(1 / 3), 0.333);
  assert.equal(round3(2 / 3), 0.667);
  const b = new RequestBuckets(3_000, 1_000);
  b.record(t0, 1);
  b.record(t0 + 1_000, 0);
  b.record(t0 + 2_000, 0);
  assert.equal(b.windowAverage(t0 + 2_000), 0.333);
});

test('RateWindows keeps history unless the window changes, and drops keys that are gone', () => {
  const w = new RateWindows();
  w.recordTick(t0, ['a/r', 'b/r'], new Map([['a/r', 6]]));
  assert.equal(w.rate('a/r', t0, 60_000, 1_000), 6, 'same (default) config keeps history');
  assert.equal(w.rate('a/r', t0, 10_000, 1_000), 0, 'a new window replaces the buffer');
  w.recordTick(t0 + 1_000, ['a/r'], new Map([['a/r', 4]]));
  assert.equal(w.rate('a/r', t0 + 1_000, 10_000, 1_000), 4);
  assert.equal(w.size, 1, 'b/r was not reported in the last tick');
  assert.equal(w.rate('x/unknown', t0, 60_000, 1_000), 0);
});

test("RateWindows starts a new key with the route's own window, so the first GetMetrics keeps history", () => {
  const w = new RateWindows((key) =>
    key === 'a/r' ? { windowMs: 10_000, granularityMs: 1_000 } : undefined,
  );
  w.recordTick(
    t0,
    ['a/r', 'b/r'],
    new Map([
      ['a/r', 3],
      ['b/r', 3],
    ]),
  );
  assert.equal(w.rate('a/r', t0, 10_000, 1_000), 3);
  assert.equal(w.rate('b/r', t0, 10_000, 1_000), 0, 'b/r started with the defaults and was replaced');
  // The key disappears (an interceptor restart) and returns: still the route's window.
  w.recordTick(t0 + 1_000, [], new Map());
  w.recordTick(t0 + 2_000, ['a/r'], new Map([['a/r', 2]]));
  assert.equal(w.rate('a/r', t0 + 2_000, 10_000, 1_000), 2);
});
