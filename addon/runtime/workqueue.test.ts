import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkQueue } from './workqueue.ts';

test('duplicate keys collapse while queued', async () => {
  const q = new WorkQueue();
  for (let i = 0; i < 100; i++) q.add('ns/a');
  q.add('ns/b');
  assert.equal(q.length, 2);
  assert.equal(await q.get(), 'ns/a');
  assert.equal(await q.get(), 'ns/b');
  assert.equal(q.length, 0);
});

test('a key added while processing is handed out again only after done()', async () => {
  const q = new WorkQueue();
  q.add('k');
  const key = await q.get();
  assert.equal(key, 'k');
  q.add('k');
  q.add('k');
  assert.equal(q.length, 0, 'not handed to a second worker while the first holds it');
  q.done('k');
  assert.equal(q.length, 1);
  assert.equal(await q.get(), 'k');
  q.done('k');
  assert.equal(q.length, 0);
});

test('get() waits for a key and resolves undefined on shutdown', async () => {
  const q = new WorkQueue();
  const waiting = q.get();
  q.add('x');
  assert.equal(await waiting, 'x');
  const second = q.get();
  q.shutdown();
  assert.equal(await second, undefined);
  q.add('y');
  assert.equal(await q.get(), undefined);
});

test('rate-limited retries back off exponentially up to the cap, and forget() resets', () => {
  const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
  const delays = [1, 2, 3, 4, 5].map(() => q.addRateLimited('k'));
  assert.deepEqual(delays, [10, 20, 40, 50, 50]);
  assert.equal(q.failures('k'), 5);
  q.forget('k');
  assert.equal(q.addRateLimited('k'), 10);
  q.shutdown();
});

test('addAfter delivers later and keeps the earliest deadline', async () => {
  const q = new WorkQueue();
  q.addAfter('k', 200);
  q.addAfter('k', 20);
  const t0 = Date.now();
  assert.equal(await q.get(), 'k');
  const waited = Date.now() - t0;
  assert.ok(waited >= 15 && waited < 150, `waited ${waited}ms`);
  q.done('k');
  q.shutdown();
});
