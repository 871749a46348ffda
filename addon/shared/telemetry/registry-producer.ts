// The OTLP view of a service's Prometheus metrics: a MetricProducer that reads the prom-client
// registry when the periodic reader exports, and hands the SDK the same values /metrics shows, under
// OpenTelemetry instrument names (upstream's, where upstream has the instrument). Requests never
// touch this: the hot path records once, into the structures /metrics already reads
// (docs/decisions/otlp-metrics.md).
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { Registry } from 'prom-client';
import { emptyResource } from '@opentelemetry/resources';

/** How one Prometheus metric is exported over OTLP. */
export interface OtelInstrument {
  /** The OpenTelemetry instrument's name, e.g. interceptor.request.count. */
  name: string;
  /**
   * counter: monotonic cumulative sum. upDownCounter: non-monotonic cumulative sum (a Prometheus
   * gauge that upstream records as an UpDownCounter). gauge: last value. histogram: explicit buckets.
   */
  kind: 'counter' | 'upDownCounter' | 'gauge' | 'histogram';
  description: string;
  unit?: string;
  /** Int64 instruments' points are integers (OTLP asInt); others are doubles. */
  integer?: boolean;
  /** Labels whose values are integers on the wire (upstream records the status code as an int). */
  integerAttributes?: readonly string[];
}

/** Prometheus metric name -> its OTLP instrument. Metrics not listed are not exported. */
export type InstrumentTable = Readonly<Record<string, OtelInstrument>>;

interface PromValue {
  value: number;
  labels: Record<string, string | number | undefined>;
  metricName?: string;
}

/** A cumulative series' start: when it was first seen (or seen to restart from zero), and its last total. */
interface SeriesState {
  start: HrTime;
  total: number;
}

export class RegistryMetricProducer implements MetricProducer {
  readonly #registry: Registry;
  readonly #table: InstrumentTable;
  readonly #scope: { name: string };
  readonly #onError: (err: unknown) => void;
  /** Cumulative series by instrument and labels, to give each a start time (reset on a restart from zero). */
  #series = new Map<string, SeriesState>();
  /** The previous collection, or start-up: a series first seen now had no value then. */
  #lastCollection: HrTime = hrTime();

  constructor(opts: {
    registry: Registry;
    table: InstrumentTable;
    /** The instrumentation scope (upstream's meter name, e.g. keda-interceptor-proxy). */
    meterName: string;
    /** A metric that could not be read; the others are exported anyway. */
    onError: (err: unknown) => void;
  }) {
    this.#registry = opts.registry;
    this.#table = opts.table;
    this.#scope = { name: opts.meterName };
    this.#onError = opts.onError;
  }

  async collect(): Promise<CollectionResult> {
    const now = hrTime();
    const seen = new Map<string, SeriesState>();
    const metrics: MetricData[] = [];
    for (const [promName, instrument] of Object.entries(this.#table)) {
      const metric = this.#registry.getSingleMetric(promName);
      if (metric === undefined) continue;
      try {
        const { values } = await metric.get();
        metrics.push(this.#convert(instrument, values as PromValue[], now, seen));
      } catch (err) {
        this.#onError(err);
      }
    }
    this.#series = seen;
    this.#lastCollection = now;
    // The reader takes the resource from the MeterProvider; this one is not used.
    return {
      resourceMetrics: { resource: emptyResource(), scopeMetrics: [{ scope: this.#scope, metrics }] },
      errors: [],
    };
  }

  #convert(
    instrument: OtelInstrument,
    values: readonly PromValue[],
    now: HrTime,
    seen: Map<string, SeriesState>,
  ): MetricData {
    const descriptor = {
      name: instrument.name,
      description: instrument.description,
      unit: instrument.unit ?? '',
      valueType: instrument.integer ? ValueType.INT : ValueType.DOUBLE,
    };
    const attributes = (labels: PromValue['labels']): Attributes => {
      const out: Attributes = {};
      for (const [k, v] of Object.entries(labels)) {
        if (k === 'le' || v === undefined) continue;
        out[k] = instrument.integerAttributes?.includes(k) ? Number(v) : String(v);
      }
      return out;
    };
    const point = <T>(labels: PromValue['labels'], value: T, total?: number): DataPoint<T> => {
      const attrs = attributes(labels);
      const startTime = total === undefined ? now : this.#start(instrument.name, attrs, total, seen);
      return { startTime, endTime: now, attributes: attrs, value };
    };
    switch (instrument.kind) {
      case 'counter':
      case 'upDownCounter': {
        const monotonic = instrument.kind === 'counter';
        return {
          descriptor,
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.SUM,
          isMonotonic: monotonic,
          // A non-monotonic sum goes down by design: only a counter's drop means a restart.
          dataPoints: values.map((v) => point(v.labels, v.value, monotonic ? v.value : 0)),
        };
      }
      case 'gauge':
        return {
          descriptor,
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.GAUGE,
          dataPoints: values.map((v) => point(v.labels, v.value)),
        };
      case 'histogram':
        return {
          descriptor,
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.HISTOGRAM,
          dataPoints: histograms(values).map((h) => point(h.labels, h.value, h.value.count)),
        };
    }
  }

  /** The series' start time: kept while its total grows, renewed when it is new or restarted from zero. */
  #start(name: string, attrs: Attributes, total: number, seen: Map<string, SeriesState>): HrTime {
    const key = `${name}\u0002${labelKey(attrs)}`;
    const previous = this.#series.get(key);
    const state =
      previous !== undefined && total >= previous.total
        ? { start: previous.start, total }
        : { start: this.#lastCollection, total };
    seen.set(key, state);
    return state.start;
  }
}

/** One string per label set, whatever the order of its keys. */
function labelKey(labels: Readonly<Record<string, unknown>>): string {
  let key = '';
  for (const k of Object.keys(labels).sort()) key += `${k}\u0001${String(labels[k])}\u0002`;
  return key;
}

/**
 * Prometheus histogram samples (cumulative name_bucket{le} lines, name_sum, name_count) regrouped
 * into one OpenTelemetry histogram per label set, with per-bucket (not cumulative) counts.
 */
function histograms(values: readonly PromValue[]): { labels: PromValue['labels']; value: Histogram }[] {
  const byLabels = new Map<
    string,
    { labels: PromValue['labels']; bounds: Map<number, number>; sum: number; count: number }
  >();
  for (const v of values) {
    const { le, ...labels } = v.labels;
    const key = labelKey(labels);
    let h = byLabels.get(key);
    if (h === undefined) byLabels.set(key, (h = { labels, bounds: new Map(), sum: 0, count: 0 }));
    if (v.metricName?.endsWith('_bucket')) {
      if (le !== '+Inf' && le !== undefined) h.bounds.set(Number(le), v.value);
    } else if (v.metricName?.endsWith('_sum')) h.sum = v.value;
    else if (v.metricName?.endsWith('_count')) h.count = v.value;
  }
  return [...byLabels.values()].map((h) => {
    const boundaries = [...h.bounds.keys()].sort((a, b) => a - b);
    const counts: number[] = [];
    let below = 0;
    for (const b of boundaries) {
      const cumulative = h.bounds.get(b) ?? below;
      counts.push(cumulative - below);
      below = cumulative;
    }
    counts.push(h.count - below);
    return { labels: h.labels, value: { buckets: { boundaries, counts }, sum: h.sum, count: h.count } };
  });
}
