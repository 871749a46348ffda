import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigError } from '../shared/config.ts';
import { readConfig } from './config.ts';
import { healthStatus } from './health.ts';

const required = {
  KEDA_HTTP_SCALER_TARGET_ADMIN_NAMESPACE: 'keda',
  KEDA_HTTP_SCALER_TARGET_ADMIN_SERVICE: 'keda-add-ons-http-interceptor-admin',
  KEDA_HTTP_SCALER_TARGET_ADMIN_DEPLOYMENT: 'keda-add-ons-http-interceptor',
  KEDA_HTTP_SCALER_TARGET_ADMIN_PORT: '9090',
};

test("upstream's defaults", () => {
  const { config } = readConfig(required);
  assert.equal(config.port, 8080);
  assert.equal(config.adminPort, 9090);
  assert.equal(config.tickMs, 500);
  assert.equal(config.streamIntervalMs, 200);
  assert.equal(config.resyncPeriodMs, 3_600_000);
  assert.equal(config.metricsPort, 2223);
  assert.equal(config.metricsEnabled, true);
  assert.equal(config.fetchTimeoutMs, 250);
  assert.equal(config.stalePodMs, 5_000);
});

test('every problem is reported at once, naming the variable', () => {
  assert.throws(
    () => readConfig({ KEDA_HTTP_QUEUE_TICK_DURATION: 'soon', KEDA_HTTP_SCALER_PORT: '99999' }),
    (err: ConfigError) => {
      const text = err.message;
      for (const name of [
        'KEDA_HTTP_SCALER_TARGET_ADMIN_NAMESPACE',
        'KEDA_HTTP_SCALER_TARGET_ADMIN_SERVICE',
        'KEDA_HTTP_SCALER_TARGET_ADMIN_DEPLOYMENT',
        'KEDA_HTTP_SCALER_TARGET_ADMIN_PORT',
        'KEDA_HTTP_QUEUE_TICK_DURATION="soon"',
        'KEDA_HTTP_SCALER_PORT="99999"',
      ]) {
        assert.ok(text.includes(name), `${name} in ${text}`);
      }
      return true;
    },
  );
});

test('a fetch timeout of two ticks or more is warned about', () => {
  const { warnings } = readConfig({ ...required, KEDA_HTTP_SCALER_QUEUE_FETCH_TIMEOUT: '1s' });
  assert.match(warnings.join('\n'), /health flap/);
});

test('health: NOT_SERVING two ticks after the last success, else the pinger status', () => {
  const p = { status: 'ACTIVE' as const, lastSuccessMs: 10_000, tickMs: 500 };
  assert.equal(healthStatus(p, 10_900), 'SERVING');
  assert.equal(healthStatus(p, 11_001), 'NOT_SERVING');
  assert.equal(healthStatus({ ...p, status: 'ERROR' }, 10_100), 'NOT_SERVING');
  assert.equal(healthStatus({ ...p, status: 'UNKNOWN' }, 10_100), 'UNKNOWN');
  assert.equal(healthStatus({ status: 'UNKNOWN', lastSuccessMs: -Infinity, tickMs: 500 }, 0), 'NOT_SERVING');
});
