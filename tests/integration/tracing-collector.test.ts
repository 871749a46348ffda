// Traces through real processes into a real OpenTelemetry Collector (tests/harness/otel-collector.ts):
// a `keda-http interceptor` exporting over OTLP/HTTP, a `keda-http scaler` over OTLP/gRPC, an echo
// backend that reports the traceparent it received, and a KEDA-shaped gRPC client. What is asserted
// is what the collector wrote.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import {
  endpointSlice,
  interceptorRoute,
  service,
  startBackend,
  type Backend,
  type Obj,
} from '../../addon/interceptor/testing/harness.ts';
import {
  interceptorSlices,
  startInterceptorProcess,
  startScalerProcess,
  writeObjects,
  type InterceptorProcess,
  type ScalerProcess,
} from '../../addon/scaler/testing/processes.ts';
import { KedaClient, routeRef } from '../../addon/scaler/testing/keda-client.ts';
import { startCollector, type Collector, type Span } from '../harness/otel-collector.ts';

let collector: Collector;
let backend: Backend;
let dir: string;
let interceptor: InterceptorProcess;
let scaler: ScalerProcess;
let keda: KedaClient;

const routes = (): Obj[] => [
  interceptorRoute('app', { target: { service: 'app', port: 80 }, rules: [{ hosts: ['app.test'] }] }),
  interceptorRoute('cold', { target: { service: 'cold', port: 80 }, rules: [{ hosts: ['cold.test'] }] }),
];
const interceptorObjects = (coldReady: boolean): Obj[] => [
  ...routes(),
  service('app', [{ name: 'http', port: 80 }]),
  endpointSlice('app', [{ ip: '127.0.0.1' }], backend.port),
  service('cold', [{ name: 'http', port: 80 }]),
  endpointSlice('cold', [{ ip: '127.0.0.1', ready: coldReady }], backend.port),
];

/** The backend answers with the trace headers it received. */
function echo(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ traceparent: req.headers.traceparent, baggage: req.headers.baggage }));
}

const tracesEnv = (protocol: string, endpoint: string): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_TRACES_ENABLED: 'true',
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: protocol,
  OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
  OTEL_BSP_SCHEDULE_DELAY: '100',
});

before(async () => {
  collector = await startCollector();
  backend = await startBackend(echo);
  new WebSocketServer({ server: backend.server }).on('connection', (ws, req) => {
    ws.send(JSON.stringify({ traceparent: req.headers.traceparent }));
  });
  dir = await mkdtemp(join(tmpdir(), 'tracing-collector-'));
  await writeObjects(join(dir, 'interceptor.yaml'), interceptorObjects(false));
  interceptor = await startInterceptorProcess(join(dir, 'interceptor.yaml'), {
    env: { ...tracesEnv('http/protobuf', collector.httpEndpoint), KEDA_HTTP_SHUTDOWN_DELAY: '0s' },
  });
  await writeObjects(join(dir, 'scaler.yaml'), [...routes(), ...interceptorSlices([interceptor.adminPort])]);
  scaler = await startScalerProcess(join(dir, 'scaler.yaml'), {
    ...tracesEnv('grpc', collector.grpcEndpoint),
  });
  keda = new KedaClient(`127.0.0.1:${scaler.grpcPort}`);
});

