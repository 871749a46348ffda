// Metrics and the access log, read back from a running interceptor's real /metrics endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  endpointSlice,
  interceptorRoute,
  quietLogger,
  request,
  service,
  startBackend,
  startTestInterceptor,
  type Obj,
} from './testing/harness.ts';

test('upstream metric names, labels and buckets; unmatched requests have empty route labels; access log line', async () => {
  const backend = await startBackend((_req, res) => res.end('ok'));
  const lines: string[] = [];
  const ic = await startTestInterceptor(
    [
      interceptorRoute(
        'app',
        { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] },
        'team',
      ),
      service('app', [{ name: 'http', port: 80 }], 'team'),
      endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port, 'http', 'team'),
    ],
    { KEDA_HTTP_LOG_REQUESTS: 'true' },
    quietLogger(lines),
  );
  try {
    await request(ic.url('/x?secret=1'), {
      headers: { host: 'app.test', 'user-agent': 'ua/1', referer: 'http://r/' },
    });
    await request(ic.url('/'), { method: 'PURGE', headers: { host: 'app.test' } });
    await request(ic.url('/'), { headers: { host: 'unknown.test' } });
    const m = await request(`http://127.0.0.1:${ic.running.metricsPort}/metrics`);
    assert.equal(m.status, 200);
    const text = m.body;
    assert.match(
      text,
      /# HELP interceptor_request_count_total Total requests processed by the interceptor proxy/,
    );
    assert.match(
      text,
      /interceptor_request_count_total\{code="200",method="GET",route_name="app",route_namespace="team"\} 1/,
    );
    assert.match(
      text,
      /interceptor_request_count_total\{code="200",method="_OTHER",route_name="app",route_namespace="team"\} 1/,
    );
    assert.match(
      text,
      /interceptor_request_count_total\{code="404",method="GET",route_name="",route_namespace=""\} 1/,
    );
    // Upstream's buckets with the route labels; the count in a small bucket depends on the
    // machine's speed, so only +Inf is checked for it.
    assert.match(
      text,
      /interceptor_request_duration_seconds_bucket\{le="0.075",code="200",method="GET",route_name="app",route_namespace="team"\} [01]/,
    );
    assert.match(
      text,
      /interceptor_request_duration_seconds_bucket\{le="\+Inf",code="200",method="GET",route_name="app",route_namespace="team"\} 1/,
    );
    assert.match(text, /le="7.5"/);
    assert.match(text, /# HELP interceptor_request_concurrency Concurrent requests at the interceptor proxy/);
    assert.match(text, /interceptor_request_concurrency\{route_name="app",route_namespace="team"\} 0/);
    assert.match(text, /process_cpu_user_seconds_total/);
    const accessLines = () =>
      lines.map((l) => JSON.parse(l) as { message: string; access?: boolean }).filter((l) => l.access);
    for (let i = 0; i < 100 && accessLines().length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    const access = accessLines();
    assert.equal(access.length, 3);
    assert.match(
      access[0]?.message ?? '',
      /^127\.0\.0\.1:\d+ - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/x HTTP\/1\.1" 200 2 "http:\/\/r\/" "ua\/1"$/,
    );
  } finally {
    await ic.close();
    await backend.close();
  }
});

/** An InterceptorRoute `name` for host `<name>.test` in namespace team, and its Service. */
function teamRoute(name: string, spec: Record<string, unknown> = {}): Obj[] {
  return [
    interceptorRoute(
      name,
      { target: { service: name, port: 80 }, rules: [{ hosts: [`${name}.test`] }], ...spec },
      'team',
    ),
    service(name, [{ name: 'http', port: 80 }], 'team'),
  ];
}

test('interceptor_request_concurrency counts requests in flight, held ones included, and returns to 0', async () => {
  const objs = teamRoute('app');
  const backend = await startBackend((_req, res) => res.end('ok'));
  const ic = await startTestInterceptor([
    ...objs,
    endpointSlice('app', [{ ip: '127.0.0.1', ready: false }], backend.port, 'http', 'team'),
  ]);
  const gauge = async (): Promise<string | undefined> => {
    const m = await request(`http://127.0.0.1:${ic.running.metricsPort}/metrics`);
    return /interceptor_request_concurrency\{route_name="app",route_namespace="team"\} (\d+)/.exec(
      m.body,
    )?.[1];
  };
  try {
    const held = [1, 2].map(() => request(ic.url('/'), { headers: { host: 'app.test' } }));
    for (let i = 0; i < 50 && (await gauge()) !== '2'; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await gauge(), '2', 'two held requests');
    await ic.update([...objs, endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port, 'http', 'team')]);
    for (const r of await Promise.all(held)) assert.equal(r.status, 200);
    assert.equal(await gauge(), '0');
  } finally {
    await ic.close();
    await backend.close();
  }
});

