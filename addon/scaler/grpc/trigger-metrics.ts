// What each kind of trigger metadata measures: upstream's scaler/handlers.go semantics, kept
// free of gRPC so they can be read (and tested) on their own. Three kinds, checked in this order:
//   interceptorRoute=<name>                 -> http_<name>_concurrency / http_<name>_rate (float)
//   httpScaledObject=<name>                 -> http-<ns>_002F<name> (int; ceil of the rate)
//   interceptorTargetPendingRequests=<int>  -> the interceptors' own scaling: all concurrency
import { status } from '@grpc/grpc-js';
import type { HTTPScaledObject, InterceptorRoute } from '../../api/index.ts';
import { boundedJson, boundedText } from '../../shared/bounded-text.ts';
import { parseGoDuration } from '../../shared/config.ts';
import {
  httpScaledObjectMetricName,
  routeConcurrencyMetricName,
  routeRateMetricName,
} from './metric-names.ts';
import type { MetricSpec, MetricValue, ScaledObjectRef } from './messages.ts';

/** An error with the gRPC status KEDA will see. */
export class ScalerError extends Error {
  readonly code: status;
  constructor(code: status, message: string) {
    super(message);
    this.name = 'ScalerError';
    this.code = code;
  }
}

/** What the handlers read: routes from the object store, numbers from the aggregated polls. */
export interface ScalerView {
  route(namespace: string, name: string): InterceptorRoute | undefined;
  httpScaledObject(namespace: string, name: string): HTTPScaledObject | undefined;
  concurrency(key: string): number;
  /** Sets the key's window (history is kept unless it changes) and returns the current rate. */
  rate(key: string, windowMs: number, granularityMs: number): number;
  totalConcurrency(): number;
  /** true when the numbers are fresh; otherwise why they must not be used for a decision. */
  freshness(): true | string;
}

interface RateSettings {
  windowMs: number;
  granularityMs: number;
}

type Trigger =
  | {
      kind: 'interceptorRoute';
      key: string;
      name: string;
      concurrencyTarget: number | undefined;
      rate: (RateSettings & { target: number }) | undefined;
    }
  | {
      kind: 'httpScaledObject';
      key: string;
      metricName: string;
      target: number;
      rate: RateSettings | undefined;
    }
  | { kind: 'interceptors'; metricName: string; target: string };

/**
 * A ScaledObjectRef's names for a log line. Trigger metadata is whatever KEDA was given, so every
 * piece of it that reaches a message or a log is bounded (boundedText).
 */
export function refLogFields(ref: ScaledObjectRef): { namespace: string; name: string } {
  return { namespace: boundedText(ref.namespace ?? ''), name: boundedText(ref.name ?? '') };
}

/** The route key ("ns/name") a trigger watches, or undefined for the interceptors' own trigger. */
export function triggerKey(ref: ScaledObjectRef): string | undefined {
  const md = ref.scalerMetadata;
  const name = md['interceptorRoute'] ?? md['httpScaledObject'];
  return name === undefined ? undefined : `${ref.namespace}/${name}`;
}

function resolve(view: ScalerView, ref: ScaledObjectRef): Trigger {
  const md = ref.scalerMetadata ?? {};
  const routeName = md['interceptorRoute'];
  if (routeName !== undefined) {
    const route = view.route(ref.namespace, routeName);
    if (route === undefined) {
      // The words of the Kubernetes NotFound error upstream passes through (gRPC Unknown).
      throw new ScalerError(
        status.UNKNOWN,
        `interceptorroutes.http.keda.sh "${boundedText(routeName)}" not found`,
      );
    }
    const m = route.spec?.scalingMetric ?? {};
    const where = `InterceptorRoute ${boundedText(`${ref.namespace}/${routeName}`)}`;
    return {
      kind: 'interceptorRoute',
      key: `${ref.namespace}/${routeName}`,
      name: routeName,
      concurrencyTarget: m.concurrency
        ? number(where, 'concurrency.targetValue', m.concurrency.targetValue)
        : undefined,
      rate: m.requestRate
        ? {
            target: number(where, 'requestRate.targetValue', m.requestRate.targetValue),
            ...rateSettings(where, m.requestRate.window, m.requestRate.granularity),
          }
        : undefined,
    };
  }
  const soName = md['httpScaledObject'];
  if (soName !== undefined) {
    const so = view.httpScaledObject(ref.namespace, soName);
    if (so === undefined) {
      throw new ScalerError(
        status.UNKNOWN,
        `httpscaledobjects.http.keda.sh "${boundedText(soName)}" not found`,
      );
    }
    const spec = so.spec ?? {};
    const m = spec.scalingMetric;
    // Precedence as upstream: targetPendingRequests (default 100) < concurrency < requestRate.
    const where = `HTTPScaledObject ${boundedText(`${ref.namespace}/${soName}`)}`;
    let target = number(where, 'targetPendingRequests', spec.targetPendingRequests ?? 100, '');
    if (m?.concurrency) target = number(where, 'concurrency.targetValue', m.concurrency.targetValue ?? 100);
    if (m?.requestRate) target = number(where, 'requestRate.targetValue', m.requestRate.targetValue ?? 100);
    return {
      kind: 'httpScaledObject',
      key: `${ref.namespace}/${soName}`,
      metricName: httpScaledObjectMetricName(ref.namespace, soName),
      target,
      rate: m?.requestRate ? rateSettings(where, m.requestRate.window, m.requestRate.granularity) : undefined,
    };
  }
  const pending = md['interceptorTargetPendingRequests'];
  if (pending !== undefined) {
    // Parsed only by GetMetricSpec, as upstream: GetMetrics and IsActive ignore the value.
    return {
      kind: 'interceptors',
      metricName: httpScaledObjectMetricName(ref.namespace, ref.name),
      target: pending,
    };
  }
  throw new ScalerError(status.UNKNOWN, 'unable to get HTTPScaledObject reference');
}

