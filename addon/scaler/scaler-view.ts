// What the gRPC handlers read: routes and HTTPScaledObjects from the object store (file or
// cluster), numbers from the pinger.
import type { HTTPScaledObject, InterceptorRoute } from '../api/index.ts';
import type { ObjectStore, StoredObject } from '../shared/store/store.ts';
import { parseGoDuration } from '../shared/config.ts';
import type { ScalerView } from './grpc/trigger-metrics.ts';
import type { RateSettings } from './queue/rate-windows.ts';
import type { Pinger } from './pinger.ts';

type Numbers = Pick<Pinger, 'concurrency' | 'rate' | 'totalConcurrency' | 'freshness'>;

export function scalerView(store: ObjectStore, numbers: Numbers): ScalerView {
  return {
    route: (namespace, name) =>
      store.get<InterceptorRoute & StoredObject>('InterceptorRoute', namespace, name),
    httpScaledObject: (namespace, name) =>
      store.get<HTTPScaledObject & StoredObject>('HTTPScaledObject', namespace, name),
    concurrency: (key) => numbers.concurrency(key),
    rate: (key, windowMs, granularityMs) => numbers.rate(key, windowMs, granularityMs),
    totalConcurrency: () => numbers.totalConcurrency(),
    freshness: () => numbers.freshness(),
  };
}

/**
 * A route's request-rate window and granularity from the store, for a "ns/name" key: the
 * InterceptorRoute's, else the HTTPScaledObject's. Undefined when neither has a requestRate
 * (or the durations do not parse; GetMetrics reports that error to KEDA).
 */
export function rateSettingsFromStore(store: ObjectStore): (key: string) => RateSettings | undefined {
  return (key) => {
    const slash = key.indexOf('/');
    const ns = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const rate =
      store.get<InterceptorRoute & StoredObject>('InterceptorRoute', ns, name)?.spec?.scalingMetric
        ?.requestRate ??
      store.get<HTTPScaledObject & StoredObject>('HTTPScaledObject', ns, name)?.spec?.scalingMetric
        ?.requestRate;
    if (rate === undefined) return undefined;
    try {
      return {
        windowMs: rate.window === undefined ? 0 : parseGoDuration(rate.window),
        granularityMs: rate.granularity === undefined ? 0 : parseGoDuration(rate.granularity),
      };
    } catch {
      return undefined;
    }
  };
}
