// What the request pipeline's steps share: the interceptor's long-lived parts, built once in
// interceptor.ts. Nothing in here changes per request.
import type { Logger } from '../../shared/log.ts';
import type { InterceptorConfig } from '../config.ts';
import type { ReadyEndpointsCache } from '../endpoints/ready-cache.ts';
import type { TargetResolver } from '../endpoints/targets.ts';
import type { InterceptorMetrics } from '../metrics.ts';
import type { AccessLog } from '../proxy/access-log.ts';
import type { BackendTrust } from '../proxy/backend-trust.ts';
import type { Forwarder } from '../proxy/forward.ts';
import type { HoldLimits } from '../proxy/holding.ts';
import type { StaticResponder } from '../proxy/static-response.ts';
import type { RequestQueue } from '../queue/queue.ts';
import type { LiveRouteTable } from '../routing/live-table.ts';
import type { HoldCutoff } from '../server/hold-cutoff.ts';
import type { Exchange } from './exchange.ts';
import type { ReadAheadBudget } from './request-body.ts';
import type { RequestTrace } from './trace-request.ts';

export interface PipelineDeps {
  config: InterceptorConfig;
  table: LiveRouteTable;
  queue: RequestQueue;
  ready: ReadyEndpointsCache;
  targets: TargetResolver;
  forwarder: Forwarder;
  /** Which backend certificates are trusted; the tunnel dials with the same trust as the forwarder. */
  backendTrust: BackendTrust;
  statics: StaticResponder;
  holds: HoldLimits;
  /** Bytes of request bodies read ahead while their requests are held, across all of them. */
  readAhead: ReadAheadBudget;
  metrics: InterceptorMetrics;
  log: Logger;
  accessLog: AccessLog | undefined;
  /** KEDA_HTTP_DIRECT_POD_ROUTING, or file mode. */
  directPodRouting: boolean;
  /** File mode always dials EndpointSlice addresses (there is no cluster DNS), the fallback's too. */
  fileMode: boolean;
  /** True once SIGTERM arrived: HTTP/1 responses then carry Connection: close. */
  draining: () => boolean;
  /** Reached shortly before a drain closes the connections: requests still held get 503 + Retry-After. */
  holdCutoff: HoldCutoff;
  /** Present when traces are on: the tracing step is then in the chain (trace-request.ts). */
  traceRequest: ((x: Exchange) => RequestTrace) | undefined;
}
