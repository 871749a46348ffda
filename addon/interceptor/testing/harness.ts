// Test support: real backends on 127.0.0.1:0, a real FileStore over a temp YAML file, and a real
// interceptor started in-process. Nothing here stands in for a component under test.
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { stringify } from 'yaml';
import { createLogger, type Logger } from '../../shared/log.ts';
import { FileStore } from '../../shared/store/file-store.ts';
import type { TracingOptions } from '../../shared/telemetry/tracing.ts';
import { readConfig, type InterceptorConfig } from '../config.ts';
import { startInterceptor, type RunningInterceptor } from '../interceptor.ts';

export type Obj = Record<string, unknown>;

export function quietLogger(lines?: string[]): Logger {
  return createLogger({
    component: 'interceptor-test',
    level: lines ? 'debug' : 'error',
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines?.push(chunk.toString());
        cb();
      },
    }),
  });
}

export interface Backend {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

export async function startBackend(
  handler: http.RequestListener,
  server = http.createServer(),
): Promise<Backend> {
  server.on('request', handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        (server as http.Server).closeAllConnections?.();
      }),
  };
}

export function interceptorRoute(name: string, spec: Obj, namespace = 'default', created?: string): Obj {
  return {
    apiVersion: 'http.keda.sh/v1beta1',
    kind: 'InterceptorRoute',
    metadata: { name, namespace, ...(created ? { creationTimestamp: created } : {}) },
    spec: { scalingMetric: { concurrency: { targetValue: 100 } }, ...spec },
  };
}

export function service(name: string, ports: Obj[], namespace = 'default'): Obj {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports } };
}

/** An EndpointSlice for `service` with the given addresses, all on one named port. */
export function endpointSlice(
  svc: string,
  endpoints: { ip: string; ready?: boolean }[],
  port: number,
  portName = 'http',
  namespace = 'default',
  sliceName = `${svc}-slice`,
): Obj {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: sliceName, namespace, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true } })),
    ports: [{ name: portName, port, protocol: 'TCP' }],
  };
}

export interface TestInterceptor {
  running: RunningInterceptor;
  store: FileStore;
  url: (path?: string) => string;
  admin: (path: string) => string;
  /** Replaces the objects file and waits until the interceptor has seen it. */
  update(objects: Obj[]): Promise<void>;
  close(): Promise<void>;
}

export async function startTestInterceptor(
  objects: Obj[],
  env: Record<string, string> = {},
  log: Logger = quietLogger(),
  overrides: Partial<InterceptorConfig> = {},
  tracing?: TracingOptions,
): Promise<TestInterceptor> {
  const dir = await mkdtemp(join(tmpdir(), 'interceptor-test-'));
  const file = join(dir, 'objects.yaml');
  const write = (objs: Obj[]): Promise<void> =>
    writeFile(file, objs.map((o) => stringify(o)).join('---\n') || '{}\n');
  await write(objects);
  const store = new FileStore(file, log);
  const { config } = readConfig({
    KEDA_HTTP_PROXY_PORT: '0',
    KEDA_HTTP_ADMIN_PORT: '0',
    OTEL_PROM_EXPORTER_PORT: '0',
    KEDA_HTTP_SHUTDOWN_DELAY: '0s',
    ...env,
  });
  const running = await startInterceptor({
    config: { ...config, ...overrides },
    store,
    log,
    fileMode: true,
    host: '127.0.0.1',
    ...(tracing ? { tracing } : {}),
  });
  return {
    running,
    store,
    url: (p = '/') => `http://127.0.0.1:${running.proxyPort}${p}`,
    admin: (p) => `http://127.0.0.1:${running.adminPort}${p}`,
    update: async (objs) => {
      await write(objs);
      await store.reload();
      // Table rebuilds are coalesced onto the next macrotask.
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    },
    close: async () => {
      await running.close();
      await store.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A raw HTTP/1.1 exchange over one TCP connection (for malformed input that clients refuse to send). */
export async function rawRequest(port: number, data: string | Buffer, waitMs = 2000): Promise<string> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    const t = setTimeout(() => {
      s.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, waitMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    s.on('error', reject);
  });
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  trailers: NodeJS.Dict<string>;
  body: string;
}

/** One request with full control of Host and headers (fetch forbids setting Host). */
export function request(
  url: string,
  opts: {
    method?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: string | Buffer;
    timeoutMs?: number;
  } = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: opts.method ?? 'GET', headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            trailers: res.trailers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error('client timeout')));
    req.end(opts.body);
  });
}

export interface WatchEvent {
  /** The SSE event name, or "comment" for a comment line (heartbeats). */
  event: string;
  /** The data line, or the whole block for comments. */
  data: string;
  /** performance.now() when the block arrived. */
  at: number;
}

/** Opens a /queue/watch stream and collects its events as they arrive. */
export async function watchQueue(
  url: string,
): Promise<{ response: http.IncomingMessage; events: WatchEvent[]; close(): void }> {
  const req = http.get(url);
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  const events: WatchEvent[] = [];
  let raw = '';
  response.setEncoding('utf8');
  response.on('data', (c: string) => {
    raw += c;
    let i;
    while ((i = raw.indexOf('\n\n')) !== -1) {
      const block = raw.slice(0, i);
      raw = raw.slice(i + 2);
      events.push({
        event: /^event: (.*)$/m.exec(block)?.[1] ?? 'comment',
        data: /^data: (.*)$/m.exec(block)?.[1] ?? block,
        at: performance.now(),
      });
    }
  });
  return { response, events, close: () => req.destroy() };
}

/** A loopback port that was free a moment ago and has nothing listening: connecting is refused. */
export async function refusingPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
