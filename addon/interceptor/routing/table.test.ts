import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable, stripPort, type HeaderSource } from './table.ts';
import { routeFromInterceptorRoute, type Route } from './route.ts';
import { buildRoutes } from './live-table.ts';
import type { StoredObject } from '../../shared/store/store.ts';

type Rule = { hosts?: string[]; paths?: { value: string }[]; headers?: { name: string; value?: string }[] };

function ir(name: string, rules: Rule[], opts: { namespace?: string; created?: string } = {}): StoredObject {
  return {
    apiVersion: 'http.keda.sh/v1beta1',
    kind: 'InterceptorRoute',
    metadata: {
      name,
      namespace: opts.namespace ?? 'default',
      ...(opts.created ? { creationTimestamp: opts.created } : {}),
    } as StoredObject['metadata'],
    spec: { target: { service: name, port: 80 }, rules, scalingMetric: { concurrency: { targetValue: 1 } } },
  };
}

function table(...objs: StoredObject[]): RouteTable {
  return new RouteTable(objs.map((o) => routeFromInterceptorRoute(o)));
}

const noHeaders: HeaderSource = () => undefined;
function headers(h: Record<string, string | string[]>): HeaderSource {
  return (name) => {
    const v = h[name];
    return v === undefined ? undefined : Array.isArray(v) ? v : [v];
  };
}
function hit(t: RouteTable, host: string, path: string, h: HeaderSource = noHeaders): string | undefined {
  return t.lookup(host, path, h)?.name;
}

test('exact host beats wildcards, wildcards beat the catch-all', () => {
  const t = table(
    ir('exact', [{ hosts: ['a.b.example.com'] }]),
    ir('wild', [{ hosts: ['*.example.com'] }]),
    ir('all', [{ hosts: ['*'] }]),
  );
  assert.equal(hit(t, 'a.b.example.com', '/'), 'exact');
  assert.equal(hit(t, 'c.example.com', '/x'), 'wild');
  assert.equal(hit(t, 'other.org', '/'), 'all');
});

test('wildcards go from most to least specific, match any depth, never the bare domain', () => {
  const t = table(
    ir('deep', [{ hosts: ['*.b.example.com'] }]),
    ir('shallow', [{ hosts: ['*.example.com'] }]),
  );
  assert.equal(hit(t, 'a.b.example.com', '/'), 'deep');
  assert.equal(hit(t, 'x.y.z.example.com', '/'), 'shallow');
  assert.equal(hit(t, 'example.com', '/'), undefined);
  assert.equal(hit(t, 'b.example.com', '/'), 'shallow');
});

test('a single-label host has no wildcard stage; *.com matches a two-label host', () => {
  const t = table(ir('com', [{ hosts: ['*.com'] }]));
  assert.equal(hit(t, 'example.com', '/'), 'com');
  assert.equal(hit(t, 'localhost', '/'), undefined);
});

test('missing hosts, "" and "*" are all the catch-all', () => {
  for (const hosts of [undefined, [''], ['*']]) {
    const t = table(ir('c', [hosts === undefined ? {} : { hosts }]));
    assert.equal(hit(t, 'anything.example', '/deep/path'), 'c', JSON.stringify(hosts));
  }
});

test('longest segment-aligned path prefix wins', () => {
  const t = table(
    ir('root', [{ hosts: ['h'] }]),
    ir('api', [{ hosts: ['h'], paths: [{ value: '/api' }] }]),
    ir('v1', [{ hosts: ['h'], paths: [{ value: '/api/v1/' }] }]),
  );
  assert.equal(hit(t, 'h', '/api'), 'api');
  assert.equal(hit(t, 'h', '/api/'), 'api');
  assert.equal(hit(t, 'h', '/api/v2'), 'api');
  assert.equal(hit(t, 'h', '/api/v1/users'), 'v1');
  assert.equal(hit(t, 'h', '/apiv2'), 'root');
  assert.equal(hit(t, 'h', '/'), 'root');
});

test('no route for a path outside every prefix is a miss', () => {
  const t = table(ir('api', [{ hosts: ['h'], paths: [{ value: '/api' }] }]));
  assert.equal(hit(t, 'h', '/web'), undefined);
});

test('the port is stripped from request and rule hosts; matching is case-sensitive', () => {
  const t = table(ir('p', [{ hosts: ['example.com:8080'] }]));
  assert.equal(hit(t, 'example.com:9999', '/'), 'p');
  assert.equal(hit(t, 'example.com', '/'), 'p');
  assert.equal(hit(t, 'Example.com', '/'), undefined);
  assert.equal(stripPort('[::1]:80'), '::1');
  assert.equal(stripPort('a:b:c'), 'a:b:c');
});

