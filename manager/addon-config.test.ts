import { test } from 'node:test';
import assert from 'node:assert/strict';
import { annotation, parseAddonConfig } from './addon-config.ts';

const ok = (a: Record<string, string> | undefined) => {
  const r = parseAddonConfig(a);
  assert.ok(r.ok, r.ok ? '' : r.errors.join('; '));
  return r.config;
};

test('no annotations: disabled, kyma-system, no Istio, no EnvoyFilter', () => {
  const c = ok(undefined);
  assert.equal(c.enabled, false);
  assert.equal(c.namespace, 'kyma-system');
  assert.equal(c.istioInjection, false);
  assert.equal(c.envoyFilter.enabled, false);
  assert.deepEqual(c.envoyFilter.selector, { istio: 'ingressgateway' });
  assert.equal(c.envoyFilter.namespace, 'istio-system');
  assert.deepEqual(c.envoyFilter.retry, {
    retryOn: '5xx,connect-failure,reset,refused-stream',
    numRetries: 100,
    perTryTimeout: '3s',
  });
});

test('true is case-insensitive; Istio on turns the EnvoyFilter on unless told otherwise', () => {
  const c = ok({
    [annotation.enabled]: 'TRUE',
    [annotation.istioInjection]: 'True',
    [annotation.namespace]: 'keda',
  });
  assert.equal(c.enabled, true);
  assert.equal(c.istioInjection, true);
  assert.equal(c.namespace, 'keda');
  assert.equal(c.envoyFilter.enabled, true);
  assert.equal(
    ok({ [annotation.istioInjection]: 'true', [annotation.envoyFilter]: 'false' }).envoyFilter.enabled,
    false,
  );
  assert.equal(ok({ [annotation.envoyFilter]: 'true' }).envoyFilter.enabled, true);
});

test('an unknown value is an error, not a silent disable', () => {
  const r = parseAddonConfig({ [annotation.enabled]: 'yes' });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : (r.errors[0] ?? ''), /addon-enabled: "yes" is not true or false/);
});

test('an invalid namespace name is an error naming the rule', () => {
  for (const bad of ['Kyma_System', '-x', 'a'.repeat(64), 'has space']) {
    const r = parseAddonConfig({ [annotation.enabled]: 'true', [annotation.namespace]: bad });
    assert.equal(r.ok, false, bad);
    assert.match(r.ok ? '' : (r.errors[0] ?? ''), /addon-namespace/);
  }
});

test('retry policy and EnvoyFilter placement are overridable and validated', () => {
  const c = ok({
    [annotation.retryOn]: '5xx, reset',
    [annotation.numRetries]: '7',
    [annotation.perTryTimeout]: '0.5s',
    [annotation.envoyFilterNamespace]: 'gw',
    [annotation.envoyFilterSelector]: 'app=gateway,istio=custom',
  });
  assert.deepEqual(c.envoyFilter.retry, { retryOn: '5xx,reset', numRetries: 7, perTryTimeout: '0.5s' });
  assert.equal(c.envoyFilter.namespace, 'gw');
  assert.deepEqual(c.envoyFilter.selector, { app: 'gateway', istio: 'custom' });

  const bad = parseAddonConfig({
    [annotation.retryOn]: '5xx,teapot',
    [annotation.numRetries]: '-1',
    [annotation.perTryTimeout]: '3 seconds',
    [annotation.envoyFilterSelector]: 'novalue',
  });
  assert.equal(bad.ok, false);
  assert.equal(bad.ok ? 0 : bad.errors.length, 4);
});
