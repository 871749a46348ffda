// The aggregation rules on recorded /queue answers (the shapes the interceptor's admin port sends).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QueueAggregator, type PodPollResult } from './aggregator.ts';
import { decodeQueueBody } from '../../shared/queue-codec/queue-body.ts';

const A = '127.0.0.2:9090';
const B = '127.0.0.3:9090';

function answer(pod: string, body: string, startedAtMs = 0): PodPollResult {
  return { pod, counts: decodeQueueBody(body), startedAtMs };
}
const failed = (pod: string): PodPollResult => ({ pod, counts: undefined, startedAtMs: 0 });

test('concurrency is summed over pods; a pod seen for the first time gives no delta', () => {
  const agg = new QueueAggregator({ staleAfterMs: 5_000 });
  const first = agg.applyPoll(
    [A, B],
    [
      answer(A, '{"ns/r":{"Concurrency":2,"RequestCount":100}}\n'),
      answer(B, '{"ns/r":{"Concurrency":1,"RequestCount":50},"ns/s":{"Concurrency":0,"RequestCount":0}}\n'),
    ],
    1_000,
  );
  assert.deepEqual([...first.deltas], []);
  assert.equal(agg.concurrency('ns/r'), 3);
  assert.equal(agg.concurrency('ns/s'), 0);
  assert.deepEqual([...agg.keys()].sort(), ['ns/r', 'ns/s']);
  assert.equal(agg.totalConcurrency(), 3);

  const second = agg.applyPoll(
    [A, B],
    [
      answer(A, '{"ns/r":{"Concurrency":0,"RequestCount":130}}'),
      answer(B, '{"ns/r":{"Concurrency":4,"RequestCount":55},"ns/s":{"Concurrency":1,"RequestCount":1}}'),
    ],
    1_500,
  );
  assert.deepEqual(Object.fromEntries(second.deltas), { 'ns/r': 35, 'ns/s': 1 });
  assert.equal(agg.totalConcurrency(), 5);
});

test('a counter reset counts the current value; a new key on a known pod gives no delta', () => {
  const agg = new QueueAggregator({ staleAfterMs: 5_000 });
  agg.applyPoll([A], [answer(A, '{"ns/r":{"Concurrency":0,"RequestCount":900}}')], 0);
  const out = agg.applyPoll(
    [A],
    [answer(A, '{"ns/new":{"Concurrency":1,"RequestCount":40},"ns/r":{"Concurrency":0,"RequestCount":7}}')],
    500,
  );
  assert.deepEqual(Object.fromEntries(out.deltas), { 'ns/r': 7 });
});

test('a silent listed pod keeps its last concurrency for the bound, then stops counting', () => {
  const agg = new QueueAggregator({ staleAfterMs: 2_000 });
  agg.applyPoll(
    [A, B],
    [
      answer(A, '{"ns/r":{"Concurrency":2,"RequestCount":10}}'),
      answer(B, '{"ns/r":{"Concurrency":3,"RequestCount":10}}'),
    ],
    0,
  );
  let out = agg.applyPoll(
    [A, B],
    [answer(A, '{"ns/r":{"Concurrency":2,"RequestCount":20}}'), failed(B)],
    1_000,
  );
  assert.equal(agg.concurrency('ns/r'), 5, "B's last value is still trusted");
  assert.deepEqual(Object.fromEntries(out.deltas), { 'ns/r': 10 }, 'no requests from the silent pod');
  assert.equal(out.silentTrusted, 1);
  out = agg.applyPoll([A, B], [answer(A, '{"ns/r":{"Concurrency":2,"RequestCount":20}}'), failed(B)], 2_500);
  assert.equal(agg.concurrency('ns/r'), 2, 'B has been silent for longer than the bound');
  assert.equal(out.silentExpired, 1);
  // B answers again: its counter continues from what it had, so the delta is real traffic.
  out = agg.applyPoll(
    [A, B],
    [
      answer(A, '{"ns/r":{"Concurrency":2,"RequestCount":20}}'),
      answer(B, '{"ns/r":{"Concurrency":1,"RequestCount":16}}'),
    ],
    3_000,
  );
  assert.equal(agg.concurrency('ns/r'), 3);
  assert.deepEqual(Object.fromEntries(out.deltas), { 'ns/r': 6 });
});

