import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WatchStreamReader,
  decodeWatchEvent,
  encodeSnapshotEvent,
  encodeWatchEvent,
  heartbeatComment,
  type ServerSentEvent,
} from './watch-stream.ts';
import { encodeQueueCounts, encodeQueueKey } from './queue-body.ts';

// The interceptor's /queue/watch stream, as its encoder writes it (plus a CRLF event, which the
// format allows).
const recorded = Buffer.from(
  encodeSnapshotEvent(encodeQueueCounts([['default/r', { Concurrency: 0, RequestCount: 4 }]])) +
    heartbeatComment +
    encodeWatchEvent('active', encodeQueueKey('default/r'), { Concurrency: 1, RequestCount: 5 }) +
    'event: idle\r\ndata: {"key":"default/r","Concurrency":0,"RequestCount":5}\r\n\r\n',
);

function readAll(reader: WatchStreamReader, bytes: Buffer, size: number): ServerSentEvent[] {
  const events: ServerSentEvent[] = [];
  for (let i = 0; i < bytes.length; i += size) events.push(...reader.feed(bytes.subarray(i, i + size)));
  return events;
}

test('events are read whole, however the stream is split into chunks (even inside a UTF-8 character)', () => {
  const unicode = Buffer.from(
    encodeWatchEvent('active', encodeQueueKey('ns/ü"\\€😀'), { Concurrency: 2, RequestCount: 9 }),
  );
  const stream = Buffer.concat([recorded, unicode]);
  for (const size of [1, 3, 7, stream.length]) {
    const events = readAll(new WatchStreamReader(), stream, size);
    assert.deepEqual(
      events.map((e) => e.event),
      ['snapshot', 'active', 'idle', 'active'],
      `chunks of ${size}`,
    );
    assert.deepEqual(decodeWatchEvent(events[1]?.data ?? ''), {
      key: 'default/r',
      Concurrency: 1,
      RequestCount: 5,
    });
    assert.deepEqual(decodeWatchEvent(events[3]?.data ?? ''), {
      key: 'ns/ü"\\€😀',
      Concurrency: 2,
      RequestCount: 9,
    });
  }
});

test('comments alone produce no event; multi-line data is joined', () => {
  const r = new WatchStreamReader();
  assert.deepEqual(r.feed(Buffer.from(': heartbeat\n\n: heartbeat\n\n')), []);
  assert.deepEqual(r.feed(Buffer.from('data: a\ndata: b\n\n')), [{ event: 'message', data: 'a\nb' }]);
});

test('an event over the bound is an error as soon as it passes the bound, with or without newlines', () => {
  const noNewline = new WatchStreamReader(1_000);
  assert.deepEqual(noNewline.feed(Buffer.alloc(600, 'x')), []);
  assert.throws(() => noNewline.feed(Buffer.alloc(600, 'x')), /larger than the 1000-byte bound/);

  const manyLines = new WatchStreamReader(1_000);
  assert.throws(() => {
    for (let i = 0; i < 100; i++) manyLines.feed(Buffer.from(`data: ${'y'.repeat(20)}\n`));
  }, /larger than the 1000-byte bound/);

  // Heartbeats and whole events below the bound never add up to it.
  const steady = new WatchStreamReader(1_000);
  const event = Buffer.from(
    `${heartbeatComment}${encodeWatchEvent('active', encodeQueueKey('a/b'), { Concurrency: 1, RequestCount: 1 })}`,
  );
  for (let i = 0; i < 200; i++) assert.equal(steady.feed(event).length, 1);
});

test('a very long line costs time in proportion to its length (each byte is looked at once)', () => {
  const reader = new WatchStreamReader(64 * 1024 * 1024);
  const chunk = Buffer.alloc(64 * 1024, 'z');
  const t0 = performance.now();
  for (let i = 0; i < 512; i++) reader.feed(chunk); // 32 MiB without a newline
  const ms = performance.now() - t0;
  assert.ok(ms < 1_000, `32 MiB without a newline took ${ms.toFixed(0)}ms`);
});

test('event data that is not a transition with non-negative integer counts is refused', () => {
  const bad = [
    'not json',
    '[]',
    'null',
    '{"key":1,"Concurrency":1,"RequestCount":1}',
    '{"key":"a/b","Concurrency":1e308,"RequestCount":1}',
    '{"key":"a/b","Concurrency":1.5,"RequestCount":1}',
    '{"key":"a/b","Concurrency":-1,"RequestCount":1}',
    '{"key":"a/b","Concurrency":"1","RequestCount":1}',
    '{"key":"a/b","Concurrency":1}',
  ];
  for (const data of bad) assert.throws(() => decodeWatchEvent(data), /queue watch event is not/, data);
  // Repeated fields: the last one wins, as JSON parsers read them.
  assert.deepEqual(decodeWatchEvent('{"key":"a/b","Concurrency":5,"Concurrency":1,"RequestCount":2}'), {
    key: 'a/b',
    Concurrency: 1,
    RequestCount: 2,
  });
  // The error quotes a bounded part of what was sent.
  const huge = `{"key":"${'k'.repeat(1_000_000)}","Concurrency":-1,"RequestCount":0}`;
  assert.throws(
    () => decodeWatchEvent(huge),
    (err: Error) => err.message.length < 1_000 && /more characters/.test(err.message),
  );
});
