// /queue/watch's event stream through a real HTTP server: `active` at once, `idle` only after the
// route has stayed at 0 for the idle delay, nothing for a route that flaps within it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RequestQueue } from './queue.ts';
import { QueueWatch, minWriteIntervalMs } from './watch.ts';
import { watchQueue, type WatchEvent } from '../testing/harness.ts';

const idleMs = 120;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A QueueWatch behind a real server, one client reading it, and every write the stream made. */
async function watching(
  queue: RequestQueue,
): Promise<{ events: WatchEvent[]; writes: string[]; close(): Promise<void> }> {
  const watch = new QueueWatch(queue, 60_000, idleMs);
  const writes: string[] = [];
  const server = http.createServer((req, res) => {
    const write = res.write.bind(res) as (chunk: string) => boolean;
    res.write = ((chunk: string) => {
      writes.push(String(chunk));
      return write(chunk);
    }) as typeof res.write;
    watch.handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const watcher = await watchQueue(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await sleep(30);
  return {
    events: watcher.events,
    writes,
    close: async () => {
      watcher.close();
      watch.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('a route that flaps 0 -> 1 -> 0 within the idle delay is announced active once, then idle once it stays at 0', async () => {
  const q = new RequestQueue();
  q.ensureKey('ns/a');
  const w = await watching(q);
  try {
    assert.deepEqual(
      w.events.map((e) => e.event),
      ['snapshot'],
    );
    for (let i = 0; i < 5; i++) {
      const c = q.increase('ns/a');
      assert.ok(c);
      q.decrease('ns/a', c);
      await sleep(idleMs / 4);
    }
    assert.deepEqual(
      w.events.map((e) => e.event),
      ['snapshot', 'active'],
      'one active, no idle while requests keep coming',
    );
    assert.deepEqual(JSON.parse(w.events[1]?.data ?? ''), { key: 'ns/a', Concurrency: 1, RequestCount: 1 });
    await sleep(idleMs * 1.5 + 50);
    assert.deepEqual(
      w.events.map((e) => e.event),
      ['snapshot', 'active', 'idle'],
    );
    assert.deepEqual(JSON.parse(w.events[2]?.data ?? ''), { key: 'ns/a', Concurrency: 0, RequestCount: 5 });
    // After the idle announcement, the next request is announced at once again.
    const c = q.increase('ns/a');
    await sleep(20);
    assert.equal(w.events.at(-1)?.event, 'active');
    if (c) q.decrease('ns/a', c);
  } finally {
    await w.close();
  }
});

test('a route active when the client connects is idle-announced once it drains', async () => {
  const q = new RequestQueue();
  q.ensureKey('ns/b');
  const c = q.increase('ns/b');
  assert.ok(c);
  const w = await watching(q);
  try {
    assert.equal(w.events[0]?.data, '{"ns/b":{"Concurrency":1,"RequestCount":1}}');
    q.decrease('ns/b', c);
    await sleep(idleMs * 1.5 + 50);
    assert.deepEqual(
      w.events.map((e) => e.event),
      ['snapshot', 'idle'],
    );
  } finally {
    await w.close();
  }
});

test('the first event after a quiet spell is written at the end of its turn; the ones right after it share one write', async () => {
  const q = new RequestQueue();
  for (const k of ['ns/a', 'ns/b', 'ns/c']) q.ensureKey(k);
  const { events, writes, close } = await watching(q);
  try {
    await sleep(minWriteIntervalMs * 3);
    assert.equal(writes.length, 1, 'the snapshot');
    q.increase('ns/a');
    await new Promise((r) => setImmediate(r));
    assert.equal(writes.length, 2, 'the first active leaves without waiting');
    assert.match(writes[1] ?? '', /"key":"ns\/a"/);
    q.increase('ns/b');
    q.increase('ns/c');
    await new Promise((r) => setImmediate(r));
    assert.equal(writes.length, 2, 'the next ones wait for the interval');
    await sleep(minWriteIntervalMs * 3);
    assert.equal(writes.length, 3);
    assert.match(
      writes[2] ?? '',
      /event: active\ndata: \{"key":"ns\/b".*\n\nevent: active\ndata: \{"key":"ns\/c"/s,
    );
    assert.deepEqual(
      events.map((e) => JSON.parse(e.data) as { key?: string }).map((d) => d.key),
      [undefined, 'ns/a', 'ns/b', 'ns/c'],
    );
  } finally {
    await close();
  }
});

test('a route removed while its idle is pending is announced idle with zeros', async () => {
  const q = new RequestQueue();
  q.ensureKey('ns/gone');
  const w = await watching(q);
  try {
    const c = q.increase('ns/gone');
    assert.ok(c);
    await sleep(20);
    q.decrease('ns/gone', c);
    q.removeKey('ns/gone');
    await sleep(idleMs * 1.5 + 50);
    assert.deepEqual(
      w.events.map((e) => e.event),
      ['snapshot', 'active', 'idle'],
    );
    assert.deepEqual(JSON.parse(w.events[2]?.data ?? ''), {
      key: 'ns/gone',
      Concurrency: 0,
      RequestCount: 0,
    });
  } finally {
    await w.close();
  }
});
