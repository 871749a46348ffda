// The request pipeline, in upstream's order (reference §2.3): route -> static routes -> count ->
// placeholder -> cold-start wait (bounded) -> forward. Everything a request needs that can be known
// earlier (route table, resolved Service ports, metric children) is prepared outside this path.
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../shared/log.ts';
import type { InterceptorConfig } from '../config.ts';
import type { ReadyEndpointsCache } from '../endpoints/ready-cache.ts';
import { TargetResolutionError, type ResolvedTarget, type TargetResolver } from '../endpoints/targets.ts';
import type { InterceptorMetrics, RouteSeries, WaitOutcome } from '../metrics.ts';
import type { Counter, RequestQueue } from '../queue/queue.ts';
import type { LiveRouteTable } from '../routing/live-table.ts';
import type { Route } from '../routing/route.ts';
import { findStaticRoute } from '../routing/static-match.ts';
import type { HeaderSource } from '../routing/table.ts';
import type { HoldCutoff } from '../server/hold-cutoff.ts';
import type { AccessLog } from './access-log.ts';
import { DeadlineExceeded, type Forwarder, type ProxyRequest, type ProxyResponse } from './forward.ts';
import { outboundHeaders } from './headers.ts';
import { holdRefusalMessage, takeHoldSlot, type HeldSlot, type HoldLimits } from './holding.ts';
import { writeError } from './responses.ts';
import type { StaticResponder } from './static-response.ts';
import { readinessTimeoutMs, requestTimeoutMs, responseHeaderTimeoutMs } from './timeouts.ts';

export interface ProxyDeps {
  config: InterceptorConfig;
  table: LiveRouteTable;
  queue: RequestQueue;
  ready: ReadyEndpointsCache;
  targets: TargetResolver;
  forwarder: Forwarder;
  statics: StaticResponder;
  holds: HoldLimits;
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
}

/** Where the request's headers are read for header matchers: every value, never comma-joined. */
function headerSource(req: ProxyRequest): HeaderSource {
  return (name) => {
    const distinct = (req as IncomingMessage).headersDistinct as Record<string, string[]> | undefined;
    if (distinct !== undefined) return distinct[name];
    const v = req.headers[name];
    return v === undefined ? undefined : Array.isArray(v) ? v : [v];
  };
}

