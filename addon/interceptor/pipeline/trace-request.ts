// The tracing step, in the chain only when OTEL_EXPORTER_OTLP_TRACES_ENABLED is true (pipeline.ts
// picks the traced entry at construction; untraced, no code of this file runs per request).
//
// Spans, as upstream names them (otelhttp around the handler chain and the backend transport):
//   keda-http-interceptor     server span, one per request, HTTP/1.x, HTTP/2 and Upgrade alike;
//                             continues the client's traceparent/tracestate/baggage
//     cold-start wait         the hold step, when the target had no ready endpoint: its outcome
//     HTTP <method>           client span around the forward (or tunnel); its context is what the
//                             backend receives in traceparent
// Attributes follow the HTTP semantic conventions otelhttp uses, plus upstream's own `service` and
// `cold-start` on the server span (where upstream sets them) and keda.route / keda.target.
import {
  type Context,
  type Span,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  trace,
} from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import {
  attrRoute,
  attrTarget,
  attrTargetPort,
  attrWaitBehindRelease,
  attrWaitOutcome,
} from '../../shared/telemetry/attributes.ts';
import type { Tracing } from '../../shared/telemetry/tracing.ts';
import type { ResolvedTarget } from '../endpoints/targets.ts';
import type { Exchange } from './exchange.ts';

/** upstream: otelhttp.NewHandler(h, "keda-http-interceptor") names the server span. */
export const serverSpanName = 'keda-http-interceptor';
export const holdSpanName = 'cold-start wait';
/** upstream: the attribute its upstream handler sets on the request's span. */
const upstreamService = 'keda-http-interceptor-proxy-upstream';

/** How a wait ended, as the hold span's outcome attribute says it. */
export type HoldSpanOutcome =
  'ready' | 'readiness_timeout' | 'fallback' | 'deadline' | 'client_left' | 'drain';

const propagated = new Set(['traceparent', 'tracestate', 'baggage']);

/** The tracing step: the pipeline calls it first for every request (interceptor.ts loads this file only when traces are on). */
export function requestTracer(tracing: Tracing): (x: Exchange) => RequestTrace {
  return (x) => new RequestTrace(tracing, x);
}

/** One request's spans; kept on its Exchange. */
export class RequestTrace {
  readonly #tracing: Tracing;
  readonly server: Span;
  /** The server span's context: the parent of the hold and client spans. */
  readonly context: Context;
  /** The cold-start wait's span while it lasts. */
  hold: Span | undefined = undefined;
  client: Span | undefined = undefined;
  /** The error behind a 502/504 from the backend side, for the client span. */
  upstreamError: Error | undefined = undefined;

