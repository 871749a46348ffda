// The interceptor's request path, written out in one place. Every request, HTTP/1.1, HTTP/2 and
// HTTP/1.1 Upgrade alike, goes through the same steps around one Exchange, in upstream's order:
//
//   1. check-request   exactly one Host, chunked as the only transfer coding, OPTIONS *
//   2. route-request   host (:authority on HTTP/2, the target's in absolute form) + decoded path
//                      + headers -> route, else 404
//   3. resolve-target  Service port -> origin (and the fallback's), else 500; request deadline
//   4. static-route    staticRoutes answer, or forward uncounted
//   5. count           the route's concurrency and request count (wakes the scaler)
//   6. placeholder     an immediate answer while the target has no ready endpoint
//   7. hold            wait for a ready endpoint (bounded), then
//   8. deliver         forward a request (forward-request) or tunnel an Upgrade (tunnel)
//
// With traces on, a tracing step (trace-request) comes first: the request's server span, which
// the hold and deliver steps give children (the cold-start wait, the call to the backend) and
// finish ends. With traces off it is not in the chain: handleRequest/handleUpgrade are built
// without it, and the later steps find no span on the Exchange.
//
// The steps are plain functions called in sequence: each answers the client itself when the
// request goes no further, and returns whether it did. The exchange ends when its response closes
// (finish): the count goes back down and the metrics and access log record it.
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import type { ProxyRequest, ProxyResponse } from '../proxy/forward.ts';
import { checkRequest } from './check-request.ts';
import { countRequest, uncountRequest } from './count.ts';
import type { PipelineDeps } from './deps.ts';
import { Exchange } from './exchange.ts';
import { waitForTarget } from './hold.ts';
import { servePlaceholder } from './placeholder.ts';
import { H2RequestBody } from './h2-request-body.ts';
import { RequestBody, type PipelineBody } from './request-body.ts';
import { resolveTarget } from './resolve-target.ts';
import { routeRequest } from './route-request.ts';
import { serveStaticRoute } from './static-route.ts';

/** How long a closed Upgrade connection may take to read our answer before it is cut. */
const upgradeLingerMs = 1000;

/**
 * A response written over an Upgrade request's raw connection, so that every answer but a 101
 * (404, 503, a placeholder, a backend's non-101 response) is written exactly like a request's.
 * Such a connection is never read for another request, so it closes after the answer.
 */
function upgradeResponse(req: IncomingMessage, socket: Socket): ServerResponse {
  const res = new ServerResponse(req);
  res.assignSocket(socket);
  res.setHeader('connection', 'close');
  res.once('finish', () => {
    socket.end();
    // Whatever the client still sends is never answered on this connection: drop it, and cut a
    // client that does not close its side.
    socket.resume();
    setTimeout(() => socket.destroy(), upgradeLingerMs).unref();
  });
  return res;
}

function bodyOf(req: ProxyRequest, res: ProxyResponse, stallMs: number): PipelineBody | undefined {
  if ('stream' in req) return H2RequestBody.of(req, res as Http2ServerResponse, stallMs);
  return RequestBody.of(req, res as ServerResponse, stallMs);
}

export class RequestPipeline {
  readonly #d: PipelineDeps;
  readonly #scheme: 'http' | 'https';
  /** The first step after check-request: #run, or the tracing step then #run. */
  readonly #begin: (x: Exchange) => void;

  constructor(deps: PipelineDeps, scheme: 'http' | 'https') {
    this.#d = deps;
    this.#scheme = scheme;
    const traceRequest = deps.traceRequest;
    this.#begin =
      traceRequest === undefined
        ? (x) => this.#run(x)
        : (x) => {
            x.trace = traceRequest(x);
            this.#run(x);
          };
  }

  /** The server's request listener (HTTP/1.x and HTTP/2). */
  readonly handleRequest = (req: ProxyRequest, res: ProxyResponse): void => {
    if (!checkRequest(req, res)) return;
    this.#begin(new Exchange(req, res, this.#scheme));
  };

  /** The server's 'upgrade' listener (HTTP/1.1 Upgrade requests). */
  readonly handleUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const res = upgradeResponse(req, socket);
    if (!checkRequest(req, res)) return;
    this.#begin(new Exchange(req, res, this.#scheme, { socket, head }));
  };

  #run(x: Exchange): void {
    const d = this.#d;
    d.accessLog?.attach(x.res);
    if (d.draining() && x.req.httpVersionMajor === 1) x.res.setHeader('connection', 'close');
    // 'on', not 'once': a response closes once, and once() would wrap the listener in another closure.
    x.res.on('close', () => this.#finish(x));
    if (!routeRequest(d, x)) return;
    if (!resolveTarget(d, x)) return;
    // What follows an Upgrade's head belongs to the protocol it switches to, never to a body.
    if (x.upgrade === undefined) x.body = bodyOf(x.req, x.res, d.config.requestBodyTimeoutMs);
    if (serveStaticRoute(d, x)) return;
    countRequest(d, x);
    if (servePlaceholder(d, x)) return;
    waitForTarget(d, x);
  }

  #finish(x: Exchange): void {
    const d = this.#d;
    clearTimeout(x.deadlineTimer);
    x.body?.end();
    uncountRequest(d, x);
    const route = x.route;
    const m = d.metrics;
    m.observeRoute(
      x.state?.series ?? m.routeSeries(route?.key ?? ''),
      x.res.statusCode,
      x.req.method ?? 'GET',
      route?.namespace ?? '',
      route?.name ?? '',
      (performance.now() - x.start) / 1000,
    );
    d.accessLog?.record(x.req, x.res, x.start);
    x.trace?.end(x);
  }
}