function requestPath(url: string): string {
  const q = url.indexOf('?');
  const raw = q === -1 ? url : url.slice(0, q);
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function clientIp(req: ProxyRequest): string {
  const a = req.socket?.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

function hostOrigin(scheme: string, host: string, port: number): string {
  return host.includes(':') ? `${scheme}://[${host}]:${port}` : `${scheme}://${host}:${port}`;
}

/**
 * What a request touches per route, prepared on the route's first request and kept on the compiled
 * route itself (Route.proxyState): with thousands of routes, finding it by key in maps misses the
 * CPU cache on every lookup. A route object lives as long as its table, and a table swap is also
 * the only time the queue adds or removes keys, so the counter held here is always the key's live
 * one. The resolved targets are re-resolved when a Service changes (the resolver's generation).
 */
interface RouteState {
  count: Counter | undefined;
  series: RouteSeries;
  /** Logs the error behind a 502/504 (one function per route, not a closure per request). */
  onUpstreamError: (err: Error, status: 502 | 504) => void;
  requestMs: number;
  responseHeaderMs: number;
  targetGeneration: number;
  http: ResolvedTarget | undefined;
  https: ResolvedTarget | undefined;
}

export class ProxyHandler {
  readonly #d: ProxyDeps;
  readonly #scheme: 'http' | 'https';

  constructor(deps: ProxyDeps, scheme: 'http' | 'https') {
    this.#d = deps;
    this.#scheme = scheme;
  }

  /** The server's request listener. */
  readonly handle = (req: ProxyRequest, res: ProxyResponse): void => {
    const d = this.#d;
    const start = performance.now();
    d.accessLog?.attach(res);
    if (d.draining() && req.httpVersionMajor === 1) res.setHeader('connection', 'close');
    const host = req.headers.host ?? (req.headers[':authority'] as string | undefined) ?? '';
    const url = req.url ?? '/';
    const path = requestPath(url);
    const headers = headerSource(req);
    const route = d.table.current?.lookup(host, path, headers);
    if (route === undefined) {
      res.on('close', () => this.#observe(req, res, start, undefined));
      writeError(res, 404);
      return;
    }

    const state = this.#state(route);
    // Request deadline (route field, including an explicit 0, beats the env default).
    const requestMs = state.requestMs;
    let deadline: AbortController | undefined;
    let deadlineTimer: NodeJS.Timeout | undefined;
    if (requestMs > 0) {
      const ac = (deadline = new AbortController());
      deadlineTimer = setTimeout(() => ac.abort(new DeadlineExceeded()), requestMs);
    }
    const retryUntil = requestMs > 0 ? start + requestMs : Infinity;

    let target: ResolvedTarget;
    let fallback: ResolvedTarget | undefined;
    try {
      target = this.#target(route, state);
      if (route.fallback) fallback = d.targets.resolve(route.namespace, route.fallback, this.#scheme);
    } catch (err) {
      if (!(err instanceof TargetResolutionError)) throw err;
      d.log.error('cannot resolve the route target', { route: route.key, error: err.message });
      clearTimeout(deadlineTimer);
      res.on('close', () => this.#observe(req, res, start, route));
      writeError(res, 500, undefined, 'Internal Server Error\n');
      return;
    }

    // Static routes bypass counting (upstream StaticRouting).
    if (route.staticRoutes.length > 0) {
      const s = findStaticRoute(route.staticRoutes, host, path, headers);
      if (s !== undefined) {
        res.on('close', () => {
          clearTimeout(deadlineTimer);
          this.#observe(req, res, start, route);
        });
        if (s.always || !d.ready.hasReadyEndpoints(target.serviceKey)) {
          d.statics.write(res, route.namespace, s.response, path);
        } else {
          this.#forward(req, res, route, target, d.fileMode, target.h2c, deadline?.signal, retryUntil);
        }
        return;
      }
    }

    // Counting happens before the placeholder and the cold-start wait, so held requests wake the scaler.
    // The count is also the route's concurrency gauge (metrics.trackConcurrency).
    const { count, series } = state;
    if (count) d.queue.increaseCounter(route.key, count);
    // 'on', not 'once': a response closes once, and once() would wrap every listener in another closure.
    res.on('close', () => {
      clearTimeout(deadlineTimer);
      if (count) d.queue.decrease(route.key, count);
      this.#observe(req, res, start, route, series);
    });

    if (d.ready.hasReadyEndpoints(target.serviceKey)) {
      // Ready, but the requests held for its cold start may still be being released: wait behind them.
      if (d.ready.isReleasing(target.serviceKey))
        this.#hold(req, res, route, target, undefined, deadline?.signal, retryUntil, true);
      else this.#proceed(req, res, route, target, false, deadline?.signal, retryUntil);
      return;
    }
    if (route.placeholder) {
      if (route.placeholder.negotiate || d.config.placeholderNegotiate)
        d.statics.writeNegotiated(
          req,
          res,
          route.namespace,
          route.placeholder,
          route.key,
          d.config.retryAfterSeconds,
        );
      else d.statics.write(res, route.namespace, route.placeholder, path);
      return;
    }
    this.#hold(req, res, route, target, fallback, deadline?.signal, retryUntil);
  };

  #state(route: Route): RouteState {
    let state = route.proxyState as RouteState | undefined;
    if (state === undefined) {
      const d = this.#d;
      const count = d.queue.counter(route.key);
      d.metrics.trackConcurrency(route.key, route.namespace, route.name, count);
      route.proxyState = state = {
        count,
        series: d.metrics.routeSeries(route.key),
        // A 502/504 says why in the log; upstream's ReverseProxy logs the same.
        onUpstreamError: (err, status) =>
          d.log.warn('upstream request failed', {
            route: route.key,
            status,
            error: err.message,
            code: (err as { code?: unknown }).code,
          }),
        requestMs: requestTimeoutMs(route, d.config),
        responseHeaderMs: responseHeaderTimeoutMs(route, d.config),
        targetGeneration: -1,
        http: undefined,
        https: undefined,
      };
    }
    return state;
  }

  /** The route's target for this listener's scheme; throws TargetResolutionError as resolve() does. */
  #target(route: Route, state: RouteState): ResolvedTarget {
    const targets = this.#d.targets;
    if (state.targetGeneration !== targets.generation) {
      state.http = state.https = undefined;
      state.targetGeneration = targets.generation;
    }
    if (this.#scheme === 'http')
      return (state.http ??= targets.resolve(route.namespace, route.target, 'http'));
    return (state.https ??= targets.resolve(route.namespace, route.target, 'https'));
  }

  /**
   * Waits for the target to become ready, bounded by the readiness timeout, the deadline and the
   * hold limits. Callbacks rather than a promise race: a release of thousands of held requests then
   * costs one call each, paced by the ready cache, and nothing is left attached once it is over.
   * `behindRelease`: the target is ready and this request only waits for the end of the release
   * under way (FIFO); that is no cold-start wait, so no hold limit, readiness timeout or pending gauge.
   */
  #hold(
    req: ProxyRequest,
    res: ProxyResponse,
    route: Route,
    target: ResolvedTarget,
    fallback: ResolvedTarget | undefined,
    deadline: AbortSignal | undefined,
    retryUntil: number,
    behindRelease = false,
  ): void {
    const d = this.#d;
    let slot: HeldSlot | undefined;
    if (!behindRelease) {
      const taken = takeHoldSlot(d.holds, d.metrics, route);
      if (typeof taken === 'string') {
        writeError(
          res,
          503,
          { 'retry-after': String(d.config.retryAfterSeconds) },
          holdRefusalMessage(route.key, taken),
        );
        return;
      }
      slot = taken;
    }
    const readinessMs = behindRelease ? 0 : readinessTimeoutMs(route, d.config);
    // Prepared while the request waits, so a release of thousands does not do it all at once.
    const headers = this.#outboundHeaders(req);

    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: WaitOutcome): void => {
      if (settled) return;
      settled = true;
      cancelWait();
      clearTimeout(timer);
      deadline?.removeEventListener('abort', onDeadline);
      res.off('close', onClose);
      d.holdCutoff.unwatch(settle);
      slot?.end(outcome);
      if (outcome === 'client') return;
      if (outcome === 'shutdown') {
        writeError(res, 503, { 'retry-after': String(d.config.retryAfterSeconds) });
        return;
      }
      if (outcome === 'ready') {
        this.#proceed(req, res, route, target, !behindRelease, deadline, retryUntil, headers);
        return;
      }
      if (fallback && outcome === 'readiness') {
        // The request deadline still has time: serve from the fallback (no cold-start header, no pod rewrite).
        // upstream's quirk: the primary target's appProtocol decides h2c, even for the fallback.
        this.#forward(req, res, route, fallback, d.fileMode, target.h2c, deadline, retryUntil, headers);
        return;
      }
      // Both the readiness timeout and the deadline are "wait context expired": 504.
      writeError(res, 504);
    };
    const onDeadline = (): void => settle('deadline');
    const onClose = (): void => settle('client');
    const onReady = (): void => settle('ready');
    const cancelWait = behindRelease
      ? d.ready.waitBehindRelease(target.serviceKey, onReady)
      : d.ready.waitReady(target.serviceKey, onReady);
    if (readinessMs > 0) timer = setTimeout(settle, readinessMs, 'readiness');
    if (deadline) {
      if (deadline.aborted) return settle('deadline');
      deadline.addEventListener('abort', onDeadline, { once: true });
    }
    res.once('close', onClose);
    d.holdCutoff.watch(settle);
  }

  #proceed(
    req: ProxyRequest,
    res: ProxyResponse,
    route: Route,
    target: ResolvedTarget,
    coldStart: boolean,
    deadline: AbortSignal | undefined,
    retryUntil: number,
    headers?: string[],
  ): void {
    const d = this.#d;
    const header = d.config.enableColdStartHeader ? (coldStart ? 'true' : 'false') : undefined;
    this.#forward(
      req,
      res,
      route,
      target,
      d.directPodRouting,
      target.h2c,
      deadline,
      retryUntil,
      headers,
      header,
    );
  }

  /** The request's headers as they go to the backend (X-Forwarded-*, hop-by-hop removed). */
  #outboundHeaders(req: ProxyRequest): string[] {
    return outboundHeaders(req.rawHeaders, { clientIp: clientIp(req), proto: this.#scheme });
  }

  #forward(
    req: ProxyRequest,
    res: ProxyResponse,
    route: Route,
    target: ResolvedTarget,
    direct: boolean,
    h2c: boolean,
    deadline: AbortSignal | undefined,
    retryUntil: number,
    headers = this.#outboundHeaders(req),
    coldStartHeader?: 'true' | 'false',
  ): void {
    const d = this.#d;
    const scheme = this.#scheme;
    const origin = target.origin;
    let pick: (attempt: number) => string;
    if (direct) {
      // A random ready pod first, then the next ones on retries; the Service address if none is known.
      const seed = Math.floor(Math.random() * 1024);
      pick = (attempt) => {
        const c = d.ready.candidates(target.serviceKey, target.portName);
        const e = c.length === 0 ? undefined : c[(seed + attempt) % c.length];
        if (e === undefined) return origin;
        return scheme === 'http' ? e.httpOrigin : hostOrigin(scheme, e.host, e.port);
      };
    } else {
      pick = () => origin;
    }
    const state = this.#state(route);
    d.forwarder.forward(req, res, {
      origin: pick,
      h2c,
      serverName: scheme === 'https' ? target.serverName : undefined,
      headers,
      responseHeaderMs: state.responseHeaderMs,
      signal: deadline,
      retryUntil,
      coldStartHeader,
      onUpstreamError: state.onUpstreamError,
    });
  }

  #observe(
    req: ProxyRequest,
    res: ProxyResponse,
    start: number,
    route: Route | undefined,
    series?: RouteSeries,
  ): void {
    const seconds = (performance.now() - start) / 1000;
    const m = this.#d.metrics;
    m.observeRoute(
      series ?? m.routeSeries(route?.key ?? ''),
      res.statusCode,
      req.method ?? 'GET',
      route?.namespace ?? '',
      route?.name ?? '',
      seconds,
    );
    this.#d.accessLog?.record(req, res, start);
  }
}
