// The scaler's Prometheus metrics. The scaler_pinger_* names, types and buckets are upstream's
// (its OTel instruments as the Prometheus exporter names them); the rest are ours.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ScalerMetrics {
  fetchDuration: Histogram;
  fetchErrors: Counter;
  unreachablePods: Gauge;
  endpoints: Gauge;
  silentPods: Gauge;
  routes: Gauge;
  streamEvents: Counter<'event'>;
  watchedInterceptors: Gauge;
  activeStreams: Gauge;
}

export function createScalerMetrics(registry: Registry): ScalerMetrics {
  return {
    fetchDuration: new Histogram({
      name: 'scaler_pinger_fetch_duration_seconds',
      help: 'Time to fetch the queue counts from every interceptor in one tick.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5],
      registers: [registry],
    }),
    fetchErrors: new Counter({
      name: 'scaler_pinger_fetch_errors_total',
      help: 'Ticks in which no interceptor could be polled (none listed, or every one failed).',
      registers: [registry],
    }),
    unreachablePods: new Gauge({
      name: 'scaler_pinger_unreachable_pods',
      help: 'Interceptor pods listed as ready that did not answer in the last tick.',
      registers: [registry],
    }),
    endpoints: new Gauge({
      name: 'scaler_pinger_endpoints',
      help: 'Interceptor admin endpoints polled in the last tick.',
      registers: [registry],
    }),
    silentPods: new Gauge({
      name: 'scaler_pinger_expired_pods',
      help: 'Listed pods silent for longer than KEDA_HTTP_SCALER_STALE_POD_TIMEOUT: their last concurrency no longer counts.',
      registers: [registry],
    }),
    routes: new Gauge({
      name: 'scaler_pinger_routes',
      help: 'Route keys reported by the interceptors in the last tick.',
      registers: [registry],
    }),
    streamEvents: new Counter({
      name: 'scaler_queue_watch_events_total',
      help: 'Change-stream events received from the interceptors, by event type.',
      labelNames: ['event'],
      registers: [registry],
    }),
    watchedInterceptors: new Gauge({
      name: 'scaler_queue_watch_connected',
      help: 'Interceptor pods whose change stream (/queue/watch) is connected.',
      registers: [registry],
    }),
    activeStreams: new Gauge({
      name: 'scaler_stream_is_active_streams',
      help: 'Open StreamIsActive streams from KEDA.',
      registers: [registry],
    }),
  };
}
