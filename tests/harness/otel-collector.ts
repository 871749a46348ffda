// A real OpenTelemetry Collector for the telemetry tests: the distribution hack/otelcol/main.go
// builds (OTLP receiver on HTTP and gRPC, file exporter), built on first use by
// hack/build-binaries.sh like the other Go binaries. It receives on free loopback ports and writes
// what it receives as OTLP JSON, one export request per line, to a file per signal; spans() and
// metrics() read those files back, flattened into plain objects a test can assert on.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBinaries } from '../../hack/cluster/build.ts';
import { binaryPath, versions } from '../../hack/cluster/control-plane.ts';

/** An attribute value as OTLP carries it, decoded: int64 values become numbers (bigints past 2^53). */
export type AttributeValue =
  string | number | bigint | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export interface SpanEvent {
  name: string;
  timeUnixNano: bigint;
  attributes: Attributes;
}

export interface Span {
  name: string;
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  /** INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER (UNSPECIFIED when not set). */
  kind: string;
  attributes: Attributes;
  events: SpanEvent[];
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  /** UNSET, OK or ERROR, and the message that came with it. */
  status: { code: string; message: string };
  /** The resource's attributes (service.name ...). */
  resource: Attributes;
  scope: { name: string; version: string };
}

/** One data point; which fields are set depends on the metric's type. */
export interface DataPoint {
  attributes: Attributes;
  timeUnixNano: bigint;
  startTimeUnixNano: bigint;
  /** gauge and sum. */
  value?: number;
  /** histogram (and exponential histogram, summary: count and sum only). */
  count?: number;
  sum?: number;
  min?: number;
  max?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
}

export interface Metric {
  name: string;
  description: string;
  unit: string;
  type: 'gauge' | 'sum' | 'histogram' | 'exponentialHistogram' | 'summary';
  /** sum only. */
  monotonic?: boolean;
  /** sum and histograms: CUMULATIVE or DELTA. */
  temporality?: string;
  points: DataPoint[];
  resource: Attributes;
  scope: { name: string; version: string };
}

export interface Collector {
  /** OTLP/HTTP base URL, e.g. http://127.0.0.1:4318 (append /v1/traces or /v1/metrics per signal). */
  httpEndpoint: string;
  /** OTLP/gRPC endpoint, e.g. http://127.0.0.1:4317. */
  grpcEndpoint: string;
  /** Every span received so far, in the order the collector wrote them. */
  spans(): Span[];
  /**
   * Every metric received so far, one entry per metric per export, oldest first: with cumulative
   * temporality the last entry of a name holds its current value.
   */
  metrics(): Metric[];
  /** Polls check until it returns something other than undefined or false; fails after timeoutMs. */
  waitFor<T>(check: () => T | undefined | false, timeoutMs?: number): Promise<T>;
  /** The collector's own output so far, for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

const spanKinds = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const statusCodes = ['UNSET', 'OK', 'ERROR'];
const temporalities = ['UNSPECIFIED', 'DELTA', 'CUMULATIVE'];

/** The collector binary, built from its Go modules when missing. */
export async function collectorBinary(): Promise<string> {
  const version = versions().OTELCOL_VERSION;
  if (!version) throw new Error('OTELCOL_VERSION is not set in hack/versions.env');
  const path = binaryPath('otelcol', version);
  if (!existsSync(path)) await buildBinaries(['otelcol']);
  return path;
}

/**
 * Starts a collector. `host` is the address it listens on: loopback for processes of this machine;
 * the kubelet's node address (`kubelet.nodeIP`) when pods, each in its own network namespace, export to it.
 */
export async function startCollector(options: { host?: string } = {}): Promise<Collector> {
  const host = options.host ?? '127.0.0.1';
  const binary = await collectorBinary();
  const dir = await mkdtemp(join(tmpdir(), 'otelcol-'));
  const [grpcPort, httpPort] = [await freePort(host), await freePort(host)];
  const files = {
    traces: join(dir, 'traces.jsonl'),
    metrics: join(dir, 'metrics.jsonl'),
    logs: join(dir, 'logs.jsonl'),
  };
  const fileExporter = (path: string) => ({ path, format: 'json', flush_interval: '100ms' });
  // JSON is YAML: the collector reads this file as its configuration as it is.
  const config = {
    receivers: {
      otlp: {
        protocols: {
          grpc: { endpoint: `${host}:${grpcPort}` },
          http: { endpoint: `${host}:${httpPort}` },
        },
      },
    },
    exporters: {
      'file/traces': fileExporter(files.traces),
      'file/metrics': fileExporter(files.metrics),
      'file/logs': fileExporter(files.logs),
    },
    service: {
      // The collector's own metrics would otherwise be served on port 8888, which a second collector
      // (or anything else) may hold.
      telemetry: { metrics: { level: 'none' }, logs: { level: 'info' } },
      pipelines: {
        traces: { receivers: ['otlp'], exporters: ['file/traces'] },
        metrics: { receivers: ['otlp'], exporters: ['file/metrics'] },
        logs: { receivers: ['otlp'], exporters: ['file/logs'] },
      },
    },
  };
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, JSON.stringify(config, null, 2));

