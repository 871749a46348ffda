import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createRegistry } from '../shared/metrics.ts';
import { createLogger } from '../shared/log.ts';
import { Controller, requestFromKey } from './controller.ts';
import { sleep } from './sleep.ts';

const quietLog = () => createLogger({ component: 'test', level: 'error', stream: new PassThrough() });

test('requestFromKey splits namespace and name', () => {
  assert.deepEqual(requestFromKey('ns/a'), { key: 'ns/a', namespace: 'ns', name: 'a' });
  assert.deepEqual(requestFromKey('cluster-thing'), {
    key: 'cluster-thing',
    namespace: undefined,
    name: 'cluster-thing',
  });
});

test('a failing reconcile is retried with growing delays, then succeeds and is forgotten', async () => {
  const registry = createRegistry({ defaultMetrics: false });
  const calls: number[] = [];
  const c = new Controller({
    name: 'flaky',
    registry,
    log: quietLog(),
    baseRetryDelayMs: 20,
    reconcile: async () => {
      calls.push(Date.now());
      if (calls.length < 4) throw new Error('not yet');
    },
  });
  c.start();
  c.queue.add('ns/x');
  for (let i = 0; i < 100 && calls.length < 4; i++) await sleep(20);
  await c.stop();
  assert.equal(calls.length, 4);
  const gaps = calls.slice(1).map((t, i) => t - (calls[i] ?? 0));
  // 20ms, 40ms, 80ms: each retry waits at least about twice the previous one.
  assert.ok((gaps[0] ?? 0) >= 15, `gaps ${gaps.join(',')}`);
  assert.ok((gaps[1] ?? 0) >= 35, `gaps ${gaps.join(',')}`);
  assert.ok((gaps[2] ?? 0) >= 70, `gaps ${gaps.join(',')}`);
  assert.equal(c.queue.failures('ns/x'), 0);
  const text = await registry.metrics();
  assert.match(text, /controller_runtime_reconcile_total\{controller="flaky",result="error"\} 3/);
  assert.match(text, /controller_runtime_reconcile_total\{controller="flaky",result="success"\} 1/);
  assert.match(text, /controller_runtime_reconcile_errors_total\{controller="flaky"\} 3/);
  assert.match(text, /workqueue_retries_total\{name="flaky"\} 3/);
});

test('requeueAfter schedules another pass; one key is never reconciled twice at once', async () => {
  let running = 0;
  let maxRunning = 0;
  let passes = 0;
  const c = new Controller({
    name: 'requeue',
    registry: createRegistry({ defaultMetrics: false }),
    log: quietLog(),
    workers: 4,
    reconcile: async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(5);
      running--;
      passes++;
      return passes < 3 ? { requeueAfterMs: 10 } : undefined;
    },
  });
  c.start();
  for (let i = 0; i < 10; i++) c.queue.add('ns/y');
  for (let i = 0; i < 50 && passes < 3; i++) await sleep(10);
  await c.stop();
  assert.equal(passes, 3);
  assert.equal(maxRunning, 1);
});
