// The tracing step, through a real interceptor and real backends, with the SDK's in-memory exporter
// (tests/integration/tracing-collector.test.ts sends the same spans to a real collector).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import WebSocket, { WebSocketServer } from 'ws';
import {
  endpointSlice,
  interceptorRoute,
  request,
  service,
  startBackend,
  startTestInterceptor,
  type Backend,
  type Obj,
  type TestInterceptor,
} from '../testing/harness.ts';
import { holdSpanName, serverSpanName } from './trace-request.ts';

const exporter = new InMemorySpanExporter();
let backend: Backend;
let ic: TestInterceptor;
/** traceparent, tracestate and baggage as the backend received them, by path. */
const seen = new Map<string, { traceparent?: string; tracestate?: string; baggage?: string }>();

const objects = (ready: boolean): Obj[] => [
  interceptorRoute('app', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] }),
  interceptorRoute('quick', {
    target: { service: 'cold', port: 80 },
    rules: [{ hosts: ['quick.test'] }],
    timeouts: { readiness: '100ms' },
  }),
  interceptorRoute('cold', { target: { service: 'cold', port: 80 }, rules: [{ hosts: ['cold.test'] }] }),
  interceptorRoute('spared', {
    target: { service: 'cold', port: 80 },
    rules: [{ hosts: ['spared.test'] }],
    coldStart: { fallback: { service: { name: 'spare', port: 80 } } },
    timeouts: { readiness: '100ms' },
  }),
  service('spare', [{ name: 'http', port: 80 }]),
  endpointSlice('spare', [{ ip: '127.0.0.1' }], backend.port),
  service('app', [{ name: 'http', port: 80 }]),
  endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port),
  service('cold', [{ name: 'http', port: 80 }]),
  endpointSlice('cold', [{ ip: '127.0.0.1', ready }], backend.port),
];

before(async () => {
  backend = await startBackend((req, res) => {
    const h = req.headers;
    seen.set(req.url ?? '', {
      traceparent: h.traceparent as string | undefined,
      tracestate: h.tracestate as string | undefined,
      baggage: h.baggage as string | undefined,
    });
    res.end('ok');
  });
  new WebSocketServer({ server: backend.server }).on('connection', (ws, req) => {
    seen.set(req.url ?? '', { traceparent: req.headers.traceparent as string | undefined });
    ws.on('message', (m) => ws.send(`echo:${String(m)}`));
  });
  ic = await startTestInterceptor(
    objects(false),
    { OTEL_EXPORTER_OTLP_TRACES_ENABLED: 'true' },
    undefined,
    {},
    { exporter, scheduledDelayMs: 5 },
  );
});
after(async () => {
  await ic.close();
  await backend.close();
});

/** The spans of one trace, once the server span (the last to end) is exported. */
async function traceOf(path: string): Promise<ReadableSpan[]> {
  for (let i = 0; i < 300; i++) {
    const server = exporter
      .getFinishedSpans()
      .find((s) => s.name === serverSpanName && s.attributes['url.path'] === path);
    if (server)
      return exporter
        .getFinishedSpans()
        .filter((s) => s.spanContext().traceId === server.spanContext().traceId);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`no server span for ${path}`);
}

const only = (spans: ReadableSpan[], kind: SpanKind, name?: string): ReadableSpan => {
  const found = spans.filter((s) => s.kind === kind && (name === undefined || s.name === name));
  assert.equal(
    found.length,
    1,
    `one ${SpanKind[kind]} span ${name ?? ''}: ${found.map((s) => s.name).join(', ')}`,
  );
  return found[0] as ReadableSpan;
};

const clientTrace = '0af7651916cd43dd8448eb211c80319c';
const clientSpan = 'b7ad6b7169203331';

