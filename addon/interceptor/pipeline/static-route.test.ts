import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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
import { resolveTarget } from './resolve-target.ts';
import { routeRequest } from './route-request.ts';
import { serveStaticRoute } from './static-route.ts';

let fx: StepFixture;
let backend: Backend;
const objects = (ready: boolean): Obj[] => [
  interceptorRoute('app', {
    target: { service: 'app', port: 80 },
    rules: [{ hosts: ['app.test'] }],
    staticRoutes: [
      {
        rules: [{ paths: [{ value: '/always' }] }],
        responseMode: 'Always',
        response: { body: 'static-always' },
      },
      { rules: [{ paths: [{ value: '/maybe' }] }], response: { body: 'static-maybe' } },
    ],
  }),
  service('app', [{ name: 'http', port: 80 }]),
  endpointSlice('app', [{ ip: '127.0.0.1', ready }], backend.port),
];

before(async () => {
  backend = await startBackend((req, res) => res.end(`backend:${req.url}`));
  fx = await stepFixture(objects(false));
  fx.step = (x) => {
    if (!routeRequest(fx.deps, x) || !resolveTarget(fx.deps, x)) return;
    if (!serveStaticRoute(fx.deps, x)) x.res.end('not static');
  };
});
after(async () => {
  await fx.close();
  await backend.close();
});

const get = async (path: string): Promise<string> =>
  (await request(`http://127.0.0.1:${fx.port}${path}`, { headers: { host: 'app.test' } })).body;

test('Always answers from the static response, ready or not', async () => {
  assert.equal(await get('/always'), 'static-always');
  await fx.update(objects(true));
  assert.equal(await get('/always'), 'static-always');
});

test('WhenUnavailable: static while not ready, the backend once ready; neither is counted', async () => {
  await fx.update(objects(false));
  assert.equal(await get('/maybe'), 'static-maybe');
  await fx.update(objects(true));
  assert.equal(await get('/maybe/x'), 'backend:/maybe/x');
  assert.equal(fx.deps.queue.get('default/app')?.RequestCount, 0);
});

test('no matching static route: the pipeline goes on', async () => {
  assert.equal(await get('/other'), 'not static');
});