test('a pod that leaves the EndpointSlice is forgotten; when it comes back it is new again', () => {
  const agg = new QueueAggregator({ staleAfterMs: 5_000 });
  agg.applyPoll(
    [A, B],
    [
      answer(A, '{"ns/r":{"Concurrency":1,"RequestCount":1}}'),
      answer(B, '{"ns/r":{"Concurrency":1,"RequestCount":1}}'),
    ],
    0,
  );
  agg.applyPoll([A], [answer(A, '{"ns/r":{"Concurrency":1,"RequestCount":1}}')], 500);
  assert.equal(agg.concurrency('ns/r'), 1);
  assert.equal(agg.podCount, 1);
  const out = agg.applyPoll(
    [A, B],
    [
      answer(A, '{"ns/r":{"Concurrency":1,"RequestCount":1}}'),
      answer(B, '{"ns/r":{"Concurrency":0,"RequestCount":99}}'),
    ],
    1_000,
  );
  assert.deepEqual([...out.deltas], [], 'the returning pod is a baseline, not 98 new requests');
});

test('a route no pod reports any more disappears', () => {
  const agg = new QueueAggregator({ staleAfterMs: 5_000 });
  agg.applyPoll(
    [A],
    [answer(A, '{"ns/a":{"Concurrency":1,"RequestCount":1},"ns/b":{"Concurrency":0,"RequestCount":0}}')],
    0,
  );
  agg.applyPoll([A], [answer(A, '{"ns/b":{"Concurrency":0,"RequestCount":0}}')], 500);
  assert.deepEqual([...agg.keys()], ['ns/b']);
  assert.equal(agg.concurrency('ns/a'), 0);
});

test('stream events update a pod between polls, are counted once, and beat older poll answers', () => {
  const agg = new QueueAggregator({ staleAfterMs: 5_000 });
  agg.applyPoll(
    [A, B],
    [
      answer(A, '{"ns/r":{"Concurrency":0,"RequestCount":10}}'),
      answer(B, '{"ns/r":{"Concurrency":0,"RequestCount":5}}'),
    ],
    0,
  );
  // A's route becomes active at t=100 with its 11th request.
  assert.equal(agg.applyEvent(A, 'ns/r', 1, 11, 100), 1);
  assert.equal(agg.concurrency('ns/r'), 1);
  assert.equal(agg.totalConcurrency(), 1);
  // A poll that began before the event answers with the older numbers: the event wins.
  let out = agg.applyPoll(
    [A, B],
    [
      answer(A, '{"ns/r":{"Concurrency":0,"RequestCount":10}}', 50),
      answer(B, '{"ns/r":{"Concurrency":0,"RequestCount":5}}', 50),
    ],
    500,
  );
  assert.deepEqual([...out.deltas], []);
  assert.equal(agg.concurrency('ns/r'), 1);
  // The next poll continues from the event's count: 3 more requests, not 4.
  out = agg.applyPoll(
    [A, B],
    [
      answer(A, '{"ns/r":{"Concurrency":0,"RequestCount":14}}', 600),
      answer(B, '{"ns/r":{"Concurrency":0,"RequestCount":5}}', 600),
    ],
    1_000,
  );
  assert.deepEqual(Object.fromEntries(out.deltas), { 'ns/r': 3 });
  assert.equal(agg.concurrency('ns/r'), 0);
  // An event carrying an older count (crossed with a poll) adds nothing.
  assert.equal(agg.applyEvent(A, 'ns/r', 0, 12, 1_100), 0);
  // An event for an unknown key or pod is a baseline that still counts towards concurrency.
  assert.equal(agg.applyEvent(B, 'ns/new', 2, 2, 1_200), 0);
  assert.equal(agg.concurrency('ns/new'), 2);
});

test('a changed key set is matched by key, not by position', () => {
  const agg = new QueueAggregator({ staleAfterMs: 5_000 });
  agg.applyPoll(
    [A],
    [answer(A, '{"ns/a":{"Concurrency":1,"RequestCount":10},"ns/c":{"Concurrency":1,"RequestCount":30}}')],
    0,
  );
  // ns/b appears between the two; ns/c moves from index 1 to index 2.
  const out = agg.applyPoll(
    [A],
    [
      answer(
        A,
        '{"ns/a":{"Concurrency":1,"RequestCount":11},"ns/b":{"Concurrency":2,"RequestCount":5},"ns/c":{"Concurrency":0,"RequestCount":33}}',
      ),
    ],
    500,
  );
  assert.deepEqual(Object.fromEntries(out.deltas), { 'ns/a': 1, 'ns/c': 3 });
  assert.equal(agg.concurrency('ns/b'), 2);
  assert.equal(agg.totalConcurrency(), 3);
  // And back to the first set: ns/b is forgotten, the others keep counting.
  const back = agg.applyPoll(
    [A],
    [answer(A, '{"ns/a":{"Concurrency":0,"RequestCount":12},"ns/c":{"Concurrency":0,"RequestCount":34}}')],
    1_000,
  );
  assert.deepEqual(Object.fromEntries(back.deltas), { 'ns/a': 1, 'ns/c': 1 });
  assert.deepEqual([...agg.keys()].sort(), ['ns/a', 'ns/c']);
});
