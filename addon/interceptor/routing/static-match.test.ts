import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findStaticRoute, matchRoutingRule } from './static-match.ts';
import type { RoutingRule, StaticRoute } from './route.ts';

const none = (): undefined => undefined;
const rule = (r: Partial<RoutingRule>): RoutingRule => ({ hosts: [], paths: [], headers: [], ...r });

test('empty rule fields match everything', () => {
  assert.ok(matchRoutingRule(rule({}), 'any', '/x', none));
});

test('hosts: OR, "*" matches all, "*.x" by suffix, exact otherwise; the port is ignored', () => {
  const r = rule({ hosts: ['*.example.com', 'exact.org'] });
  assert.ok(matchRoutingRule(r, 'a.example.com:80', '/', none));
  assert.ok(matchRoutingRule(r, 'exact.org', '/', none));
  assert.ok(!matchRoutingRule(r, 'example.com', '/', none));
  assert.ok(matchRoutingRule(rule({ hosts: ['*'] }), 'x', '/', none));
});

test('paths: OR over segment-aligned prefixes with slashes trimmed', () => {
  const r = rule({ paths: ['/health/', 'metrics'] });
  assert.ok(matchRoutingRule(r, 'h', '/health', none));
  assert.ok(matchRoutingRule(r, 'h', '/health/live', none));
  assert.ok(matchRoutingRule(r, 'h', '/metrics', none));
  assert.ok(!matchRoutingRule(r, 'h', '/healthz', none));
});

test('first static route with any matching rule wins, in list order', () => {
  const resp = (statusCode: number): StaticRoute['response'] => ({ statusCode, headers: {} });
  const routes: StaticRoute[] = [
    { rules: [rule({ paths: ['/a'] }), rule({ paths: ['/b'] })], response: resp(201), always: true },
    { rules: [rule({})], response: resp(202), always: true },
  ];
  assert.equal(findStaticRoute(routes, 'h', '/b/1', none)?.response.statusCode, 201);
  assert.equal(findStaticRoute(routes, 'h', '/c', none)?.response.statusCode, 202);
});