test('held requests: interceptor_pending_requests while they wait, interceptor_cold_start_wait_seconds by outcome once they end', async () => {
  const objs = [...teamRoute('app'), ...teamRoute('slow', { timeouts: { readiness: '150ms' } })];
  const backend = await startBackend((_req, res) => res.end('ok'));
  const ic = await startTestInterceptor([
    ...objs,
    endpointSlice('app', [{ ip: '127.0.0.1', ready: false }], backend.port, 'http', 'team'),
  ]);
  const metrics = async (): Promise<string> =>
    (await request(`http://127.0.0.1:${ic.running.metricsPort}/metrics`)).body;
  const line = (text: string, re: RegExp): string | undefined => re.exec(text)?.[1];
  const pending = /interceptor_pending_requests\{route_name="app",route_namespace="team"\} (\d+)/;
  try {
    const held = [1, 2].map(() => request(ic.url('/'), { headers: { host: 'app.test' } }));
    for (let i = 0; i < 50 && line(await metrics(), pending) !== '2'; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(line(await metrics(), pending), '2', 'two held requests');
    await new Promise((r) => setTimeout(r, 100));
    await ic.update([...objs, endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port, 'http', 'team')]);
    for (const r of await Promise.all(held)) assert.equal(r.status, 200);
    const timedOut = await request(ic.url('/'), { headers: { host: 'slow.test' } });
    assert.equal(timedOut.status, 504);

    const text = await metrics();
    assert.equal(line(text, pending), '0', 'released: none pending');
    const wait = (route: string, outcome: string, part: string): number =>
      Number(
        line(
          text,
          new RegExp(
            `interceptor_cold_start_wait_seconds_${part}\\{route_name="${route}",route_namespace="team",outcome="${outcome}"\\} ([\\d.e+-]+)`,
          ),
        ),
      );
    assert.equal(wait('app', 'ready', 'count'), 2);
    assert.ok(wait('app', 'ready', 'sum') >= 2 * 0.1, 'each waited at least the 100 ms before the flip');
    assert.equal(wait('slow', 'readiness_timeout', 'count'), 1);
    assert.ok(wait('slow', 'readiness_timeout', 'sum') >= 0.14);
    assert.match(
      text,
      /interceptor_cold_start_wait_seconds_bucket\{le="\+Inf",route_name="app",route_namespace="team",outcome="ready"\} 2/,
    );
    assert.match(text, /# TYPE interceptor_cold_start_wait_seconds histogram/);
  } finally {
    await ic.close();
    await backend.close();
  }
});

test('a route removed from the table leaves /metrics; the routes that stay keep counting', async () => {
  const backend = await startBackend((_req, res) => res.end('ok'));
  const ready = (name: string): Obj =>
    endpointSlice(name, [{ ip: '127.0.0.1' }], backend.port, 'http', 'team');
  const keep = [...teamRoute('app'), ready('app')];
  const ic = await startTestInterceptor([
    ...keep,
    ...teamRoute('gone', { coldStart: { maxPendingRequests: 1 } }),
    endpointSlice('gone', [{ ip: '127.0.0.1', ready: false }], backend.port, 'http', 'team'),
  ]);
  const metrics = async (): Promise<string> =>
    (await request(`http://127.0.0.1:${ic.running.metricsPort}/metrics`)).body;
  const goneLines = (text: string): string[] =>
    text.split('\n').filter((l) => !l.startsWith('#') && l.includes('route_name="gone"'));
  try {
    assert.equal((await request(ic.url('/'), { headers: { host: 'app.test' } })).status, 200);
    // One request held on "gone" (its limit is 1), a second refused: every kind of series it can have.
    // It stays held after its route goes (nothing ends its wait); close() hangs it up.
    void request(ic.url('/'), { headers: { host: 'gone.test' } }).catch(() => {});
    for (let i = 0; i < 50 && ic.running.ready.waiting !== 1; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal((await request(ic.url('/'), { headers: { host: 'gone.test' } })).status, 503);
    const before = goneLines(await metrics());
    for (const name of [
      'interceptor_request_count_total',
      'interceptor_request_concurrency',
      'interceptor_pending_requests',
      'interceptor_pending_rejected_total',
    ])
      assert.ok(
        before.some((l) => l.startsWith(name)),
        `${name} has the route before it goes`,
      );

    await ic.update(keep);
    assert.equal((await request(ic.url('/'), { headers: { host: 'app.test' } })).status, 200);
    const after = await metrics();
    assert.deepEqual(goneLines(after), [], 'nothing left of the removed route');
    assert.match(
      after,
      /interceptor_request_count_total\{code="200",method="GET",route_name="app",route_namespace="team"\} 2/,
    );
  } finally {
    await ic.close();
    await backend.close();
  }
});
