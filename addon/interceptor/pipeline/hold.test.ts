import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  endpointSlice,
  interceptorRoute,
  request,
  service,
  startBackend,
  type Backend,
  type Obj,
} from '../testing/harness.ts';
import { stepFixture, type StepFixture } from '../testing/pipeline-fixture.ts';
import { waitForTarget } from './hold.ts';
import { resolveTarget } from './resolve-target.ts';
import { routeRequest } from './route-request.ts';

let backend: Backend;
let spare: Backend;
let fx: StepFixture;
const objects = (ready: boolean): Obj[] => [
  interceptorRoute('app', {
    target: { service: 'app', port: 80 },
    rules: [{ hosts: ['app.test'] }],
    coldStart: { maxPendingRequests: 2 },
  }),
  interceptorRoute('quick', {
    target: { service: 'app', port: 80 },
    rules: [{ hosts: ['quick.test'] }],
    timeouts: { readiness: '100ms' },
  }),
  interceptorRoute('spared', {
    target: { service: 'app', port: 80 },
    rules: [{ hosts: ['spared.test'] }],
    coldStart: { fallback: { service: { name: 'spare', port: 80 } } },
    timeouts: { readiness: '100ms' },
  }),
  service('app', [{ name: 'http', port: 80 }]),
  endpointSlice('app', [{ ip: '127.0.0.1', ready }], backend.port),
  service('spare', [{ name: 'http', port: 80 }]),
  endpointSlice('spare', [{ ip: '127.0.0.1' }], spare.port),
];

before(async () => {
  backend = await startBackend((req, res) => res.end(`backend:${req.url}`));
  spare = await startBackend((req, res) => res.end(`spare:${req.url}`));
  fx = await stepFixture(objects(false));
  fx.step = (x) => {
    x.res.on('close', () => clearTimeout(x.deadlineTimer));
    if (routeRequest(fx.deps, x) && resolveTarget(fx.deps, x)) waitForTarget(fx.deps, x);
  };
});
after(async () => {
  await fx.close();
  await backend.close();
  await spare.close();
});

const get = (host: string, path = '/'): ReturnType<typeof request> =>
  request(`http://127.0.0.1:${fx.port}${path}`, { headers: { host } });

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond());
}

test('held until ready, then forwarded with X-KEDA-HTTP-Cold-Start: true; over the route limit, 503 at once', async () => {
  const held = [get('app.test', '/one'), get('app.test', '/two')];
  await until(() => fx.deps.ready.waiting === 2);
  assert.equal(fx.deps.holds.heldFor('default/app'), 2);
  const over = await get('app.test', '/three');
  assert.equal(over.status, 503);
  assert.equal(over.headers['retry-after'], '5');
  await fx.update(objects(true));
  const answers = await Promise.all(held);
  assert.deepEqual(
    answers.map((r) => [r.body, r.headers['x-keda-http-cold-start']]),
    [
      ['backend:/one', 'true'],
      ['backend:/two', 'true'],
    ],
  );
  assert.equal(fx.deps.holds.held, 0);
  const warm = await get('app.test', '/warm');
  assert.equal(warm.headers['x-keda-http-cold-start'], 'false');
});

test('the readiness timeout: 504; with a fallback, the fallback answers instead', async () => {
  await fx.update(objects(false));
  assert.equal((await get('quick.test')).status, 504);
  const r = await get('spared.test', '/f');
  assert.equal(r.body, 'spare:/f');
  assert.equal(r.headers['x-keda-http-cold-start'], undefined);
  assert.equal(fx.deps.holds.held, 0);
});

test('a client that leaves gives its hold slot back at once', async () => {
  await fx.update(objects(false));
  const gone = http.get(`http://127.0.0.1:${fx.port}/`, { headers: { host: 'app.test' } });
  gone.on('error', () => {});
  await until(() => fx.deps.holds.held === 1);
  gone.destroy();
  await until(() => fx.deps.holds.held === 0 && fx.deps.ready.waiting === 0);
});
