// A controller: a work queue of object keys fed by informers, and workers that call reconcile(key)
// for each key. Reconcile is level-based: it reads the current state (from caches or the API) and
// makes the world match, so it does not matter how many events led to one call.
// A thrown error retries the key with exponential backoff; { requeueAfter } schedules another pass.
import type { KubeObject } from '../api/meta.ts';
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/log.ts';
import { errorFields } from '../shared/log.ts';
import { objectKeyOf, type Informer, type InformerEvent } from './informer.ts';
import { runtimeMetrics, type RuntimeMetrics } from './metrics.ts';
import { WorkQueue } from './workqueue.ts';

/** What reconcile asks for next; nothing means "done until something changes". */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

export interface Request {
  /** The queue key: "namespace/name", or "name" for cluster-scoped objects. */
  key: string;
  namespace: string | undefined;
  name: string;
}

export function requestFromKey(key: string): Request {
  const slash = key.indexOf('/');
  return slash === -1
    ? { key, namespace: undefined, name: key }
    : { key, namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export type Reconciler = (req: Request) => Promise<ReconcileResult | void>;

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  registry: Registry;
  log: Logger;
  /** Parallel workers; one key is never reconciled by two workers at once. Default 1. */
  workers?: number;
  /** Retry backoff: first delay and cap. Defaults 5ms and 5 minutes. */
  baseRetryDelayMs?: number;
  maxRetryDelayMs?: number;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  readonly #reconcile: Reconciler;
  readonly #log: Logger;
  readonly #metrics: RuntimeMetrics;
  readonly #workers: number;
  #running: Promise<void>[] = [];
  readonly #unsubscribe: (() => void)[] = [];

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.#reconcile = opts.reconcile;
    this.#log = opts.log.child({ controller: opts.name });
    this.#metrics = runtimeMetrics(opts.registry);
    this.#workers = opts.workers ?? 1;
    const depth = this.#metrics.queueDepth.labels({ name: opts.name });
    const adds = this.#metrics.queueAdds.labels({ name: opts.name });
    const retries = this.#metrics.queueRetries.labels({ name: opts.name });
    depth.set(0);
    this.queue = new WorkQueue({
      baseDelayMs: opts.baseRetryDelayMs,
      maxDelayMs: opts.maxRetryDelayMs,
      onEvent: (e) => {
        if (e.type === 'add') adds.inc();
        else if (e.type === 'retry') retries.inc();
        else depth.set(e.depth);
      },
    });
  }

  /**
   * Reconciles objects of an informer. By default an event enqueues the object's own key; `map`
   * turns an event for a related object (a Service, an owned ScaledObject) into the keys of the
   * objects that depend on it, and `filter` drops events that cannot matter.
   */
  watch<T extends KubeObject>(
    informer: Informer<T>,
    opts: {
      map?: (obj: T) => Iterable<string>;
      filter?: (event: InformerEvent<T>) => boolean;
    } = {},
  ): this {
    const map = opts.map ?? ((o: T) => [objectKeyOf(o)]);
    this.#unsubscribe.push(
      informer.on((event) => {
        if (opts.filter && !opts.filter(event)) return;
        for (const key of map(event.object)) this.queue.add(key);
        if (event.old && opts.map) for (const key of map(event.old)) this.queue.add(key);
      }),
    );
    return this;
  }

  /** Starts the workers; they run until stop(). */
  start(): void {
    if (this.#running.length > 0) return;
    this.#log.info('starting workers', { workers: this.#workers });
    for (let i = 0; i < this.#workers; i++) this.#running.push(this.#work());
  }

  /** Stops taking keys and waits for in-flight reconciles to finish. */
  async stop(): Promise<void> {
    for (const u of this.#unsubscribe.splice(0)) u();
    this.queue.shutdown();
    await Promise.all(this.#running);
    this.#running = [];
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      await this.#process(key);
    }
  }

  async #process(key: string): Promise<void> {
    const labels = { controller: this.name };
    const endTimer = this.#metrics.reconcileTime.startTimer(labels);
    this.#metrics.activeWorkers.inc(labels);
    try {
      const result = await this.#reconcile(requestFromKey(key));
      this.queue.forget(key);
      if (result?.requeueAfterMs !== undefined && result.requeueAfterMs > 0) {
        this.queue.addAfter(key, result.requeueAfterMs);
        this.#metrics.reconcileTotal.inc({ ...labels, result: 'requeue_after' });
      } else {
        this.#metrics.reconcileTotal.inc({ ...labels, result: 'success' });
      }
    } catch (err) {
      const delay = this.queue.addRateLimited(key);
      this.#metrics.reconcileTotal.inc({ ...labels, result: 'error' });
      this.#metrics.reconcileErrors.inc(labels);
      this.#log.error('reconcile failed; will retry', {
        key,
        retryInMs: delay,
        failures: this.queue.failures(key),
        ...errorFields(err),
      });
    } finally {
      this.#metrics.activeWorkers.dec(labels);
      endTimer();
      this.queue.done(key);
    }
  }
}
