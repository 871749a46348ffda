import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadyWaiters } from './ready-waiters.ts';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('waiters of a Service are released in arrival order, one batch per event-loop turn', async () => {
  const w = new ReadyWaiters(3);
  const order: number[] = [];
  for (let i = 0; i < 7; i++) w.add('ns/a', () => order.push(i));
  w.release('ns/a');
  assert.deepEqual(order, [], 'nothing is called synchronously');
  await turn();
  assert.deepEqual(order, [0, 1, 2]);
  await turn();
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  await turn();
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(w.size, 0);
});

test('only the Service released is released; Services turn ready one after another in order', async () => {
  const w = new ReadyWaiters(10);
  const got: string[] = [];
  w.add('ns/a', () => got.push('a1'));
  w.add('ns/b', () => got.push('b1'));
  w.add('ns/a', () => got.push('a2'));
  w.release('ns/b');
  w.release('ns/missing'); // nothing waits for it: a no-op
  await turn();
  assert.deepEqual(got, ['b1']);
  assert.deepEqual([...w.services()], ['ns/a']);
  w.release('ns/a');
  await turn();
  assert.deepEqual(got, ['b1', 'a1', 'a2']);
});

test('a cancelled waiter is never called, before or during a paced release', async () => {
  const w = new ReadyWaiters(2);
  const got: number[] = [];
  const cancels = [0, 1, 2, 3, 4].map((i) => w.add('ns/a', () => got.push(i)));
  cancels[0]?.(); // before the release
  w.release('ns/a');
  await turn(); // 1 and 2 released
  cancels[4]?.(); // during the release
  cancels[1]?.(); // after being called: a no-op
  await turn();
  await turn();
  assert.deepEqual(got, [1, 2, 3]);
  assert.equal(w.size, 0);
});

test('cancelling the last waiter of a Service forgets the Service', () => {
  const w = new ReadyWaiters();
  const cancel = w.add('ns/a', () => {});
  assert.equal(w.size, 1);
  cancel();
  assert.equal(w.size, 0);
  assert.deepEqual([...w.services()], []);
});

test('a throwing callback does not strand the waiters behind it', async () => {
  const thrown: unknown[] = [];
  const w = new ReadyWaiters(10, (err) => thrown.push(err));
  const got: number[] = [];
  w.add('ns/a', () => got.push(1));
  w.add('ns/a', () => {
    throw new Error('bug');
  });
  w.add('ns/a', () => got.push(3));
  w.release('ns/a');
  await turn();
  assert.deepEqual(got, [1, 3]);
  assert.equal((thrown[0] as Error | undefined)?.message, 'bug');
});

test('a late arrival joins the end of a release under way instead of overtaking it', async () => {
  const w = new ReadyWaiters(2);
  const order: string[] = [];
  for (let i = 0; i < 5; i++) w.add('ns/a', () => order.push(`held-${i}`));
  assert.equal(w.isReleasing('ns/a'), false, 'nothing released yet');
  w.release('ns/a');
  assert.equal(w.isReleasing('ns/a'), true);
  assert.equal(w.isReleasing('ns/b'), false, 'another Service is not being released');
  await turn(); // held-0, held-1
  w.addBehind('ns/a', () => order.push('late-1'));
  const cancelled = w.addBehind('ns/a', () => order.push('late-cancelled'));
  cancelled();
  await turn(); // held-2, held-3
  w.addBehind('ns/a', () => order.push('late-2'));
  assert.equal(w.size, 3);
  await turn();
  await turn();
  assert.deepEqual(order, ['held-0', 'held-1', 'held-2', 'held-3', 'held-4', 'late-1', 'late-2']);
  assert.equal(w.isReleasing('ns/a'), false, 'the release is over');
  assert.equal(w.size, 0);
});

test('addBehind with no release under way is called on the next turn', async () => {
  const w = new ReadyWaiters(2);
  const got: number[] = [];
  w.addBehind('ns/a', () => got.push(1));
  assert.deepEqual(got, []);
  await turn();
  assert.deepEqual(got, [1]);
  assert.equal(w.isReleasing('ns/a'), false);
});
