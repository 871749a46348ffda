// The interceptor's compiled view of one InterceptorRoute (or converted HTTPScaledObject): everything
// the hot path needs, resolved once per table build so a request does no parsing of CRD fields.
import { parseGoDuration } from '../../shared/config.ts';

export interface ServiceRef {
  service: string;
  port?: number;
  portName?: string;
}

export interface HeaderMatcher {
  /** Lower-cased: Node lower-cases incoming header names, Go canonicalizes; both compare case-insensitively. */
  name: string;
  value?: string;
}

export interface RoutingRule {
  hosts: string[];
  paths: string[];
  headers: HeaderMatcher[];
}

export interface StaticResponse {
  statusCode: number;
  body?: string;
  bodyFromConfigMap?: { name: string; key?: string };
  headers: Record<string, string>;
}

export interface StaticRoute {
  rules: RoutingRule[];
  response: StaticResponse;
  always: boolean;
}

/** Timeouts in ms; `undefined` means "not set on the route, use the global value". */
export interface RouteTimeouts {
  readinessMs?: number;
  requestMs?: number;
  responseHeaderMs?: number;
}

export interface Route {
  /** "namespace/name": the queue key, metrics labels and log field. */
  key: string;
  namespace: string;
  name: string;
  target: ServiceRef;
  fallback?: ServiceRef;
  placeholder?: StaticResponse & { negotiate: boolean };
  timeouts: RouteTimeouts;
  rules: RoutingRule[];
  staticRoutes: StaticRoute[];
  /** Beyond upstream: per-route cap on held requests (undefined = the env default). */
  maxPendingRequests?: number;
  creationTimestampMs: number;
  /**
   * The proxy's per-route state (pipeline/route-state.ts), attached on the route's first request. Held
   * here rather than in a map keyed by route: with thousands of routes, every lookup is a CPU
   * cache miss or two. It lives and dies with this compiled route (a table swap compiles anew).
   */
  proxyState: unknown;
}

// ---- conversion from stored objects (plain JSON read from the API server or the YAML file) ----
// The shapes are addon/api's InterceptorRoute and HTTPScaledObject; they are read defensively here
// because `--from-file` objects never went through the CRD schema. Two fields beyond upstream are
// read as well: spec.coldStart.maxPendingRequests and spec.coldStart.placeholder.contentNegotiation.

type Json = Record<string, unknown>;