  constructor(tracing: Tracing, x: Exchange) {
    this.#tracing = tracing;
    const req = x.req;
    const parent = tracing.propagator.extract(tracing.root, req.headers, defaultTextMapGetter);
    const socket = req.socket;
    const peer = unmapped(socket?.remoteAddress ?? '');
    const forwardedFor = req.headers['x-forwarded-for'];
    const firstForwarded = (Array.isArray(forwardedFor) ? forwardedFor[0] : forwardedFor)
      ?.split(',')[0]
      ?.trim();
    const ua = req.headers['user-agent'];
    this.server = tracing.tracer.startSpan(
      serverSpanName,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: req.method ?? 'GET',
          [ATTR_URL_SCHEME]: x.scheme,
          [ATTR_NETWORK_PROTOCOL_VERSION]: req.httpVersion,
          [ATTR_NETWORK_PEER_ADDRESS]: peer,
          [ATTR_NETWORK_PEER_PORT]: socket?.remotePort ?? 0,
          [ATTR_CLIENT_ADDRESS]: firstForwarded || peer,
          ...(ua === undefined ? {} : { [ATTR_USER_AGENT_ORIGINAL]: ua }),
        },
      },
      parent,
    );
    this.context = trace.setSpan(parent, this.server);
  }

  /** The hold step starts waiting. */
  startHold(behindRelease: boolean): void {
    this.hold = this.#tracing.tracer.startSpan(
      holdSpanName,
      { kind: SpanKind.INTERNAL, attributes: { [attrWaitBehindRelease]: behindRelease } },
      this.context,
    );
  }

  endHold(outcome: HoldSpanOutcome): void {
    const span = this.hold;
    if (span === undefined) return;
    span.setAttribute(attrWaitOutcome, outcome);
    if (outcome === 'readiness_timeout' || outcome === 'deadline') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: `cold-start wait ended: ${outcome}` });
    }
    span.end();
    this.hold = undefined;
  }

  /**
   * The deliver step is about to send to `target`: the client span starts, and the backend gets its
   * context in place of the client's traceparent (tracestate and baggage carried on).
   */
  startClient(
    x: Exchange,
    target: ResolvedTarget,
    coldStart: 'true' | 'false' | undefined,
    headers: string[],
  ): void {
    // Upstream sets these on the request's span from its upstream handler.
    this.server.setAttribute('service', upstreamService);
    this.server.setAttribute('cold-start', coldStart ?? '');
    const method = x.req.method ?? 'GET';
    const origin = new URL(target.origin);
    const client = this.#tracing.tracer.startSpan(
      `HTTP ${method}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: method,
          [ATTR_URL_FULL]: target.origin + (x.req.url ?? '/'),
          [ATTR_SERVER_ADDRESS]: origin.hostname,
          [ATTR_SERVER_PORT]: Number(origin.port) || (origin.protocol === 'https:' ? 443 : 80),
          [ATTR_NETWORK_PROTOCOL_VERSION]: target.h2c && x.upgrade === undefined ? '2' : '1.1',
        },
      },
      this.context,
    );
    this.client = client;
    // Replace what the client sent with this hop's context.
    for (let i = headers.length - 2; i >= 0; i -= 2) {
      if (propagated.has((headers[i] as string).toLowerCase())) headers.splice(i, 2);
    }
    this.#tracing.propagator.inject(trace.setSpan(this.context, client), headers, {
      set: (carrier: string[], key, value) => void carrier.push(key, value),
    });
  }

  /** The response closed: the client and server spans end with its status. */
  end(x: Exchange): void {
    const status = x.res.statusCode;
    const client = this.client;
    if (client !== undefined) {
      client.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      const err = this.upstreamError;
      if (err !== undefined) {
        client.recordException(err);
        client.setAttribute(ATTR_ERROR_TYPE, err.name);
        client.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
      } else if (status >= 400) {
        // otelhttp's client rule: 4xx and 5xx are errors.
        client.setAttribute(ATTR_ERROR_TYPE, String(status));
        client.setStatus({ code: SpanStatusCode.ERROR });
      }
      client.end();
    }
    // A wait the client left mid-way (the hold step ends its span itself otherwise).
    if (this.hold !== undefined) this.endHold('client_left');
    const s = this.server;
    const [host, port] = splitHost(x.host);
    if (host !== '') s.setAttribute(ATTR_SERVER_ADDRESS, host);
    if (port > 0) s.setAttribute(ATTR_SERVER_PORT, port);
    const path = x.path || (x.req.url ?? '').split('?')[0];
    if (path) s.setAttribute(ATTR_URL_PATH, path);
    s.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (x.route !== undefined) s.setAttribute(attrRoute, x.route.key);
    if (x.target !== undefined) {
      s.setAttribute(attrTarget, x.target.serviceKey);
      s.setAttribute(attrTargetPort, x.target.portName);
    }
    if (status >= 500) {
      // otelhttp's server rule: only 5xx are the server's errors.
      s.setAttribute(ATTR_ERROR_TYPE, String(status));
      s.setStatus({ code: SpanStatusCode.ERROR });
    }
    s.end();
  }
}

function unmapped(a: string): string {
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

/** "host:port", "[v6]:port" or "host" -> [host, port or 0]. */
function splitHost(hostport: string): [string, number] {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(hostport);
  if (m === null) return [hostport, 0];
  const host = (m[1] as string).replace(/^\[|\]$/g, '');
  return [host, m[2] === undefined ? 0 : Number(m[2])];
}
