// An informer: a local cache of one kind of object kept current by list + watch, with change events.
// What it adds over client-node's ListWatch, and why:
// - any watch failure restarts it with capped exponential backoff (client-node leaves the informer
//   stopped on errors other than 410);
// - a watchdog aborts a watch that has sent nothing (not even a bookmark) for too long, because
//   watch connections can die silently and client-node's timeout has been unreliable across versions;
// - a periodic resync re-announces every cached object, so controllers converge even if they
//   dropped an event or their world changed outside Kubernetes;
// - 410 Gone (a too-old resourceVersion) relists and emits the difference as add/update/delete.
import type { KubeObject, ResourceKind } from '../api/meta.ts';
import { isGone, isNotFound, resourcePath, type KubeClient } from './client.ts';
import type { Logger } from '../shared/log.ts';
import { errorFields } from '../shared/log.ts';
import type { RuntimeMetrics } from './metrics.ts';
import { sleep } from './sleep.ts';

export type InformerEventType = 'added' | 'modified' | 'deleted' | 'resync';
export interface InformerEvent<T> {
  type: InformerEventType;
  object: T;
  /** The cached object before a modification. */
  old?: T;
}
export type InformerListener<T> = (event: InformerEvent<T>) => void;

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-announce every cached object this often (0 = never). Default 10 minutes. */
  resyncPeriodMs?: number;
  /** Restart a watch that received nothing for this long. Default 6 minutes. */
  silenceTimeoutMs?: number;
  /** Server-side watch timeout, so the server closes streams regularly. Default 5 minutes. */
  watchTimeoutSeconds?: number;
  /**
   * The event loop counts as stalled when the watchdog's tick comes this much later than due
   * (a synchronous build, a long GC, a suspended process). Connections may have died meanwhile and
   * the watch window may be gone, so the informer replaces the client's pooled connections and
   * relists. Default 15 s.
   */
  stallMs?: number;
  /** Backoff after a failed list or watch: doubles from min to max. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  log?: Logger;
  /** Counts watch restarts in informer_watch_restarts_total. */
  metrics?: RuntimeMetrics;
}