function obj(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function int(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v !== 0 ? v : undefined;
}
function duration(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Error(`${field} must be a duration string such as "30s"`);
  try {
    return parseGoDuration(v);
  } catch (err) {
    throw new Error(`${field}: ${(err as Error).message}`, { cause: err });
  }
}
function timestampMs(meta: Json | undefined): number {
  const t = meta?.['creationTimestamp'];
  const ms = t instanceof Date ? t.getTime() : typeof t === 'string' ? Date.parse(t) : NaN;
  return Number.isNaN(ms) ? 0 : ms;
}

function serviceRef(v: Json | undefined, nameField: 'service' | 'name'): ServiceRef | undefined {
  const service = str(v?.[nameField]);
  if (v === undefined || service === undefined || service === '') return undefined;
  const ref: ServiceRef = { service };
  const port = int(v['port']);
  const portName = str(v['portName']);
  if (port !== undefined) ref.port = port;
  if (portName !== undefined && portName !== '') ref.portName = portName;
  return ref;
}

function headers(v: unknown): HeaderMatcher[] {
  return arr(v).flatMap((h) => {
    const o = obj(h);
    const name = str(o?.['name']);
    if (name === undefined || name === '') return [];
    const value = str(o?.['value']);
    return value === undefined ? [{ name: name.toLowerCase() }] : [{ name: name.toLowerCase(), value }];
  });
}

function rule(v: unknown): RoutingRule {
  const o = obj(v);
  return {
    hosts: arr(o?.['hosts']).filter((h): h is string => typeof h === 'string'),
    paths: arr(o?.['paths']).flatMap((p) => {
      const value = str(obj(p)?.['value']);
      return value === undefined ? [] : [value];
    }),
    headers: headers(o?.['headers']),
  };
}

function staticResponse(v: unknown, defaultStatus: number): StaticResponse {
  const o = obj(v) ?? {};
  const out: StaticResponse = {
    statusCode: int(o['statusCode']) ?? defaultStatus,
    headers: Object.fromEntries(
      Object.entries(obj(o['headers']) ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'),
    ),
  };
  const body = str(o['body']);
  if (body !== undefined) out.body = body;
  const cm = obj(o['bodyFromConfigMap']);
  const cmName = str(cm?.['name']);
  if (cmName !== undefined) {
    const key = str(cm?.['key']);
    out.bodyFromConfigMap = key === undefined ? { name: cmName } : { name: cmName, key };
  }
  return out;
}

/** Compiles an InterceptorRoute. Throws a message naming the field when a value cannot be used. */
export function routeFromInterceptorRoute(ir: Json): Route {
  const meta = obj(ir['metadata']);
  const namespace = str(meta?.['namespace']) ?? 'default';
  const name = str(meta?.['name']) ?? '';
  const spec = obj(ir['spec']) ?? {};
  const target = serviceRef(obj(spec['target']), 'service');
  if (target === undefined) throw new Error('spec.target.service is required');
  const t = obj(spec['timeouts']);
  const timeouts: RouteTimeouts = {};
  const readinessMs = duration(t?.['readiness'], 'spec.timeouts.readiness');
  const requestMs = duration(t?.['request'], 'spec.timeouts.request');
  const responseHeaderMs = duration(t?.['responseHeader'], 'spec.timeouts.responseHeader');
  if (readinessMs !== undefined) timeouts.readinessMs = readinessMs;
  if (requestMs !== undefined) timeouts.requestMs = requestMs;
  if (responseHeaderMs !== undefined) timeouts.responseHeaderMs = responseHeaderMs;
  const route: Route = {
    key: `${namespace}/${name}`,
    namespace,
    name,
    target,
    timeouts,
    rules: arr(spec['rules']).map(rule),
    staticRoutes: arr(spec['staticRoutes']).map((s) => {
      const o = obj(s);
      return {
        rules: arr(o?.['rules']).map(rule),
        response: staticResponse(o?.['response'], 200),
        always: o?.['responseMode'] === 'Always',
      };
    }),
    creationTimestampMs: timestampMs(meta),
    proxyState: undefined,
  };
  const cold = obj(spec['coldStart']);
  const fallback = serviceRef(obj(obj(cold?.['fallback'])?.['service']), 'name');
  if (fallback) route.fallback = fallback;
  const placeholder = obj(cold?.['placeholder']);
  if (placeholder && obj(placeholder['response'])) {
    route.placeholder = {
      ...staticResponse(placeholder['response'], 503),
      negotiate: placeholder['contentNegotiation'] === true,
    };
  }
  const maxPending = cold?.['maxPendingRequests'];
  if (typeof maxPending === 'number' && Number.isInteger(maxPending) && maxPending >= 0)
    route.maxPendingRequests = maxPending;
  return route;
}

/** Converts an HTTPScaledObject the way upstream's table build does. */
export function routeFromHTTPScaledObject(so: Json): Route {
  const meta = obj(so['metadata']);
  const namespace = str(meta?.['namespace']) ?? 'default';
  const name = str(meta?.['name']) ?? '';
  const spec = obj(so['spec']) ?? {};
  const target = serviceRef(obj(spec['scaleTargetRef']), 'service');
  if (target === undefined) throw new Error('spec.scaleTargetRef.service is required');
  const timeouts: RouteTimeouts = {};
  const t = obj(spec['timeouts']);
  const conditionWait = duration(t?.['conditionWait'], 'spec.timeouts.conditionWait');
  const responseHeader = duration(t?.['responseHeader'], 'spec.timeouts.responseHeader');
  if (conditionWait !== undefined && conditionWait > 0) timeouts.readinessMs = conditionWait;
  if (responseHeader !== undefined && responseHeader > 0) timeouts.responseHeaderMs = responseHeader;
  const route: Route = {
    key: `${namespace}/${name}`,
    namespace,
    name,
    target,
    timeouts,
    rules: [
      {
        hosts: arr(spec['hosts']).filter((h): h is string => typeof h === 'string'),
        paths: arr(spec['pathPrefixes']).filter((p): p is string => typeof p === 'string'),
        headers: headers(spec['headers']),
      },
    ],
    staticRoutes: [],
    creationTimestampMs: timestampMs(meta),
    proxyState: undefined,
  };
  const failover = obj(spec['coldStartTimeoutFailoverRef']);
  const fallback = serviceRef(failover, 'service');
  if (fallback) {
    route.fallback = fallback;
    const seconds = int(failover?.['timeoutSeconds']) ?? 30; // CRD default 30
    if (seconds > 0) route.timeouts.readinessMs = seconds * 1000;
  }
  return route;
}