test("continues the client's trace: server span, client span, and the backend sees the client span's context", async () => {
  const r = await request(ic.url('/warm?q=1'), {
    headers: {
      host: 'app.test',
      traceparent: `00-${clientTrace}-${clientSpan}-01`,
      tracestate: 'vendor=abc',
      baggage: 'tenant=t1',
      'user-agent': 'trace-test',
    },
  });
  assert.equal(r.status, 200);
  const spans = await traceOf('/warm');
  const server = only(spans, SpanKind.SERVER, serverSpanName);
  const client = only(spans, SpanKind.CLIENT, 'HTTP GET');
  assert.equal(server.spanContext().traceId, clientTrace);
  assert.equal(server.parentSpanContext?.spanId, clientSpan);
  assert.equal(client.parentSpanContext?.spanId, server.spanContext().spanId);
  assert.equal(spans.filter((s) => s.name === holdSpanName).length, 0, 'a warm request has no wait');
  assert.deepEqual(
    {
      method: server.attributes['http.request.method'],
      status: server.attributes['http.response.status_code'],
      address: server.attributes['server.address'],
      version: server.attributes['network.protocol.version'],
      ua: server.attributes['user_agent.original'],
      route: server.attributes['keda.route'],
      target: server.attributes['keda.target'],
      service: server.attributes['service'],
      coldStart: server.attributes['cold-start'],
    },
    {
      method: 'GET',
      status: 200,
      address: 'app.test',
      version: '1.1',
      ua: 'trace-test',
      route: 'default/app',
      target: 'default/app',
      service: 'keda-http-interceptor-proxy-upstream',
      coldStart: 'false',
    },
  );
  assert.equal(client.attributes['http.response.status_code'], 200);
  assert.equal(client.attributes['url.full'], 'http://app.default:80/warm?q=1');
  const atBackend = seen.get('/warm?q=1');
  assert.equal(atBackend?.traceparent, `00-${clientTrace}-${client.spanContext().spanId}-01`);
  assert.equal(atBackend?.tracestate, 'vendor=abc');
  assert.equal(atBackend?.baggage, 'tenant=t1');
});

test('a cold start: the wait is a child span with its outcome and duration, then the forward', async () => {
  await ic.update(objects(false));
  const pending = request(ic.url('/cold'), { headers: { host: 'cold.test' } });
  while (ic.running.ready.waiting === 0) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 100));
  const readyAt = Date.now();
  await ic.update(objects(true));
  assert.equal((await pending).status, 200);
  const spans = await traceOf('/cold');
  const server = only(spans, SpanKind.SERVER);
  const hold = only(spans, SpanKind.INTERNAL, holdSpanName);
  const client = only(spans, SpanKind.CLIENT);
  assert.equal(server.parentSpanContext, undefined, 'no traceparent came in: a new trace');
  assert.equal(hold.parentSpanContext?.spanId, server.spanContext().spanId);
  assert.equal(hold.attributes['keda.cold_start.outcome'], 'ready');
  const ms = (t: [number, number]): number => t[0] * 1000 + t[1] / 1e6;
  // The wait spans the moment the target became ready: it began before, and ended after.
  assert.ok(ms(hold.startTime) <= readyAt - 90, `wait began ${readyAt - ms(hold.startTime)} ms before ready`);
  assert.ok(ms(hold.endTime) >= readyAt - 5, `wait ended ${ms(hold.endTime) - readyAt} ms after ready`);
  assert.equal(server.attributes['cold-start'], 'true');
  // The forward starts after the wait ends.
  assert.ok(ms(client.startTime) >= ms(hold.endTime) - 1);
  assert.equal(seen.get('/cold')?.traceparent?.split('-')[1], server.spanContext().traceId);
});

