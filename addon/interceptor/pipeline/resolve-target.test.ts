import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { endpointSlice, interceptorRoute, request, service } from '../testing/harness.ts';
import { stepFixture, type StepFixture } from '../testing/pipeline-fixture.ts';
import type { Exchange } from './exchange.ts';
import { resolveTarget } from './resolve-target.ts';
import { routeRequest } from './route-request.ts';

let fx: StepFixture;
let seen: Exchange[] = [];
before(async () => {
  fx = await stepFixture([
    interceptorRoute('app', {
      target: { service: 'app', portName: 'http' },
      rules: [{ hosts: ['app.test'] }],
      coldStart: { fallback: { service: { name: 'spare', port: 81 } } },
      timeouts: { request: '2s' },
    }),
    service('app', [{ name: 'http', port: 80 }]),
    endpointSlice('app', [{ ip: '127.0.0.1' }], 1),
    interceptorRoute('broken', {
      target: { service: 'app', portName: 'nope' },
      rules: [{ hosts: ['broken.test'] }],
    }),
    interceptorRoute('open', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['open.test'] }] }),
  ]);
  fx.step = (x) => {
    seen.push(x);
    if (routeRequest(fx.deps, x) && resolveTarget(fx.deps, x)) x.res.end('resolved');
    clearTimeout(x.deadlineTimer);
  };
});
after(() => fx.close());

const get = (host: string): ReturnType<typeof request> =>
  request(`http://127.0.0.1:${fx.port}/`, { headers: { host } });

test('target and fallback resolve to origins; the request deadline starts', async () => {
  seen = [];
  assert.equal((await get('app.test')).body, 'resolved');
  const x = seen[0] as Exchange;
  assert.equal(x.target?.origin, 'http://app.default:80');
  assert.equal(x.fallback?.origin, 'http://spare.default:81');
  assert.ok(x.deadline !== undefined && !x.deadline.signal.aborted);
  assert.equal(x.retryUntil, x.start + 2000);
});

test('the resolved target is kept on the route: the next request reuses the same object', async () => {
  seen = [];
  await get('app.test');
  await get('app.test');
  assert.equal(seen[0]?.target, seen[1]?.target);
  assert.equal(seen[0]?.state, seen[1]?.state);
});

test('no deadline without a request timeout', async () => {
  seen = [];
  await get('open.test');
  assert.equal(seen[0]?.deadline, undefined);
  assert.equal(seen[0]?.retryUntil, Infinity);
});

test('a port name the Service lacks: 500', async () => {
  const r = await get('broken.test');
  assert.equal(r.status, 500);
  assert.equal(r.body, 'Internal Server Error\n');
});
