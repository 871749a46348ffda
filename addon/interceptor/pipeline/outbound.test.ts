import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { endpointSlice, interceptorRoute, request, service } from '../testing/harness.ts';
import { stepFixture, type StepFixture } from '../testing/pipeline-fixture.ts';
import { originPicker, prepareHeaders } from './outbound.ts';
import { resolveTarget } from './resolve-target.ts';
import { routeRequest } from './route-request.ts';
import type { ResolvedTarget } from '../endpoints/targets.ts';

let fx: StepFixture;
before(async () => {
  fx = await stepFixture([
    interceptorRoute('app', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] }),
    service('app', [{ name: 'http', port: 80 }]),
    endpointSlice('app', [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }], 8080),
  ]);
});
after(() => fx.close());

test('direct: each retry dials the next ready endpoint; otherwise always the Service', async () => {
  let direct: string[] = [];
  let service_: string[] = [];
  fx.step = (x) => {
    if (!routeRequest(fx.deps, x) || !resolveTarget(fx.deps, x)) return;
    const target = x.target as ResolvedTarget;
    const pick = originPicker(fx.deps, x, target, true);
    direct = [0, 1, 2, 3].map(pick);
    service_ = [0, 1].map(originPicker(fx.deps, x, target, false));
    x.res.end();
  };
  await request(`http://127.0.0.1:${fx.port}/`, { headers: { host: 'app.test' } });
  assert.deepEqual(
    new Set(direct.slice(0, 3)),
    new Set(['http://10.0.0.1:8080', 'http://10.0.0.2:8080', 'http://10.0.0.3:8080']),
  );
  assert.equal(direct[3], direct[0], 'the rotation wraps around');
  assert.deepEqual(service_, ['http://app.default:80', 'http://app.default:80']);
});

test('headers are built once per exchange; a request that is not tunnelled drops Upgrade', async () => {
  let plain: string[] = [];
  let again: string[] = [];
  fx.step = (x) => {
    routeRequest(fx.deps, x);
    plain = prepareHeaders(x);
    again = prepareHeaders(x);
    x.res.end();
  };
  await request(`http://127.0.0.1:${fx.port}/`, {
    headers: { host: 'app.test', connection: 'upgrade', upgrade: 'websocket' },
  });
  assert.equal(plain, again);
  assert.ok(!plain.includes('upgrade'), 'a request that is not tunnelled drops Upgrade');
  assert.equal(plain[plain.indexOf('host') + 1], 'app.test');
});
