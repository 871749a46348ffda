import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestQueue } from './queue.ts';

test('increase counts concurrency and the monotonic request count; decrease only concurrency, clamped at 0', () => {
  const q = new RequestQueue();
  q.ensureKey('ns/a');
  const c = q.increase('ns/a');
  assert.ok(c);
  q.increase('ns/a');
  const counts = (): unknown => {
    const k = q.get('ns/a');
    return k && { Concurrency: k.Concurrency, RequestCount: k.RequestCount };
  };
  assert.deepEqual(counts(), { Concurrency: 2, RequestCount: 2 });
  q.decrease('ns/a', c);
  q.decrease('ns/a', c);
  q.decrease('ns/a', c);
  assert.deepEqual(counts(), { Concurrency: 0, RequestCount: 2 });
});

test('counting a key that was never ensured is a silent no-op', () => {
  const q = new RequestQueue();
  assert.equal(q.increase('ns/unknown'), undefined);
  assert.equal(q.toJSON(), '{}\n');
});

test('/queue body: keys sorted, upstream field names, zeros included, trailing newline', () => {
  const q = new RequestQueue();
  q.ensureKey('b/x');
  q.ensureKey('a/y');
  q.increase('b/x');
  assert.equal(
    q.toJSON(),
    '{"a/y":{"Concurrency":0,"RequestCount":0},"b/x":{"Concurrency":1,"RequestCount":1}}\n',
  );
  q.removeKey('b/x');
  assert.equal(q.toJSON(), '{"a/y":{"Concurrency":0,"RequestCount":0}}\n');
});

test('transitions 0 -> 1 and 1 -> 0 are announced synchronously, once each', () => {
  const q = new RequestQueue();
  q.ensureKey('ns/a');
  const seen: string[] = [];
  q.onTransition((kind, key, c) => seen.push(`${kind} ${key} ${c.Concurrency}/${c.RequestCount}`));
  const c1 = q.increase('ns/a');
  assert.deepEqual(seen, ['active ns/a 1/1']);
  const c2 = q.increase('ns/a');
  q.decrease('ns/a', c1!);
  q.decrease('ns/a', c2!);
  assert.deepEqual(seen, ['active ns/a 1/1', 'idle ns/a 0/2']);
});
