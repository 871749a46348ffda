import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeFromHTTPScaledObject, routeFromInterceptorRoute } from './route.ts';

const meta = { name: 'r', namespace: 'ns' };

test('InterceptorRoute timeouts: unset stays unset (global applies), "0s" is an explicit 0', () => {
  const r = routeFromInterceptorRoute({
    metadata: meta,
    spec: { target: { service: 's', portName: 'http' }, timeouts: { readiness: '0s', request: '1m30s' } },
  });
  assert.deepEqual(r.timeouts, { readinessMs: 0, requestMs: 90_000 });
  assert.equal(r.key, 'ns/r');
  assert.deepEqual(r.target, { service: 's', portName: 'http' });
});

test('a bad duration names the field', () => {
  assert.throws(
    () =>
      routeFromInterceptorRoute({
        metadata: meta,
        spec: { target: { service: 's', port: 80 }, timeouts: { request: '10 seconds' } },
      }),
    /spec\.timeouts\.request/,
  );
  assert.throws(
    () => routeFromInterceptorRoute({ metadata: meta, spec: {} }),
    /spec\.target\.service is required/,
  );
});

test('placeholder defaults to 503, static routes to 200; responseMode Always is the only Always', () => {
  const r = routeFromInterceptorRoute({
    metadata: meta,
    spec: {
      target: { service: 's', port: 80 },
      coldStart: { placeholder: { response: { body: 'wait' } }, maxPendingRequests: 7 },
      staticRoutes: [
        { rules: [{ paths: [{ value: '/h' }] }], response: { body: 'ok' }, responseMode: 'Always' },
        { rules: [{}], response: { statusCode: 418 }, responseMode: 'whatever' },
      ],
    },
  });
  assert.equal(r.placeholder?.statusCode, 503);
  assert.equal(r.maxPendingRequests, 7);
  assert.equal(r.staticRoutes[0]?.response.statusCode, 200);
  assert.equal(r.staticRoutes[0]?.always, true);
  assert.equal(r.staticRoutes[1]?.always, false);
  assert.equal(r.staticRoutes[1]?.response.statusCode, 418);
});

test('HTTPScaledObject conversion: conditionWait and responseHeader only when > 0; failover timeoutSeconds wins', () => {
  const a = routeFromHTTPScaledObject({
    metadata: meta,
    spec: {
      scaleTargetRef: { service: 's', port: 80 },
      timeouts: { conditionWait: '0s', responseHeader: '2s' },
    },
  });
  assert.deepEqual(a.timeouts, { responseHeaderMs: 2000 });
  const b = routeFromHTTPScaledObject({
    metadata: meta,
    spec: {
      scaleTargetRef: { service: 's', port: 80 },
      timeouts: { conditionWait: '5s' },
      coldStartTimeoutFailoverRef: { service: 'fb', port: 81, timeoutSeconds: 12 },
    },
  });
  assert.equal(b.timeouts.readinessMs, 12_000);
  assert.deepEqual(b.fallback, { service: 'fb', port: 81 });
  const c = routeFromHTTPScaledObject({
    metadata: meta,
    spec: {
      scaleTargetRef: { service: 's', port: 80 },
      coldStartTimeoutFailoverRef: { service: 'fb', portName: 'x' },
    },
  });
  assert.equal(c.timeouts.readinessMs, 30_000, 'CRD default timeoutSeconds 30');
});
