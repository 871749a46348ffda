import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { status } from '@grpc/grpc-js';
import { createLogger } from '../../shared/log.ts';
import { ActiveStreams } from './active-streams.ts';
import { ScalerError } from './trigger-metrics.ts';

const quiet = createLogger({ component: 'test', stream: new Writable({ write: (_c, _e, cb) => cb() }) });
const ref = (route: string) => ({ name: 'so', namespace: 'ns', scalerMetadata: { interceptorRoute: route } });

test('sends on change only, per route key; the interceptors trigger hears every key', () => {
  const active = new Map<string, boolean>();
  const streams = new ActiveStreams({
    prepare: (r) => () =>
      r.scalerMetadata['interceptorRoute'] === undefined
        ? [...active.values()].some(Boolean)
        : (active.get(`ns/${r.scalerMetadata['interceptorRoute']}`) ?? false),
    heartbeatMs: 60_000,
    log: quiet,
  });
  try {
    const a: boolean[] = [];
    const b: boolean[] = [];
    const all: boolean[] = [];
    streams.subscribe(ref('a'), { send: (v) => a.push(v), fail: assert.fail });
    streams.subscribe(ref('b'), { send: (v) => b.push(v), fail: assert.fail });
    const off = streams.subscribe(
      { name: 'i', namespace: 'keda', scalerMetadata: { interceptorTargetPendingRequests: '200' } },
      { send: (v) => all.push(v), fail: assert.fail },
    );
    assert.deepEqual([a, b, all], [[false], [false], [false]], 'the current answer at once');
    active.set('ns/a', true);
    streams.notifyKey('ns/a');
    streams.notifyKey('ns/a');
    streams.notifyAll();
    assert.deepEqual([a, b, all], [[false, true], [false], [false, true]]);
    off();
    active.set('ns/a', false);
    streams.notifyAll();
    assert.deepEqual([a, b, all], [[false, true, false], [false], [false, true]]);
    assert.equal(streams.size, 2);
  } finally {
    streams.stop();
  }
});

test('stale numbers send nothing and keep the stream; other errors end it', () => {
  let mode: 'ok' | 'stale' | 'gone' = 'stale';
  const streams = new ActiveStreams({
    prepare: () => () => {
      if (mode === 'stale') throw new ScalerError(status.UNAVAILABLE, 'stale');
      if (mode === 'gone')
        throw new ScalerError(status.UNKNOWN, 'interceptorroutes.http.keda.sh "a" not found');
      return true;
    },
    heartbeatMs: 60_000,
    log: quiet,
  });
  try {
    const sent: boolean[] = [];
    const failed: string[] = [];
    streams.subscribe(ref('a'), { send: (v) => sent.push(v), fail: (e) => failed.push(e.message) });
    assert.deepEqual(sent, []);
    mode = 'ok';
    streams.notifyAll();
    assert.deepEqual(sent, [true]);
    mode = 'gone';
    streams.notifyAll();
    assert.deepEqual(failed, ['interceptorroutes.http.keda.sh "a" not found']);
    assert.equal(streams.size, 0);
  } finally {
    streams.stop();
  }
});

test('a heartbeat repeats the current answer when nothing changed for a while', async () => {
  const streams = new ActiveStreams({ prepare: () => () => false, heartbeatMs: 60, log: quiet });
  try {
    const sent: boolean[] = [];
    streams.subscribe(ref('a'), { send: (v) => sent.push(v), fail: assert.fail });
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(sent.length >= 2 && sent.length <= 5, `${sent.length} messages in 200ms at a 60ms heartbeat`);
  } finally {
    streams.stop();
  }
});

test('checks are prepared once; refresh() prepares them again (a route deleted ends its stream)', () => {
  let prepared = 0;
  let routeExists = true;
  const streams = new ActiveStreams({
    prepare: () => {
      prepared++;
      if (!routeExists) throw new ScalerError(status.UNKNOWN, 'interceptorroutes.http.keda.sh "a" not found');
      return () => true;
    },
    heartbeatMs: 60_000,
    log: quiet,
  });
  try {
    const failed: string[] = [];
    streams.subscribe(ref('a'), { send: () => {}, fail: (e) => failed.push(e.message) });
    streams.notifyAll();
    streams.notifyKey('ns/a');
    assert.equal(prepared, 1, 'ticks and events reuse the prepared check');
    routeExists = false;
    streams.notifyAll();
    assert.deepEqual(failed, []);
    streams.refresh();
    assert.deepEqual(failed, ['interceptorroutes.http.keda.sh "a" not found']);
    assert.equal(streams.size, 0);
  } finally {
    streams.stop();
  }
});