test('entries on one key: more headers first, then more valued headers, then oldest, then namespace/name descending', () => {
  const t = table(
    ir('none', [{ hosts: ['h'] }], { created: '2020-01-01T00:00:00Z' }),
    ir('one-present', [{ hosts: ['h'], headers: [{ name: 'x-a' }] }]),
    ir('one-valued', [{ hosts: ['h'], headers: [{ name: 'x-a', value: '1' }] }]),
    ir('two', [{ hosts: ['h'], headers: [{ name: 'x-a' }, { name: 'x-b' }] }]),
  );
  assert.equal(hit(t, 'h', '/', headers({ 'x-a': '1', 'x-b': '2' })), 'two');
  assert.equal(hit(t, 'h', '/', headers({ 'x-a': '1' })), 'one-valued');
  assert.equal(hit(t, 'h', '/', headers({ 'x-a': '2' })), 'one-present');
  assert.equal(hit(t, 'h', '/'), 'none');

  const older = table(
    ir('young', [{ hosts: ['h'] }], { created: '2024-01-01T00:00:00Z' }),
    ir('old', [{ hosts: ['h'] }], { created: '2023-01-01T00:00:00Z' }),
  );
  assert.equal(hit(older, 'h', '/'), 'old');
  const tie = table(
    ir('a', [{ hosts: ['h'] }], { namespace: 'ns1' }),
    ir('b', [{ hosts: ['h'] }], { namespace: 'ns2' }),
    ir('c', [{ hosts: ['h'] }], { namespace: 'ns2' }),
  );
  assert.equal(hit(tie, 'h', '/'), 'c', 'namespace descending, then name descending');
});

test('quirk: a header mismatch on the longest prefix does not fall back to a shorter prefix of the same host', () => {
  const t = table(
    ir('root', [{ hosts: ['h'] }]),
    ir('api-hdr', [{ hosts: ['h'], paths: [{ value: '/api' }], headers: [{ name: 'x-v', value: '2' }] }]),
    ir('wild', [{ hosts: ['*'], paths: [{ value: '/api' }] }]),
  );
  assert.equal(hit(t, 'h', '/api/x', headers({ 'x-v': '2' })), 'api-hdr');
  // Not "root": the lookup moves on to the next host stage (the catch-all).
  assert.equal(hit(t, 'h', '/api/x', headers({ 'x-v': '1' })), 'wild');
});

test('header values are compared exactly, one value at a time (comma-joined values are not split)', () => {
  const t = table(ir('v', [{ hosts: ['h'], headers: [{ name: 'X-Env', value: 'blue' }] }]));
  assert.equal(hit(t, 'h', '/', headers({ 'x-env': ['green', 'blue'] })), 'v');
  assert.equal(hit(t, 'h', '/', headers({ 'x-env': 'green, blue' })), undefined);
  assert.equal(hit(t, 'h', '/', headers({ 'x-env': 'Blue' })), undefined);
});

test('a rule crosses hosts and paths; an InterceptorRoute without rules is never routable', () => {
  const t = table(
    ir('multi', [{ hosts: ['a', 'b'], paths: [{ value: '/x' }, { value: '/y' }] }]),
    ir('norules', []),
  );
  for (const [h, p] of [
    ['a', '/x'],
    ['a', '/y/z'],
    ['b', '/x'],
    ['b', '/y'],
  ] as const)
    assert.equal(hit(t, h, p), 'multi');
  assert.equal(hit(t, 'a', '/'), undefined);
  assert.equal(t.routes.length, 2);
});

test('HTTPScaledObjects become routes; an InterceptorRoute of the same namespace/name wins', () => {
  const so = (name: string, hosts: string[]): StoredObject => ({
    apiVersion: 'http.keda.sh/v1alpha1',
    kind: 'HTTPScaledObject',
    metadata: { name, namespace: 'default' },
    spec: { hosts, pathPrefixes: ['/so'], scaleTargetRef: { service: `${name}-svc`, port: 8080 } },
  });
  const routes: Route[] = buildRoutes(
    [ir('shared', [{ hosts: ['ir.example'] }])],
    [so('shared', ['so.example']), so('only-so', ['x.example'])],
  );
  const t = new RouteTable(routes);
  assert.equal(t.lookup('ir.example', '/', noHeaders)?.target.service, 'shared');
  assert.equal(t.lookup('so.example', '/so', noHeaders), undefined);
  assert.equal(t.lookup('x.example', '/so/a', noHeaders)?.target.service, 'only-so-svc');
  assert.equal(t.lookup('x.example', '/', noHeaders), undefined);
});

test('an HTTPScaledObject without hosts routes every host', () => {
  const routes = buildRoutes(
    [],
    [
      {
        apiVersion: 'http.keda.sh/v1alpha1',
        kind: 'HTTPScaledObject',
        metadata: { name: 'nohost', namespace: 'default' },
        spec: { scaleTargetRef: { service: 's', port: 80 } },
      },
    ],
  );
  assert.equal(new RouteTable(routes).lookup('any.host', '/a', noHeaders)?.name, 'nohost');
});

test('lookups visit host labels and path segments only: 5,000 other routes do not change the answer path', () => {
  const many: StoredObject[] = [];
  for (let i = 0; i < 5000; i++)
    many.push(ir(`r${i}`, [{ hosts: [`h${i}.example.com`], paths: [{ value: `/p${i}` }] }]));
  const t = table(...many);
  assert.equal(hit(t, 'h4999.example.com', '/p4999/x'), 'r4999');
  assert.equal(hit(t, 'h4999.example.com', '/p4998'), undefined);
});
