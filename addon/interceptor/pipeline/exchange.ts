// One request (or Upgrade) on its way through the pipeline: what the steps learn about it, in one
// object with a fixed shape instead of state threaded through parameter lists. One is allocated
// per request; the steps themselves are plain functions.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ResolvedTarget } from '../endpoints/targets.ts';
import type { ProxyRequest, ProxyResponse } from '../proxy/forward.ts';
import type { Counter } from '../queue/queue.ts';
import type { Route } from '../routing/route.ts';
import type { HeaderSource } from '../routing/table.ts';
import type { PipelineBody } from './request-body.ts';
import type { RouteState } from './route-state.ts';
import type { RequestTrace } from './trace-request.ts';

/** An HTTP/1.1 Upgrade request: the client's connection, and the bytes it sent past the head. */
export interface UpgradeRequest {
  socket: Socket;
  head: Buffer;
}

export class Exchange {
  readonly req: ProxyRequest;
  /** For an Upgrade, a response over its raw connection: every answer but a 101 is written here. */
  readonly res: ProxyResponse;
  readonly upgrade: UpgradeRequest | undefined;
  readonly scheme: 'http' | 'https';
  readonly start = performance.now();
  /** The host that routes the request: `:authority` for HTTP/2, else Host (never both). */
  host = '';
  /** The decoded path, without the query. */
  path = '';
  route: Route | undefined = undefined;
  state: RouteState | undefined = undefined;
  target: ResolvedTarget | undefined = undefined;
  fallback: ResolvedTarget | undefined = undefined;
  /** Aborted when the request deadline passes. */
  deadline: AbortController | undefined = undefined;
  deadlineTimer: NodeJS.Timeout | undefined = undefined;
  /** performance.now() after which no retry of a refused connection starts. */
  retryUntil = Infinity;
  /** The route's counter while this request is counted. */
  counted: Counter | undefined = undefined;
  /** The body, for requests that still have one to receive. */
  body: PipelineBody | undefined = undefined;
  /** The headers for the backend, when prepared early (while held). */
  outboundHeaders: string[] | undefined = undefined;
  /** The request's spans, when tracing is on (trace-request.ts). */
  trace: RequestTrace | undefined = undefined;

  constructor(req: ProxyRequest, res: ProxyResponse, scheme: 'http' | 'https', upgrade?: UpgradeRequest) {
    this.req = req;
    this.res = res;
    this.scheme = scheme;
    this.upgrade = upgrade;
  }

  /** Where header matchers read the request's headers: every value, never comma-joined. */
  readonly headers: HeaderSource = (name) => {
    const req = this.req;
    const distinct = (req as IncomingMessage).headersDistinct as Record<string, string[]> | undefined;
    if (distinct !== undefined) return distinct[name];
    const v = req.headers[name];
    return v === undefined ? undefined : Array.isArray(v) ? v : [v];
  };

  get clientIp(): string {
    const a = this.req.socket?.remoteAddress ?? '';
    return a.startsWith('::ffff:') ? a.slice(7) : a;
  }

  get signal(): AbortSignal | undefined {
    return this.deadline?.signal;
  }
}
