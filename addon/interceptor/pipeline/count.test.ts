import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { interceptorRoute, request } from '../testing/harness.ts';
import { stepFixture, type StepFixture } from '../testing/pipeline-fixture.ts';
import { countRequest, uncountRequest } from './count.ts';
import { resolveTarget } from './resolve-target.ts';
import { routeRequest } from './route-request.ts';

let fx: StepFixture;
before(async () => {
  fx = await stepFixture([
    interceptorRoute('app', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] }),
  ]);
});
after(() => fx.close());

test('counting raises concurrency and the request count; uncounting lowers concurrency once', async () => {
  let during: unknown;
  fx.step = (x) => {
    if (!routeRequest(fx.deps, x) || !resolveTarget(fx.deps, x)) return;
    countRequest(fx.deps, x);
    const c = fx.deps.queue.get('default/app');
    during = { Concurrency: c?.Concurrency, RequestCount: c?.RequestCount };
    uncountRequest(fx.deps, x);
    uncountRequest(fx.deps, x); // a second end of the same exchange changes nothing
    x.res.end('ok');
  };
  await request(`http://127.0.0.1:${fx.port}/`, { headers: { host: 'app.test' } });
  await request(`http://127.0.0.1:${fx.port}/`, { headers: { host: 'app.test' } });
  assert.deepEqual(during, { Concurrency: 1, RequestCount: 2 });
  const c = fx.deps.queue.get('default/app');
  assert.deepEqual([c?.Concurrency, c?.RequestCount], [0, 2]);
});
