// The scaler's Prometheus metrics. The scaler_pinger_* names, types and buckets are upstream's
// (its OTel instruments as the Prometheus exporter names them); the rest are ours.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { InstrumentTable } from '../shared/telemetry/registry-producer.ts';

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

/**
 * The OTLP export of these metrics (OTEL_EXPORTER_OTLP_METRICS_ENABLED): upstream's meter and
 * instruments for the pinger metrics, the same values /metrics shows; ours under names in their style.
 */
export const otlpMeterName = 'keda-external-scaler';
export const otlpInstruments: InstrumentTable = {
  scaler_pinger_fetch_duration_seconds: {
    name: 'scaler.pinger.fetch.duration',
    kind: 'histogram',
    description: 'Duration of a queue pinger fetch cycle across all interceptor pods',
    unit: 's',
  },
  scaler_pinger_fetch_errors_total: {
    name: 'scaler.pinger.fetch.errors',
    kind: 'counter',
    description: 'Total failed queue pinger fetch cycles',
    integer: true,
  },
  scaler_pinger_unreachable_pods: {
    name: 'scaler.pinger.unreachable_pods',
    kind: 'gauge',
    description: 'Number of interceptor pods that were unreachable in the last fetch cycle',
    integer: true,
  },
  scaler_pinger_endpoints: {
    name: 'scaler.pinger.endpoints',
    kind: 'gauge',
    description: 'Number of interceptor endpoints the scaler is polling',
    integer: true,
  },
  scaler_pinger_expired_pods: {
    name: 'scaler.pinger.expired_pods',
    kind: 'gauge',
    description: 'Listed pods silent for longer than KEDA_HTTP_SCALER_STALE_POD_TIMEOUT',
    integer: true,
  },
  scaler_pinger_routes: {
    name: 'scaler.pinger.routes',
    kind: 'gauge',
    description: 'Route keys reported by the interceptors in the last tick',
    integer: true,
  },
  scaler_queue_watch_events_total: {
    name: 'scaler.queue_watch.events',
    kind: 'counter',
    description: 'Change-stream events received from the interceptors, by event type',
    integer: true,
  },
  scaler_queue_watch_connected: {
    name: 'scaler.queue_watch.connected',
    kind: 'gauge',
    description: 'Interceptor pods whose change stream (/queue/watch) is connected',
    integer: true,
  },
  scaler_stream_is_active_streams: {
    name: 'scaler.stream_is_active.streams',
    kind: 'gauge',
    description: 'Open StreamIsActive streams from KEDA',
    integer: true,
  },
};