test('a readiness timeout: the wait ends readiness_timeout, the request 504 as an error', async () => {
  await ic.update(objects(false));
  assert.equal((await request(ic.url('/late'), { headers: { host: 'quick.test' } })).status, 504);
  const spans = await traceOf('/late');
  const hold = only(spans, SpanKind.INTERNAL, holdSpanName);
  assert.equal(hold.attributes['keda.cold_start.outcome'], 'readiness_timeout');
  assert.equal(hold.status.code, SpanStatusCode.ERROR);
  const server = only(spans, SpanKind.SERVER);
  assert.equal(server.status.code, SpanStatusCode.ERROR);
  assert.equal(server.attributes['http.response.status_code'], 504);
  assert.equal(spans.filter((s) => s.kind === SpanKind.CLIENT).length, 0);
});

test('a fallback: the wait ends `fallback` and the client span goes to the fallback Service', async () => {
  await ic.update(objects(false));
  assert.equal((await request(ic.url('/spare'), { headers: { host: 'spared.test' } })).status, 200);
  const spans = await traceOf('/spare');
  assert.equal(
    only(spans, SpanKind.INTERNAL, holdSpanName).attributes['keda.cold_start.outcome'],
    'fallback',
  );
  assert.equal(only(spans, SpanKind.CLIENT).attributes['url.full'], 'http://spare.default:80/spare');
});

test('a client that leaves while held: the wait ends `client_left`, the server span ends too', async () => {
  await ic.update(objects(false));
  const gone = http.get(ic.url('/gone'), { headers: { host: 'cold.test' } });
  gone.on('error', () => {});
  while (ic.running.ready.waiting === 0) await new Promise((r) => setTimeout(r, 5));
  gone.destroy();
  const spans = await traceOf('/gone');
  assert.equal(
    only(spans, SpanKind.INTERNAL, holdSpanName).attributes['keda.cold_start.outcome'],
    'client_left',
  );
  assert.equal(spans.filter((s) => s.kind === SpanKind.CLIENT).length, 0);
});

test('a WebSocket: server span 101 over the tunnel, client span, context at the backend', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${ic.running.proxyPort}/socket`, {
    headers: { host: 'app.test' },
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send('hi');
  const [reply] = await Promise.all([new Promise((r) => ws.once('message', (m) => r(String(m))))]);
  assert.equal(reply, 'echo:hi');
  ws.close();
  const spans = await traceOf('/socket');
  const server = only(spans, SpanKind.SERVER);
  const client = only(spans, SpanKind.CLIENT);
  assert.equal(server.attributes['http.response.status_code'], 101);
  assert.equal(client.attributes['network.protocol.version'], '1.1');
  assert.equal(seen.get('/socket')?.traceparent?.split('-')[2], client.spanContext().spanId);
});

test('HTTP/2 (h2c): traced like HTTP/1.1, protocol version 2.0', async () => {
  const h2Trace = '1af7651916cd43dd8448eb211c80319d';
  const session = http2.connect(`http://127.0.0.1:${ic.running.proxyPort}`);
  const status = await new Promise<number>((resolve, reject) => {
    const s = session.request({
      ':path': '/h2',
      ':authority': 'app.test',
      traceparent: `00-${h2Trace}-${clientSpan}-01`,
    });
    s.on('response', (h) => resolve(Number(h[':status'])));
    s.on('error', reject);
    s.resume();
  });
  session.close();
  assert.equal(status, 200);
  const spans = await traceOf('/h2');
  const server = only(spans, SpanKind.SERVER);
  assert.equal(server.attributes['network.protocol.version'], '2.0');
  assert.equal(server.spanContext().traceId, h2Trace);
  assert.equal(seen.get('/h2')?.traceparent?.split('-')[1], h2Trace);
});

test("traces off: no tracing step; the client's trace headers reach the backend as they came", async () => {
  const off = await startTestInterceptor(objects(true));
  try {
    const traceparent = `00-${clientTrace}-${clientSpan}-01`;
    const r = await request(off.url('/untraced'), {
      headers: { host: 'app.test', traceparent, tracestate: 'vendor=abc' },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(seen.get('/untraced'), { traceparent, tracestate: 'vendor=abc', baggage: undefined });
  } finally {
    await off.close();
  }
});
