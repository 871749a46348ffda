import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { endpointSlice, interceptorRoute, request, service, type Obj } from '../testing/harness.ts';
import { stepFixture, type StepFixture } from '../testing/pipeline-fixture.ts';
import { servePlaceholder } from './placeholder.ts';
import { resolveTarget } from './resolve-target.ts';
import { routeRequest } from './route-request.ts';

let fx: StepFixture;
const objects = (ready: boolean): Obj[] => [
  interceptorRoute('app', {
    target: { service: 'app', port: 80 },
    rules: [{ hosts: ['app.test'] }],
    coldStart: { placeholder: { response: { body: 'warming up' } } },
  }),
  interceptorRoute('plain', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['plain.test'] }] }),
  service('app', [{ name: 'http', port: 80 }]),
  endpointSlice('app', [{ ip: '127.0.0.1', ready }], 1),
];
before(async () => {
  fx = await stepFixture(objects(false));
  fx.step = (x) => {
    if (!routeRequest(fx.deps, x) || !resolveTarget(fx.deps, x)) return;
    if (!servePlaceholder(fx.deps, x)) x.res.end('on to the wait');
  };
});
after(() => fx.close());

const get = (host: string): ReturnType<typeof request> =>
  request(`http://127.0.0.1:${fx.port}/`, { headers: { host } });

test('no ready endpoint: the placeholder answers (503 by default)', async () => {
  const r = await get('app.test');
  assert.equal(r.status, 503);
  assert.equal(r.body, 'warming up');
});

test('a ready target, or a route without placeholder, goes on', async () => {
  assert.equal((await get('plain.test')).body, 'on to the wait');
  await fx.update(objects(true));
  assert.equal((await get('app.test')).body, 'on to the wait');
});
