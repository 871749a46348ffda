// Beyond upstream: push activation. One GET /queue/watch per interceptor pod, a server-sent-events
// stream announcing a route's 0 -> >=1 ("active") and back to 0 ("idle") transitions as they
// happen, so a cold route's first request reaches KEDA in milliseconds instead of after the next
// 500 ms poll plus the 200 ms stream tick. Polling stays the source of truth; an interceptor
// without the endpoint (404, e.g. upstream's Go interceptor) is simply polled, after one info log.
//
// A pod's stream is read with a bound per event (`maxEventBytes`): a pod that sends more, or
// sends a line without end, has its stream closed and reopened with a growing delay, and costs
// no more than the bound each time. Events with counts that are not non-negative integers are
// dropped. Both are warned about at most every 30 s per pod.
import { Agent, request } from 'undici';
import type { Logger } from '../../shared/log.ts';
import { defaultMaxQueueBytes } from '../../shared/queue-codec/queue-body.ts';
import {
  WatchStreamReader,
  decodeWatchEvent,
  type WatchTransition,
} from '../../shared/queue-codec/watch-stream.ts';
import { RateLimitedLog } from '../../shared/rate-limited-log.ts';

export type QueueTransition = WatchTransition;

export interface QueueWatchOptions {
  log: Logger;
  /** A route on one pod went active or idle. */
  onTransition: (
    pod: string,
    kind: QueueTransition,
    key: string,
    concurrency: number,
    requestCount: number,
  ) => void;
  /** Connection count changed (for the metrics gauge). */
  onConnections?: (connected: number) => void;
  /** How long to wait for the response headers. */
  connectTimeoutMs: number;
  /** Silence after which a stream is considered dead (the interceptor sends a heartbeat every 5 s). */
  idleTimeoutMs: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** The most one event may take (the first event holds every route's counts). */
  maxEventBytes?: number;
}

export class QueueWatcher {
  readonly #opts: QueueWatchOptions;
  readonly #agent: Agent;
  readonly #pods = new Map<string, PodWatch>();
  /** Pods that answered 404: polled only, until they leave the EndpointSlice. */
  readonly #unsupported = new Set<string>();
  readonly #warnings: RateLimitedLog;
  #connected = 0;

  constructor(opts: QueueWatchOptions) {
    this.#opts = opts;
    this.#warnings = new RateLimitedLog(opts.log);
    this.#agent = new Agent({
      connectTimeout: opts.connectTimeoutMs,
      headersTimeout: opts.connectTimeoutMs,
      bodyTimeout: opts.idleTimeoutMs,
      keepAliveTimeout: 1_000,
    });
  }

  get connected(): number {
    return this.#connected;
  }

  /** Follows the current set of interceptor pods: watches new ones, stops watching gone ones. */
  sync(endpoints: readonly string[]): void {
    const want = new Set(endpoints);
    for (const [pod, w] of this.#pods) {
      if (!want.has(pod)) {
        w.stop();
        this.#pods.delete(pod);
        this.#warnings.forget(pod);
      }
    }
    for (const pod of this.#unsupported) if (!want.has(pod)) this.#unsupported.delete(pod);
    for (const pod of want) {
      if (this.#pods.has(pod) || this.#unsupported.has(pod)) continue;
      const w = new PodWatch(pod, this.#opts, this.#agent, this.#warnings, {
        connected: (up) => {
          this.#connected += up ? 1 : -1;
          this.#opts.onConnections?.(this.#connected);
        },
        unsupported: () => {
          this.#pods.delete(pod);
          this.#unsupported.add(pod);
        },
      });
      this.#pods.set(pod, w);
      w.start();
    }
  }

  async close(): Promise<void> {
    for (const w of this.#pods.values()) w.stop();
    this.#pods.clear();
    await this.#agent.destroy();
  }
}

class PodWatch {
  readonly #pod: string;
  readonly #opts: QueueWatchOptions;
  readonly #agent: Agent;
  readonly #warnings: RateLimitedLog;
  readonly #hooks: { connected: (up: boolean) => void; unsupported: () => void };
  readonly #abort = new AbortController();
  #retryMs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    pod: string,
    opts: QueueWatchOptions,
    agent: Agent,
    warnings: RateLimitedLog,
    hooks: { connected: (up: boolean) => void; unsupported: () => void },
  ) {
    this.#pod = pod;
    this.#opts = opts;
    this.#agent = agent;
    this.#warnings = warnings;
    this.#hooks = hooks;
    this.#retryMs = opts.reconnectMinMs ?? 100;
  }

  start(): void {
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
  }

  async #run(): Promise<void> {
    const { log } = this.#opts;
    let connected = false;
    const retryBefore = this.#retryMs;
    let misbehaved = false;
    try {
      const res = await request(`http://${this.#pod}/queue/watch`, {
        dispatcher: this.#agent,
        signal: this.#abort.signal,
        headers: { accept: 'text/event-stream' },
      });
      if (res.statusCode === 404) {
        await res.body.dump();
        log.info('interceptor has no /queue/watch; activation for it comes from polling only', {
          pod: this.#pod,
        });
        this.#hooks.unsupported();
        return;
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new Error(`GET /queue/watch answered ${res.statusCode}`);
      }
      connected = true;
      this.#hooks.connected(true);
      this.#retryMs = this.#opts.reconnectMinMs ?? 100;
      const reader = new WatchStreamReader(this.#opts.maxEventBytes ?? defaultMaxQueueBytes);
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        let events;
        try {
          events = reader.feed(chunk);
        } catch (err) {
          misbehaved = true;
          throw err;
        }
        for (const ev of events) this.#handle(ev.event, ev.data);
      }
      if (!this.#stopped) throw new Error('stream ended');
    } catch (err) {
      if (this.#stopped) return;
      if (misbehaved) {
        // Reopening at once would only read the same too-long event again: the delay keeps
        // growing as if the connection had failed, instead of starting over.
        this.#retryMs = retryBefore;
        this.#warnings.warn(this.#pod, 'closed a queue watch stream that broke its bounds; reopening later', {
          pod: this.#pod,
          error: err instanceof Error ? err.message : String(err),
          retryMs: this.#retryMs,
        });
      } else {
        log.debug('queue watch interrupted; reconnecting', {
          pod: this.#pod,
          error: err instanceof Error ? err.message : String(err),
          retryMs: this.#retryMs,
        });
      }
    } finally {
      if (connected) this.#hooks.connected(false);
    }
    if (this.#stopped) return;
    // Reconnect with capped backoff while the pod stays listed (sync() stops us when it leaves).
    this.#timer = setTimeout(() => void this.#run(), this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, this.#opts.reconnectMaxMs ?? 5_000);
  }

  #handle(event: string, data: string): void {
    if (event !== 'active' && event !== 'idle') return; // "snapshot": polling keeps the baseline
    let msg;
    try {
      msg = decodeWatchEvent(data);
    } catch (err) {
      this.#warnings.warn(this.#pod, 'ignoring a malformed queue watch event', {
        pod: this.#pod,
        event,
        error: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    this.#opts.onTransition(this.#pod, event, msg.key, msg.Concurrency, msg.RequestCount);
  }
}
