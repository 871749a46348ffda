// The polling loop (upstream's queue_pinger.go): every tick, find the ready interceptor pods,
// GET /queue on each in parallel, fold the answers into per-route concurrency and request rate.
// It also owns the numbers the gRPC handlers read, and says whether they are fresh.
import type { Logger } from '../shared/log.ts';
import { RateLimitedLog } from '../shared/rate-limited-log.ts';
import type { ObjectStore } from '../shared/store/store.ts';
import { readyAdminEndpoints, type AdminEndpointsConfig } from './interceptors/admin-endpoints.ts';
import type { QueueClient } from './interceptors/queue-client.ts';
import { QueueAggregator, type PodPollResult } from './queue/aggregator.ts';
import { RateWindows, type RateSettings } from './queue/rate-windows.ts';
import type { ScalerMetrics } from './metrics.ts';

/** Upstream's pinger status: UNKNOWN before the first tick, then ACTIVE or ERROR. */
export type PingerStatus = 'UNKNOWN' | 'ACTIVE' | 'ERROR';

export interface PingerOptions {
  store: ObjectStore;
  endpoints: AdminEndpointsConfig;
  client: QueueClient;
  tickMs: number;
  /** How long a listed pod that stopped answering keeps its last concurrency. */
  stalePodMs: number;
  metrics: ScalerMetrics;
  log: Logger;
  /** Called after every tick, successful or not (health and StreamIsActive re-evaluate). */
  onTick?: () => void;
  /** Called with the current endpoints at every tick (the change-stream watcher follows them). */
  onEndpoints?: (endpoints: readonly string[]) => void;
  /** A route's own rate window, for keys GetMetrics has not asked about yet. */
  rateSettingsFor?: (key: string) => RateSettings | undefined;
  now?: () => number;
}

export class Pinger {
  readonly tickMs: number;
  readonly #opts: PingerOptions;
  readonly #aggregator: QueueAggregator;
  readonly #rates: RateWindows;
  readonly #now: () => number;
  #status: PingerStatus = 'UNKNOWN';
  #lastSuccessMs = Number.NEGATIVE_INFINITY;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  /**
   * Pods whose last fetch failed, and whether that was logged: a failure is logged when it starts
   * (at most every 30 s per pod, for a pod that keeps failing and recovering), a recovery only
   * after a logged failure.
   */
  readonly #failing = new Map<string, boolean>();
  readonly #failureLog: RateLimitedLog;

  constructor(opts: PingerOptions) {
    this.#opts = opts;
    this.tickMs = opts.tickMs;
    this.#aggregator = new QueueAggregator({ staleAfterMs: opts.stalePodMs });
    this.#rates = new RateWindows(opts.rateSettingsFor);
    this.#now = opts.now ?? Date.now;
    this.#failureLog = new RateLimitedLog(opts.log);
  }

  get status(): PingerStatus {
    return this.#status;
  }