  const child = spawn(binary, ['--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const collector: Collector = {
    httpEndpoint: `http://${host}:${httpPort}`,
    grpcEndpoint: `http://${host}:${grpcPort}`,
    spans: () => readLines(files.traces).flatMap(flattenTraces),
    metrics: () => readLines(files.metrics).flatMap(flattenMetrics),
    waitFor: (check, timeoutMs = 15_000) => poll(check, timeoutMs, () => output),
    log: () => output,
    stop: async () => {
      await stopProcess(child, exited);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitListening(child, host, [grpcPort, httpPort], () => output);
  } catch (err) {
    await collector.stop();
    throw err;
  }
  return collector;
}

async function freePort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitListening(
  child: ChildProcess,
  host: string,
  ports: number[],
  output: () => string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const port of ports) {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `otelcol exited (${child.exitCode ?? child.signalCode}) before listening:\n${output()}`,
        );
      }
      if (await connects(host, port)) break;
      if (Date.now() > deadline)
        throw new Error(`otelcol is not listening on ${port} after 30s:\n${output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function poll<T>(
  check: () => T | undefined | false,
  timeoutMs: number,
  output: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const result = check();
      if (result !== undefined && result !== false) return result;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${String(lastError)})` : '';
      throw new Error(
        `the collector did not receive what was expected within ${timeoutMs / 1000}s${why}\n${output()}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The file's complete lines, parsed; a line still being written (no newline yet) waits for the next read. */
function readLines(path: string): unknown[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
}

// OTLP JSON, as the collector's file exporter writes it: the protobuf JSON mapping with hex trace
// and span ids, int64 values as strings, enums as numbers.
type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const nanos = (v: unknown): bigint => (typeof v === 'string' || typeof v === 'number' ? BigInt(v) : 0n);
const num = (v: unknown): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : undefined;
const enumName = (names: string[], v: unknown): string =>
  typeof v === 'string'
    ? v.replace(/^[A-Z_]*?_(?=[A-Z]+$)/, '')
    : (names[typeof v === 'number' ? v : 0] ?? String(v));

function int64(v: unknown): number | bigint {
  const n = typeof v === 'number' ? BigInt(v) : BigInt(str(v) || '0');
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

function anyValue(v: unknown): AttributeValue {
  const value = obj(v);
  if ('stringValue' in value) return str(value.stringValue);
  if ('boolValue' in value) return value.boolValue === true;
  if ('intValue' in value) return int64(value.intValue);
  if ('doubleValue' in value) return num(value.doubleValue) ?? 0;
  if ('arrayValue' in value) return arr(obj(value.arrayValue).values).map(anyValue);
  if ('kvlistValue' in value) return attributes(obj(value.kvlistValue).values);
  if ('bytesValue' in value) return str(value.bytesValue);
  return null;
}

function attributes(list: unknown): Attributes {
  const out: Attributes = {};
  for (const kv of arr(list)) out[str(obj(kv).key)] = anyValue(obj(kv).value);
  return out;
}

const scopeOf = (scope: unknown) => ({ name: str(obj(scope).name), version: str(obj(scope).version) });

function flattenTraces(request: unknown): Span[] {
  return arr(obj(request).resourceSpans).flatMap((rs) => {
    const resource = attributes(obj(obj(rs).resource).attributes);
    return arr(obj(rs).scopeSpans).flatMap((ss) => {
      const scope = scopeOf(obj(ss).scope);
      return arr(obj(ss).spans).map((s): Span => {
        const span = obj(s);
        return {
          name: str(span.name),
          traceId: str(span.traceId),
          spanId: str(span.spanId),
          parentSpanId: str(span.parentSpanId),
          kind: enumName(spanKinds, span.kind),
          attributes: attributes(span.attributes),
          events: arr(span.events).map((e) => ({
            name: str(obj(e).name),
            timeUnixNano: nanos(obj(e).timeUnixNano),
            attributes: attributes(obj(e).attributes),
          })),
          startTimeUnixNano: nanos(span.startTimeUnixNano),
          endTimeUnixNano: nanos(span.endTimeUnixNano),
          status: {
            code: enumName(statusCodes, obj(span.status).code),
            message: str(obj(span.status).message),
          },
          resource,
          scope,
        };
      });
    });
  });
}

function dataPoint(p: unknown): DataPoint {
  const point = obj(p);
  const out: DataPoint = {
    attributes: attributes(point.attributes),
    timeUnixNano: nanos(point.timeUnixNano),
    startTimeUnixNano: nanos(point.startTimeUnixNano),
  };
  if ('asDouble' in point) out.value = num(point.asDouble);
  if ('asInt' in point) out.value = num(point.asInt);
  if ('count' in point) out.count = num(point.count);
  if ('sum' in point) out.sum = num(point.sum);
  if ('min' in point) out.min = num(point.min);
  if ('max' in point) out.max = num(point.max);
  if ('bucketCounts' in point) out.bucketCounts = arr(point.bucketCounts).map((c) => num(c) ?? 0);
  if ('explicitBounds' in point) out.explicitBounds = arr(point.explicitBounds).map((b) => num(b) ?? 0);
  return out;
}

const metricTypes = ['gauge', 'sum', 'histogram', 'exponentialHistogram', 'summary'] as const;

function flattenMetrics(request: unknown): Metric[] {
  return arr(obj(request).resourceMetrics).flatMap((rm) => {
    const resource = attributes(obj(obj(rm).resource).attributes);
    return arr(obj(rm).scopeMetrics).flatMap((sm) => {
      const scope = scopeOf(obj(sm).scope);
      return arr(obj(sm).metrics).map((m): Metric => {
        const metric = obj(m);
        const type = metricTypes.find((t) => t in metric) ?? 'gauge';
        const data = obj(metric[type]);
        const out: Metric = {
          name: str(metric.name),
          description: str(metric.description),
          unit: str(metric.unit),
          type,
          points: arr(data.dataPoints).map(dataPoint),
          resource,
          scope,
        };
        if (type === 'sum') out.monotonic = data.isMonotonic === true;
        if ('aggregationTemporality' in data)
          out.temporality = enumName(temporalities, data.aggregationTemporality);
        return out;
      });
    });
  });
}
