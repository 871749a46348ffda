import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countOf, parseQueueCounts } from './queue-counts.ts';

test("upstream's exact encoding is read by the fast scanner", () => {
  const c = parseQueueCounts(
    '{"default/a":{"Concurrency":3,"RequestCount":1234},"team/b-1.x":{"Concurrency":0,"RequestCount":0}}\n',
  );
  assert.deepEqual(c, {
    keys: ['default/a', 'team/b-1.x'],
    concurrency: [3, 0],
    requestCount: [1234, 0],
  });
  assert.deepEqual(parseQueueCounts('{}\n'), { keys: [], concurrency: [], requestCount: [] });
});

test('any other valid JSON gives the same answer through the general parser', () => {
  const bodies = [
    '{ "default/a": { "Concurrency": 3, "RequestCount": 1234 } }',
    '{"default/a":{"RequestCount":1234,"Concurrency":3}}',
    '{"default\\/a":{"Concurrency":3,"RequestCount":1234}}',
    '{"default/a":{"Concurrency":3.0,"RequestCount":1234e0}}',
  ];
  for (const b of bodies)
    assert.deepEqual(countOf(parseQueueCounts(b), 'default/a'), { Concurrency: 3, RequestCount: 1234 }, b);
});

test('bad bodies are errors that say what is wrong', () => {
  assert.throws(() => parseQueueCounts('<html>'), /not JSON/);
  assert.throws(() => parseQueueCounts('[]'), /not a JSON object/);
  assert.throws(() => parseQueueCounts('{"ns/r":{"Concurrency":"3"}}'), /entry "ns\/r"/);
  assert.throws(() => parseQueueCounts('{"ns/r":{"Concurrency":-1,"RequestCount":0}}'), /entry "ns\/r"/);
  assert.throws(() => parseQueueCounts('{"ns/r":{"Concurrency":1,"RequestCount":2}'), /not JSON/);
  assert.throws(() => parseQueueCounts('{"ns/r":{"Concurrency":1,"RequestCount":2},}'), /not JSON/);
});
