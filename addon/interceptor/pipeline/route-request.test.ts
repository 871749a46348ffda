import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { interceptorRoute, rawRequest, request } from '../testing/harness.ts';
import { stepFixture, type StepFixture } from '../testing/pipeline-fixture.ts';
import { requestPath, routeRequest } from './route-request.ts';

test('requestPath: query dropped, percent-decoded, a malformed escape left as it is', () => {
  assert.equal(requestPath('/a/b?x=1'), '/a/b');
  assert.equal(requestPath('/caf%C3%A9?q'), '/café');
  assert.equal(requestPath('/bad%zz'), '/bad%zz');
  assert.equal(requestPath('/plain'), '/plain');
});

let fx: StepFixture;
before(async () => {
  fx = await stepFixture([
    interceptorRoute('cafe', {
      target: { service: 'cafe', port: 80 },
      rules: [{ hosts: ['a.test'], paths: [{ value: '/café' }] }],
    }),
  ]);
  fx.step = (x) => {
    if (routeRequest(fx.deps, x)) x.res.end(`${x.route?.name} host=${x.host} path=${x.path}`);
  };
});
after(() => fx.close());

test('the route is found by host and decoded path; the port is ignored', async () => {
  const r = await request(`http://127.0.0.1:${fx.port}/caf%C3%A9/menu?x`, {
    headers: { host: 'a.test:8080' },
  });
  assert.equal(r.body, 'cafe host=a.test:8080 path=/café/menu');
});

test('no route: 404 Not Found', async () => {
  const r = await request(`http://127.0.0.1:${fx.port}/café`, { headers: { host: 'other.test' } });
  assert.equal(r.status, 404);
  assert.equal(r.body, 'Not Found\n');
});

test("absolute form: routed by the target's authority, and rewritten to origin form", async () => {
  const raw = await rawRequest(
    fx.port,
    'GET http://a.test/caf%C3%A9/x?q=1 HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n',
  );
  assert.match(Buffer.from(raw, 'latin1').toString(), /cafe host=a\.test path=\/café\/x$/);
});

test('a target neither in origin nor in http(s) absolute form: 400', async () => {
  const raw = await rawRequest(fx.port, 'GET ftp://a.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 400 /);
  assert.match(raw, /malformed request target$/);
});
