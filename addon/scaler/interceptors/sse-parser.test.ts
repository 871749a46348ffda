import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser } from './sse-parser.ts';

// Recorded from the interceptor's /queue/watch contract.
const recorded =
  'event: snapshot\ndata: {"default/r":{"Concurrency":0,"RequestCount":4}}\n\n' +
  ': heartbeat\n\n' +
  'event: active\ndata: {"key":"default/r","Concurrency":1,"RequestCount":5}\n\n' +
  'event: idle\r\ndata: {"key":"default/r","Concurrency":0,"RequestCount":5}\r\n\r\n';

test('events are parsed whole, however the stream is split into chunks', () => {
  for (const size of [1, 3, 7, recorded.length]) {
    const p = new SseParser();
    const events = [];
    for (let i = 0; i < recorded.length; i += size) events.push(...p.feed(recorded.slice(i, i + size)));
    assert.deepEqual(
      events.map((e) => e.event),
      ['snapshot', 'active', 'idle'],
      `chunks of ${size}`,
    );
    assert.equal(events[1]?.data, '{"key":"default/r","Concurrency":1,"RequestCount":5}');
  }
});

test('comments alone produce no event; multi-line data is joined', () => {
  const p = new SseParser();
  assert.deepEqual(p.feed(': heartbeat\n\n: heartbeat\n\n'), []);
  assert.deepEqual(p.feed('data: a\ndata: b\n\n'), [{ event: 'message', data: 'a\nb' }]);
});
