import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readinessTimeoutMs, requestTimeoutMs, responseHeaderTimeoutMs } from './timeouts.ts';
import { routeFromInterceptorRoute } from '../routing/route.ts';
import { readConfig } from '../config.ts';

const base = { KEDA_HTTP_PROXY_PORT: '8080', KEDA_HTTP_ADMIN_PORT: '9090' };
function route(spec: Record<string, unknown> = {}) {
  return routeFromInterceptorRoute({
    metadata: { name: 'r', namespace: 'ns' },
    spec: { target: { service: 's', port: 80 }, ...spec },
  });
}

test('defaults: request 0 (none), readiness 0 (bounded by the request only), response headers 300s, connect 500ms', () => {
  const { config } = readConfig(base);
  const r = route();
  assert.equal(requestTimeoutMs(r, config), 0);
  assert.equal(readinessTimeoutMs(r, config), 0);
  assert.equal(responseHeaderTimeoutMs(r, config), 300_000);
  assert.equal(config.connectTimeoutMs, 500);
});

test('a route field beats the env value, and an explicit "0s" disables it', () => {
  const { config } = readConfig({
    ...base,
    KEDA_HTTP_REQUEST_TIMEOUT: '10s',
    KEDA_HTTP_READINESS_TIMEOUT: '5s',
    KEDA_HTTP_RESPONSE_HEADER_TIMEOUT: '1s',
  });
  const r = route({ timeouts: { request: '0s', readiness: '2s', responseHeader: '0s' } });
  assert.equal(requestTimeoutMs(r, config), 0);
  assert.equal(readinessTimeoutMs(r, config), 2000);
  assert.equal(responseHeaderTimeoutMs(r, config), 0);
  assert.equal(requestTimeoutMs(route(), config), 10_000);
});

test('with a fallback and an effective readiness of 0, readiness is 30s', () => {
  const { config } = readConfig(base);
  const fb = { coldStart: { fallback: { service: { name: 'f', port: 80 } } } };
  assert.equal(readinessTimeoutMs(route(fb), config), 30_000);
  assert.equal(readinessTimeoutMs(route({ ...fb, timeouts: { readiness: '0s' } }), config), 30_000);
  assert.equal(readinessTimeoutMs(route({ ...fb, timeouts: { readiness: '3s' } }), config), 3000);
});

test('deprecated KEDA_CONDITION_WAIT_TIMEOUT / KEDA_RESPONSE_HEADER_TIMEOUT override when > 0, with a warning', () => {
  const { config, warnings } = readConfig({
    ...base,
    KEDA_HTTP_READINESS_TIMEOUT: '1s',
    KEDA_CONDITION_WAIT_TIMEOUT: '7s',
    KEDA_RESPONSE_HEADER_TIMEOUT: '9s',
  });
  assert.equal(config.readinessTimeoutMs, 7000);
  assert.equal(config.responseHeaderTimeoutMs, 9000);
  assert.equal(warnings.length, 2);
  assert.equal(
    readConfig({ ...base, KEDA_CONDITION_WAIT_TIMEOUT: '0s', KEDA_HTTP_READINESS_TIMEOUT: '1s' }).config
      .readinessTimeoutMs,
    1000,
  );
});

test('config errors are all reported at once, naming each variable', () => {
  assert.throws(
    () => readConfig({ KEDA_HTTP_REQUEST_TIMEOUT: 'soon', KEDA_HTTP_PROXY_TLS_MIN_VERSION: '1.1' }),
    (err: Error) =>
      /KEDA_HTTP_PROXY_PORT is required/.test(err.message) &&
      /KEDA_HTTP_ADMIN_PORT is required/.test(err.message) &&
      /KEDA_HTTP_REQUEST_TIMEOUT="soon"/.test(err.message) &&
      /KEDA_HTTP_PROXY_TLS_MIN_VERSION="1.1"/.test(err.message),
  );
});

test('KEDA_HTTP_REQUEST_BODY_TIMEOUT: 60s by default, a Go duration, 0 disables', () => {
  assert.equal(readConfig(base).config.requestBodyTimeoutMs, 60_000);
  assert.equal(
    readConfig({ ...base, KEDA_HTTP_REQUEST_BODY_TIMEOUT: '1m30s' }).config.requestBodyTimeoutMs,
    90_000,
  );
  assert.equal(readConfig({ ...base, KEDA_HTTP_REQUEST_BODY_TIMEOUT: '0s' }).config.requestBodyTimeoutMs, 0);
});
