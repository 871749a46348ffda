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

test('interceptor replica range, resources and log level: defaults, overrides, and strict errors', () => {
  const d = ok({});
  assert.deepEqual(d.interceptorReplicas, { min: 1, max: 50 });
  assert.deepEqual(d.resources.interceptor, {
    requests: { cpu: '100m', memory: '100Mi' },
    limits: { cpu: '1', memory: '1000Mi' },
  });
  assert.equal(d.logLevel, undefined);

  const c = ok({
    [annotation.interceptorMinReplicas]: '3',
    [annotation.interceptorMaxReplicas]: '10',
    [annotation.interceptorResources]: 'requests.cpu=250m, limits.memory=2Gi, limits.cpu=none',
    [annotation.operatorResources]: 'requests.memory=128Mi',
    [annotation.logLevel]: 'DEBUG',
  });
  assert.deepEqual(c.interceptorReplicas, { min: 3, max: 10 });
  assert.deepEqual(c.resources.interceptor, {
    requests: { cpu: '250m', memory: '100Mi' },
    limits: { memory: '2Gi' },
  });
  assert.deepEqual(c.resources.operator.requests, { cpu: '50m', memory: '128Mi' });
  assert.deepEqual(c.resources.scaler, d.resources.scaler);
  assert.equal(c.logLevel, 'debug');
  // A minimum above the default maximum raises the maximum with it.
  assert.deepEqual(ok({ [annotation.interceptorMinReplicas]: '80' }).interceptorReplicas, {
    min: 80,
    max: 80,
  });

  const bad = parseAddonConfig({
    [annotation.interceptorMinReplicas]: '0',
    [annotation.interceptorMaxReplicas]: '2.5',
    [annotation.interceptorResources]: 'requests.cpu=lots,cpu=1',
    [annotation.scalerResources]: 'requests.memory=2Gi',
    [annotation.logLevel]: 'verbose',
  });
  assert.equal(bad.ok, false);
  assert.deepEqual(bad.ok ? [] : bad.errors, [
    'annotation keda.kyma-project.io/addon-interceptor-min-replicas: "0" is not a whole number from 1 to 1000',
    'annotation keda.kyma-project.io/addon-interceptor-max-replicas: "2.5" is not a whole number from 1 to 1000',
    'annotation keda.kyma-project.io/addon-interceptor-resources: requests.cpu "lots" is not a positive Kubernetes quantity such as 250m or 256Mi',
    'annotation keda.kyma-project.io/addon-interceptor-resources: "cpu=1" is not one of requests.cpu, requests.memory, limits.cpu, limits.memory followed by =value',
    'annotation keda.kyma-project.io/addon-scaler-resources: requests.memory 2Gi is above limits.memory 1000Mi',
    'annotation keda.kyma-project.io/addon-log-level: "verbose" is not one of debug, info, warn, error',
  ]);
  const inverted = parseAddonConfig({
    [annotation.interceptorMinReplicas]: '5',
    [annotation.interceptorMaxReplicas]: '2',
  });
  assert.match(
    inverted.ok ? '' : (inverted.errors[0] ?? ''),
    /\(5\) and .*\(2\): the minimum is above the maximum/,
  );
});