after(async () => {
  keda?.close();
  await scaler?.terminate();
  await interceptor?.terminate();
  await backend?.close();
  await collector?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function get(
  path: string,
  host: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ port: interceptor.proxyPort, host: '127.0.0.1', path, headers: { host, ...headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Every span of the trace whose interceptor server span has this url.path, once that span arrived. */
async function traceOf(path: string): Promise<Span[]> {
  const server = await collector.waitFor(() =>
    collector
      .spans()
      .find(
        (s) => s.kind === 'SERVER' && s.name === 'keda-http-interceptor' && s.attributes['url.path'] === path,
      ),
  );
  return collector.spans().filter((s) => s.traceId === server.traceId);
}

function one(spans: Span[], kind: string, name?: string): Span {
  const found = spans.filter((s) => s.kind === kind && (name === undefined || s.name === name));
  assert.equal(found.length, 1, `one ${kind} ${name ?? ''} span, got ${found.map((s) => s.name).join(', ')}`);
  return found[0] as Span;
}

const ms = (ns: bigint): number => Number(ns / 1000n) / 1000;

test('OTLP/HTTP: the client trace is continued, the backend sees the client span, upstream names and attributes', async () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const r = await get('/warm', 'app.test', {
    traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    baggage: 'tenant=t1',
  });
  assert.equal(r.status, 200);
  const seen = JSON.parse(r.body) as { traceparent: string; baggage: string };
  const spans = await traceOf('/warm');
  const server = one(spans, 'SERVER', 'keda-http-interceptor');
  const client = one(spans, 'CLIENT', 'HTTP GET');
  assert.equal(server.traceId, traceId);
  assert.equal(server.parentSpanId, '00f067aa0ba902b7');
  assert.equal(client.parentSpanId, server.spanId);
  assert.equal(seen.traceparent, `00-${traceId}-${client.spanId}-01`);
  assert.equal(seen.baggage, 'tenant=t1');
  assert.equal(server.resource['service.name'], 'keda-http-interceptor');
  assert.equal(server.attributes['service'], 'keda-http-interceptor-proxy-upstream');
  assert.equal(server.attributes['http.response.status_code'], 200);
  assert.equal(server.attributes['keda.route'], 'default/app');
  assert.equal(client.attributes['http.response.status_code'], 200);
});

test('a cold start in one time-ordered view: request held -> scaler told KEDA -> pod ready -> forwarded', async () => {
  const stream = keda.streamIsActive(routeRef('default', 'cold'));
  const answers: boolean[] = [];
  stream.on('data', (m: { result: boolean }) => answers.push(m.result));
  stream.on('error', () => {});
  try {
    while (answers.length === 0) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(answers, [false]);
    const pending = get('/cold', 'cold.test');
    // KEDA hears of the held request (pushed, not polled), then the pod turns ready.
    while (!answers.includes(true)) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300));
    const readyAt = Date.now();
    await writeObjects(join(dir, 'interceptor.yaml'), interceptorObjects(true));
    const r = await pending;
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as { traceparent: string };

    const spans = await traceOf('/cold');
    const server = one(spans, 'SERVER');
    const hold = one(spans, 'INTERNAL', 'cold-start wait');
    const client = one(spans, 'CLIENT');
    assert.equal(hold.parentSpanId, server.spanId);
    assert.equal(client.parentSpanId, server.spanId);
    assert.equal(hold.attributes['keda.cold_start.outcome'], 'ready');
    assert.equal(server.attributes['cold-start'], 'true');
    assert.equal(seen.traceparent.split('-')[1], server.traceId);

    const send = await collector.waitFor(() =>
      collector
        .spans()
        .find(
          (s) =>
            s.name === 'StreamIsActive send' &&
            s.attributes['keda.route'] === 'default/cold' &&
            s.attributes['keda.scaler.active'] === true,
        ),
    );
    assert.equal(send.resource['service.name'], 'keda-http-external-scaler');
    assert.equal(send.attributes['keda.scaler.cause'], 'activation_push');
    const pushed = send.events.find((e) => e.name === 'activation pushed');
    assert.ok(pushed, 'the push is an event of the send');
    // The order, on the clocks of both processes (one machine): held, pushed, KEDA told, ready, forwarded.
    const order = [
      ['held', ms(hold.startTimeUnixNano)],
      ['pushed', ms(pushed.timeUnixNano)],
      ['KEDA told', ms(send.endTimeUnixNano)],
      ['ready', readyAt],
      ['wait ended', ms(hold.endTimeUnixNano)],
      ['forwarded', ms(client.startTimeUnixNano)],
    ] as const;
    for (let i = 1; i < order.length; i++) {
      const [a, ta] = order[i - 1] as readonly [string, number];
      const [b, tb] = order[i] as readonly [string, number];
      assert.ok(ta <= tb + 2, `${a} (${ta}) before ${b} (${tb})`);
    }
    const waited = ms(hold.endTimeUnixNano) - ms(hold.startTimeUnixNano);
    assert.ok(waited >= 300, `the wait lasted until the pod was ready: ${waited} ms`);
  } finally {
    stream.cancel();
  }
});

test('OTLP/gRPC: the scaler spans KEDA calls with the route and the answer', async () => {
  const ref = routeRef('default', 'app');
  assert.equal(await keda.isActive(ref), false);
  const values = await keda.metrics(ref);
  assert.ok(values.length > 0);
  const isActive = await collector.waitFor(() =>
    collector
      .spans()
      .find(
        (s) =>
          s.name === 'externalscaler.ExternalScaler/IsActive' && s.attributes['keda.route'] === 'default/app',
      ),
  );
  assert.equal(isActive.kind, 'SERVER');
  assert.equal(isActive.attributes['keda.scaler.active'], false);
  assert.equal(isActive.attributes['rpc.grpc.status_code'], 0);
  const getMetrics = await collector.waitFor(() =>
    collector
      .spans()
      .find(
        (s) =>
          s.name === 'externalscaler.ExternalScaler/GetMetrics' &&
          s.attributes['keda.route'] === 'default/app',
      ),
  );
  assert.deepEqual(
    getMetrics.attributes['keda.scaler.metric_values'],
    values.map(() => 0),
  );
});

test('a WebSocket and an HTTP/2 request are traced, the backend sees their trace', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${interceptor.proxyPort}/ws`, { headers: { host: 'app.test' } });
  const wsSeen = await new Promise<{ traceparent: string }>((resolve, reject) => {
    ws.once('message', (m) => resolve(JSON.parse(String(m)) as { traceparent: string }));
    ws.once('error', reject);
  });
  ws.close();
  const wsSpans = await traceOf('/ws');
  const wsServer = one(wsSpans, 'SERVER');
  assert.equal(wsServer.attributes['http.response.status_code'], 101);
  assert.equal(wsSeen.traceparent.split('-')[2], one(wsSpans, 'CLIENT').spanId);

  const session = http2.connect(`http://127.0.0.1:${interceptor.proxyPort}`);
  const body = await new Promise<string>((resolve, reject) => {
    const s = session.request({ ':path': '/h2', ':authority': 'app.test' });
    let text = '';
    s.setEncoding('utf8').on('data', (c: string) => (text += c));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
  session.close();
  const h2Spans = await traceOf('/h2');
  const h2Server = one(h2Spans, 'SERVER');
  assert.equal(h2Server.attributes['network.protocol.version'], '2.0');
  assert.equal((JSON.parse(body) as { traceparent: string }).traceparent.split('-')[1], h2Server.traceId);
});

test('console protocol: spans as JSON lines on stdout, flushed when the process stops', async () => {
  const p = await startInterceptorProcess(join(dir, 'interceptor.yaml'), {
    env: {
      OTEL_EXPORTER_OTLP_TRACES_ENABLED: 'true',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'console',
      // Longer than the test: only the flush at shutdown can write the span.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
      KEDA_HTTP_SHUTDOWN_DELAY: '0s',
    },
  });
  try {
    const r = await new Promise<number>((resolve, reject) => {
      http
        .get(
          { port: p.proxyPort, host: '127.0.0.1', path: '/console', headers: { host: 'app.test' } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        )
        .on('error', reject);
    });
    assert.equal(r, 200);
    assert.equal(await p.terminate(), 0);
    const spans = p.logs.filter((l) => l['span'] !== undefined);
    const server = spans.find((l) => l['span'] === 'keda-http-interceptor');
    assert.ok(server, `a server span line among ${JSON.stringify(spans)}`);
    assert.equal(server['kind'], 'server');
    assert.equal(server['service'], 'keda-http-interceptor');
    assert.equal((server['attributes'] as Record<string, unknown>)['url.path'], '/console');
    assert.ok(spans.some((l) => l['span'] === 'HTTP GET' && l['parentSpanId'] === server['spanId']));
  } finally {
    await p.kill();
  }
});