  get lastSuccessMs(): number {
    return this.#lastSuccessMs;
  }

  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Runs the first tick now and keeps ticking; resolves after the first tick. */
  async start(): Promise<void> {
    await this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One poll of every interceptor. Failures are recorded, never thrown. */
  async tick(): Promise<void> {
    const { metrics, log } = this.#opts;
    const started = performance.now();
    const endpoints = readyAdminEndpoints(this.#opts.store, this.#opts.endpoints);
    for (const pod of this.#failing.keys()) {
      if (endpoints.includes(pod)) continue;
      this.#failing.delete(pod);
      this.#failureLog.forget(pod);
    }
    metrics.endpoints.set(endpoints.length);
    this.#opts.onEndpoints?.(endpoints);
    try {
      if (endpoints.length === 0) {
        metrics.unreachablePods.set(0);
        this.#fail(
          `there isn't any valid interceptor endpoint (no ready address in the EndpointSlices of service ${this.#opts.endpoints.namespace}/${this.#opts.endpoints.service})`,
        );
        return;
      }
      const results = await Promise.all(
        endpoints.map(async (pod): Promise<PodPollResult> => {
          const startedAtMs = this.#now();
          try {
            const counts = await this.#opts.client.fetch(pod);
            if (this.#failing.get(pod) === true) log.info('interceptor answers again', { pod });
            this.#failing.delete(pod);
            return { pod, counts, startedAtMs };
          } catch (err) {
            if (!this.#failing.has(pod)) {
              const logged = this.#failureLog.warn(pod, 'interceptor did not answer', {
                pod,
                error: err instanceof Error ? err.message : String(err),
              });
              this.#failing.set(pod, logged);
            }
            return { pod, counts: undefined, startedAtMs };
          }
        }),
      );
      const answered = results.filter((r) => r.counts !== undefined).length;
      metrics.unreachablePods.set(endpoints.length - answered);
      if (answered === 0) {
        this.#fail(`all ${endpoints.length} interceptor pods were unreachable`);
        return;
      }
      this.applyPoll(endpoints, results, this.#now());
    } finally {
      metrics.fetchDuration.observe((performance.now() - started) / 1000);
      this.#opts.onTick?.();
    }
  }

  /** Folds one round of answers in; `tick()` calls it, and tests feed it recorded answers. */
  applyPoll(listed: readonly string[], results: readonly PodPollResult[], nowMs: number): void {
    const out = this.#aggregator.applyPoll(listed, results, nowMs);
    this.#rates.recordTick(nowMs, this.#aggregator.keys(), out.deltas);
    this.#opts.metrics.silentPods.set(out.silentExpired);
    this.#opts.metrics.routes.set(this.#rates.size);
    if (this.#status !== 'ACTIVE') {
      this.#opts.log.info('interceptors answered', { answered: out.answered, listed: listed.length });
    }
    this.#status = 'ACTIVE';
    this.#lastSuccessMs = nowMs;
    this.#lastError = undefined;
  }

  /** A change-stream event from one pod: the route's numbers move before the next poll. */
  applyEvent(pod: string, key: string, concurrency: number, requestCount: number): void {
    const now = this.#now();
    const delta = this.#aggregator.applyEvent(pod, key, concurrency, requestCount, now);
    if (delta > 0) this.#rates.record(key, now, delta);
  }

  concurrency(key: string): number {
    return this.#aggregator.concurrency(key);
  }

  totalConcurrency(): number {
    return this.#aggregator.totalConcurrency();
  }

  rate(key: string, windowMs: number, granularityMs: number): number {
    return this.#rates.rate(key, this.#now(), windowMs, granularityMs);
  }

  /**
   * Fresh means some interceptor answered within two ticks, the same bound upstream's health
   * check uses. Older numbers must not drive a scaling decision.
   */
  freshness(): true | string {
    const age = this.#now() - this.#lastSuccessMs;
    if (age <= 2 * this.tickMs) return true;
    if (this.#lastSuccessMs === Number.NEGATIVE_INFINITY) {
      return `no interceptor has answered yet${this.#lastError ? ` (${this.#lastError})` : ''}`;
    }
    return `the interceptors' counts are ${Math.round(age)}ms old (more than two ticks of ${this.tickMs}ms)${
      this.#lastError ? `: ${this.#lastError}` : ''
    }`;
  }

  #fail(message: string): void {
    if (this.#status !== 'ERROR' || this.#lastError !== message) {
      this.#opts.log.error('polling the interceptors failed', { error: message });
    }
    this.#status = 'ERROR';
    this.#lastError = message;
    this.#opts.metrics.fetchErrors.inc();
  }

  async #loop(): Promise<void> {
    if (this.#stopped) return;
    const started = this.#now();
    // A bug or a malformed object must not stop polling for good: the tick counts as failed
    // (health says so) and the next one runs as usual.
    this.#running = this.tick().catch((err: unknown) => {
      this.#fail(`polling failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`);
    });
    await this.#running;
    if (this.#stopped) return;
    // Like a Go ticker with a synchronous fetch: a slow tick delays the next, never overlaps it.
    const wait = Math.max(0, this.tickMs - (this.#now() - started));
    this.#timer = setTimeout(() => void this.#loop(), wait);
  }
}
