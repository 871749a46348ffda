import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeMetricName, httpScaledObjectMetricName } from './metric-names.ts';

test("upstream's escaping: _ + 4-digit uppercase hex of each unsafe rune's UTF-8 bytes", () => {
  assert.equal(httpScaledObjectMetricName('default', 'my-app'), 'http-default_002Fmy-app');
  assert.equal(httpScaledObjectMetricName('team', 'my_app.v2'), 'http-team_002Fmy_005Fapp.v2');
  assert.equal(escapeMetricName('a b:c'), 'a_0020b_003Ac');
  assert.equal(escapeMetricName('é'), '_C3A9');
  assert.equal(escapeMetricName('€'), '_E282AC');
  assert.equal(escapeMetricName('😀'), '_F09F9880');
  assert.equal(escapeMetricName('AZaz09-.'), 'AZaz09-.');
});
