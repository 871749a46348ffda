// Test support for the pipeline's steps: the real parts a step works with (route table over a real
// FileStore, queue, ready cache, hold limits, metrics, forwarder), wired as interceptor.ts wires
// them, and a real HTTP server whose requests a test hands to the step under test. Nothing here
// stands in for a step.
import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { stringify } from 'yaml';
import { FileStore } from '../../shared/store/file-store.ts';
import { readConfig, type InterceptorConfig } from '../config.ts';
import { ReadyEndpointsCache } from '../endpoints/ready-cache.ts';
import { TargetResolver } from '../endpoints/targets.ts';
import { InterceptorMetrics } from '../metrics.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { Exchange } from '../pipeline/exchange.ts';
import { ReadAheadBudget } from '../pipeline/request-body.ts';
import { BackendTrust } from '../proxy/backend-trust.ts';
import { Forwarder } from '../proxy/forward.ts';
import { HoldLimits } from '../proxy/holding.ts';
import { StaticResponder } from '../proxy/static-response.ts';
import { RequestQueue } from '../queue/queue.ts';
import { LiveRouteTable } from '../routing/live-table.ts';
import { quietLogger, type Obj } from './harness.ts';
import { HoldCutoff } from '../server/hold-cutoff.ts';

export interface StepFixture {
  deps: PipelineDeps;
  /** Where requests sent with send() arrive; `step` decides what happens to each. */
  port: number;
  /** What the server does with the next requests; receives each as a fresh Exchange. */
  step: (x: Exchange) => void;
  /** Replaces the objects file and waits until the parts have seen it. */
  update(objects: Obj[]): Promise<void>;
  close(): Promise<void>;
}

export async function stepFixture(
  objects: Obj[],
  overrides: Partial<InterceptorConfig> = {},
): Promise<StepFixture> {
  const log = quietLogger();
  const dir = await mkdtemp(join(tmpdir(), 'pipeline-step-'));
  const file = join(dir, 'objects.yaml');
  const write = (objs: Obj[]): Promise<void> =>
    writeFile(file, objs.map((o) => stringify(o)).join('---\n') || '{}\n');
  await write(objects);
  const store = new FileStore(file, log);
  const { config } = readConfig({ KEDA_HTTP_PROXY_PORT: '0', KEDA_HTTP_ADMIN_PORT: '0' });
  const queue = new RequestQueue();
  const table = new LiveRouteTable(store, queue, log);
  const ready = new ReadyEndpointsCache(store);
  const targets = new TargetResolver(store);
  const holds = new HoldLimits(0, 0);
  const forwarder = new Forwarder({ connectTimeoutMs: 500, maxConnsPerHost: 0, forceHttp2: false });
  const deps: PipelineDeps = {
    config: { ...config, ...overrides },
    table,
    queue,
    ready,
    targets,
    forwarder,
    backendTrust: new BackendTrust(undefined),
    statics: new StaticResponder(store),
    holds,
    readAhead: new ReadAheadBudget(),
    metrics: new InterceptorMetrics(new Registry(), holds),
    log,
    accessLog: undefined,
    directPodRouting: true,
    fileMode: true,
    draining: () => false,
    holdCutoff: new HoldCutoff(),
    traceRequest: undefined,
  };
  await store.synced;
  ready.start();
  targets.start();
  await table.start();
  const fixture: StepFixture = {
    deps,
    port: 0,
    step: () => {},
    update: async (objs) => {
      await write(objs);
      await store.reload();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      table.stop();
      ready.stop();
      targets.stop();
      await forwarder.close();
      await store.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  const server = http.createServer({ requireHostHeader: false }, (req, res) =>
    fixture.step(new Exchange(req, res, 'http')),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fixture.port = (server.address() as AddressInfo).port;
  return fixture;
}