export const objectKeyOf = (o: { metadata: { namespace?: string; name: string } }): string =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export class Informer<T extends KubeObject = KubeObject> {
  readonly kind: ResourceKind;
  readonly #client: KubeClient;
  readonly #opts: Required<
    Omit<InformerOptions, 'namespace' | 'labelSelector' | 'fieldSelector' | 'log' | 'metrics'>
  > &
    InformerOptions;
  readonly #cache = new Map<string, T>();
  readonly #listeners = new Set<InformerListener<T>>();
  readonly #abort = new AbortController();
  #resourceVersion = '';
  #synced = false;
  #resolveSynced!: () => void;
  #running: Promise<void> | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;
  #lastActivity = Date.now();
  #watchRestarts = 0;
  #currentWatch: AbortController | undefined;
  /** Resolves once the first list has filled the cache. */
  readonly synced: Promise<void>;

  constructor(client: KubeClient, kind: ResourceKind, opts: InformerOptions = {}) {
    this.#client = client;
    this.kind = kind;
    this.#opts = {
      resyncPeriodMs: 600_000,
      silenceTimeoutMs: 360_000,
      watchTimeoutSeconds: 300,
      stallMs: 15_000,
      minBackoffMs: 500,
      maxBackoffMs: 30_000,
      ...opts,
    };
    this.synced = new Promise((resolve) => (this.#resolveSynced = resolve));
  }

  get hasSynced(): boolean {
    return this.#synced;
  }

  /** How many times a watch was restarted after a failure or the watchdog (for tests and metrics). */
  get watchRestarts(): number {
    return this.#watchRestarts;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#cache.get(namespace ? `${namespace}/${name}` : name);
  }

  list(namespace?: string): T[] {
    const all = [...this.#cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  keys(): string[] {
    return [...this.#cache.keys()];
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  on(listener: InformerListener<T>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    if (this.#running) return;
    this.#running = this.#loop();
    if (this.#opts.resyncPeriodMs > 0) {
      this.#resyncTimer = setInterval(() => {
        for (const o of this.#cache.values()) this.#emit({ type: 'resync', object: o });
      }, this.#opts.resyncPeriodMs);
      this.#resyncTimer.unref();
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    clearInterval(this.#resyncTimer);
    await this.#running;
  }

  /** Aborts the current watch as if it had gone silent; the loop resumes from the last version. */
  restartWatch(): void {
    this.#currentWatch?.abort();
  }

  async #loop(): Promise<void> {
    let backoff = this.#opts.minBackoffMs;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        if (this.#resourceVersion === '') await this.#relist();
        backoff = this.#opts.minBackoffMs;
        const started = Date.now();
        await this.#watchOnce(signal);
        // A server that ends every watch at once must not turn this loop into a busy spin.
        if (Date.now() - started < 100) await sleep(this.#opts.minBackoffMs, signal);
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          // Our resourceVersion is too old: list again and emit what changed meanwhile.
          this.#opts.log?.debug('watch expired; relisting', { kind: this.kind.kind });
          this.#resourceVersion = '';
          continue;
        }
        this.#watchRestarts++;
        this.#opts.metrics?.watchRestarts.inc({ kind: this.kind.kind });
        this.#opts.log?.warn('list/watch failed; retrying', {
          kind: this.kind.kind,
          ...(isNotFound(err)
            ? {
                hint: `the API server does not serve ${resourcePath(this.kind)}: is the CRD for ${this.kind.kind} installed?`,
              }
            : {}),
          retryInMs: backoff,
          ...errorFields(err),
        });
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, this.#opts.maxBackoffMs);
      }
    }
  }

  async #relist(): Promise<void> {
    const { items, resourceVersion } = await this.#client.list<T>(this.kind, {
      namespace: this.#opts.namespace,
      labelSelector: this.#opts.labelSelector,
      fieldSelector: this.#opts.fieldSelector,
    });
    const seen = new Set<string>();
    for (const o of items) {
      const key = objectKeyOf(o);
      seen.add(key);
      this.#upsert(key, o);
    }
    for (const [key, o] of [...this.#cache]) {
      if (seen.has(key)) continue;
      this.#cache.delete(key);
      this.#emit({ type: 'deleted', object: o });
    }
    this.#resourceVersion = resourceVersion;
    if (!this.#synced) {
      this.#synced = true;
      this.#resolveSynced();
    }
  }

  async #watchOnce(signal: AbortSignal): Promise<void> {
    const watch = new AbortController();
    this.#currentWatch = watch;
    const onAbort = (): void => watch.abort();
    signal.addEventListener('abort', onAbort);
    this.#lastActivity = Date.now();
    let silent = false;
    let stalledSince: number | undefined;
    const tickMs = Math.max(50, Math.min(this.#opts.silenceTimeoutMs / 4, 10_000));
    let lastTick = Date.now();
    const watchdog = setInterval(() => {
      const now = Date.now();
      if (now - lastTick > tickMs + this.#opts.stallMs) {
        stalledSince = lastTick;
        watch.abort();
      } else if (now - this.#lastActivity > this.#opts.silenceTimeoutMs) {
        silent = true;
        watch.abort();
      }
      lastTick = now;
    }, tickMs);
    watchdog.unref();
    try {
      await this.#client.watch<T>(
        this.kind,
        {
          namespace: this.#opts.namespace,
          labelSelector: this.#opts.labelSelector,
          fieldSelector: this.#opts.fieldSelector,
          resourceVersion: this.#resourceVersion,
          timeoutSeconds: this.#opts.watchTimeoutSeconds,
        },
        (event) => {
          const rv = event.object.metadata.resourceVersion;
          if (rv) this.#resourceVersion = rv;
          if (event.type === 'BOOKMARK') return;
          const key = objectKeyOf(event.object);
          if (event.type === 'DELETED') {
            this.#cache.delete(key);
            this.#emit({ type: 'deleted', object: event.object });
          } else {
            this.#upsert(key, event.object);
          }
        },
        watch.signal,
        () => (this.#lastActivity = Date.now()),
      );
    } catch (err) {
      // Aborted by this informer (watchdog, stall, restartWatch) before the response came: that
      // is a restart like any other, not a failure. Anything else is the loop's to retry.
      if (!watch.signal.aborted || signal.aborted) throw err;
    } finally {
      clearInterval(watchdog);
      signal.removeEventListener('abort', onAbort);
      this.#currentWatch = undefined;
    }
    if (signal.aborted || !watch.signal.aborted) return;
    this.#watchRestarts++;
    this.#opts.metrics?.watchRestarts.inc({ kind: this.kind.kind });
    if (stalledSince !== undefined) {
      this.#client.resetConnections(stalledSince);
      this.#resourceVersion = '';
      this.#opts.log?.warn('the event loop was blocked; re-listing over new connections', {
        kind: this.kind.kind,
        blockedMs: Date.now() - stalledSince,
      });
    } else {
      this.#opts.log?.info(silent ? 'watch went silent; re-watching' : 'watch was restarted; re-watching', {
        kind: this.kind.kind,
      });
    }
  }

  #upsert(key: string, o: T): void {
    const old = this.#cache.get(key);
    this.#cache.set(key, o);
    if (!old) this.#emit({ type: 'added', object: o });
    else if (old.metadata.resourceVersion !== o.metadata.resourceVersion)
      this.#emit({ type: 'modified', object: o, old });
  }

  #emit(event: InformerEvent<T>): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (err) {
        this.#opts.log?.error('informer listener threw', { kind: this.kind.kind, ...errorFields(err) });
      }
    }
  }
}