/**
 * A target from the object, checked: the API server validates it in a cluster, but a file in
 * --from-file mode is hand-written, and a bad value must say where it is, not break the encoder.
 */
function number(where: string, field: string, value: unknown, prefix = 'scalingMetric.'): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ScalerError(
      status.INVALID_ARGUMENT,
      `${where}: spec.${prefix}${field} must be a number, got ${boundedJson(value)}`,
    );
  }
  return value;
}

function rateSettings(
  where: string,
  window: string | undefined,
  granularity: string | undefined,
): RateSettings {
  return {
    windowMs: duration(where, 'window', window),
    granularityMs: duration(where, 'granularity', granularity),
  };
}

/** Unset or non-positive means the default (1m / 1s), as upstream's UpdateBucketConfig does. */
function duration(where: string, field: string, text: string | undefined): number {
  if (text === undefined) return 0;
  try {
    return parseGoDuration(text);
  } catch (err) {
    throw new ScalerError(
      status.INVALID_ARGUMENT,
      `${where}: spec.scalingMetric.requestRate.${field}: ${boundedText(err instanceof Error ? err.message : String(err))}`,
    );
  }
}

export function metricSpecs(view: ScalerView, ref: ScaledObjectRef): MetricSpec[] {
  const t = resolve(view, ref);
  switch (t.kind) {
    case 'interceptorRoute': {
      const specs: MetricSpec[] = [];
      if (t.concurrencyTarget !== undefined) {
        specs.push({ metricName: routeConcurrencyMetricName(t.name), targetSizeFloat: t.concurrencyTarget });
      }
      if (t.rate !== undefined) {
        specs.push({ metricName: routeRateMetricName(t.name), targetSizeFloat: t.rate.target });
      }
      return specs;
    }
    case 'httpScaledObject':
      return [{ metricName: t.metricName, targetSize: t.target }];
    case 'interceptors':
      return [{ metricName: t.metricName, targetSize: parseGoInt64(t.target) }];
  }
}

/** Go's strconv.ParseInt(s, 10, 64), with its error text (KEDA shows it to the user as is). */
export function parseGoInt64(s: string): number {
  if (!/^[+-]?\d+$/.test(s)) {
    throw new ScalerError(status.UNKNOWN, `strconv.ParseInt: parsing ${boundedJson(s)}: invalid syntax`);
  }
  const n = BigInt(s);
  if (n > 9223372036854775807n || n < -9223372036854775808n) {
    throw new ScalerError(status.UNKNOWN, `strconv.ParseInt: parsing ${boundedJson(s)}: value out of range`);
  }
  return Number(n);
}

/** GetMetrics. `metricName` filters the route metrics ("" means all); the other kinds ignore it. */
export function metricValues(view: ScalerView, ref: ScaledObjectRef, metricName: string): MetricValue[] {
  return valuesOf(view, resolve(view, ref), metricName);
}

function valuesOf(view: ScalerView, t: Trigger, metricName: string): MetricValue[] {
  const fresh = view.freshness();
  if (fresh !== true) throw new ScalerError(status.UNAVAILABLE, fresh);
  switch (t.kind) {
    case 'interceptorRoute': {
      const values: MetricValue[] = [];
      // Upstream updates the window first, whether or not the rate metric was asked for.
      const rate = t.rate ? view.rate(t.key, t.rate.windowMs, t.rate.granularityMs) : 0;
      if (t.concurrencyTarget !== undefined) {
        const name = routeConcurrencyMetricName(t.name);
        if (metricName === '' || metricName === name) {
          values.push({ metricName: name, metricValueFloat: view.concurrency(t.key) });
        }
      }
      if (t.rate !== undefined) {
        const name = routeRateMetricName(t.name);
        if (metricName === '' || metricName === name)
          values.push({ metricName: name, metricValueFloat: rate });
      }
      return values;
    }
    case 'httpScaledObject': {
      const value = t.rate
        ? Math.ceil(view.rate(t.key, t.rate.windowMs, t.rate.granularityMs))
        : view.concurrency(t.key);
      return [{ metricName: t.metricName, metricValue: value }];
    }
    case 'interceptors':
      return [{ metricName: t.metricName, metricValue: view.totalConcurrency() }];
  }
}

/** IsActive: any metric value above 0. A route with no metrics is an error, as upstream. */
export function isActive(view: ScalerView, ref: ScaledObjectRef): boolean {
  return activeOf(view, resolve(view, ref));
}

function activeOf(view: ScalerView, t: Trigger): boolean {
  const values = valuesOf(view, t, '');
  if (values.length === 0) throw new ScalerError(status.UNKNOWN, 'no metric values in response');
  return values.some((v) => (v.metricValueFloat ?? 0) > 0 || (v.metricValue ?? 0) > 0);
}

/**
 * IsActive with the trigger's objects looked up once: StreamIsActive re-checks every stream on
 * every tick, and at 10,000 streams the lookups were most of that work. Prepare again when the
 * objects change (a route edited or deleted).
 */
export function prepareIsActive(view: ScalerView, ref: ScaledObjectRef): () => boolean {
  const t = resolve(view, ref);
  return () => activeOf(view, t);
}
