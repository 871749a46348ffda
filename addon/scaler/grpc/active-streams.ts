// StreamIsActive subscribers. Upstream re-sends IsActive to every stream every 200 ms; here a
// stream gets a message when its answer changes (a route's first pending request, its rate
// dropping to 0, ...) plus a heartbeat, so activation reaches KEDA as soon as we learn of it.
//
// Only activation is urgent. An interceptor event can also make the answer false (its last request
// finished), but a route under light load goes 0 -> 1 -> 0 with every request, and sending each of
// those to KEDA meant two gRPC messages per request (1,000 a second at 500 req/s) for KEDA and us to
// handle on the same machine as the traffic. KEDA acts on false only after the cooldown anyway, so
// a false that an event caused waits for the next poll tick (notifyAll, 500 ms) or heartbeat.
import type { Logger } from '../../shared/log.ts';
import { errorFields } from '../../shared/log.ts';
import { status } from '@grpc/grpc-js';
import type { ScaledObjectRef } from './messages.ts';
import type { ActivationPush, ScalerSpans } from './spans.ts';
import { ScalerError, refLogFields, triggerKey } from './trigger-metrics.ts';

export interface ActiveSink {
  send(result: boolean): void;
  /** Ends the stream with an error (the route is gone, the metadata is wrong). */
  fail(err: Error): void;
}

interface Subscription {
  ref: ScaledObjectRef;
  key: string | undefined;
  /** IsActive for this ref, prepared by `prepare` (undefined until prepared successfully). */
  check: (() => boolean) | undefined;
  sink: ActiveSink;
  last: boolean | undefined;
  lastSentAt: number;
}

export interface ActiveStreamsOptions {
  /**
   * Resolves a ref's objects once and returns its IsActive check. Both may throw ScalerError:
   * UNAVAILABLE (stale numbers) is waited out, anything else ends the stream.
   */
  prepare: (ref: ScaledObjectRef) => () => boolean;
  heartbeatMs: number;
  log: Logger;
  /** Present when traces are on: each message whose answer changed gets a span. */
  spans?: ScalerSpans | undefined;
}

export class ActiveStreams {
  readonly #opts: ActiveStreamsOptions;
  // Streams by the route key they watch; the interceptors' own trigger (undefined) watches all.
  readonly #byKey = new Map<string | undefined, Set<Subscription>>();
  readonly #heartbeat: NodeJS.Timeout;
  #count = 0;

  constructor(opts: ActiveStreamsOptions) {
    this.#opts = opts;
    // Small steps, so each beat sends to a small share of the streams.
    this.#heartbeat = setInterval(() => this.#beat(), Math.max(20, Math.min(opts.heartbeatMs / 20, 1_000)));
    this.#heartbeat.unref();
  }

  get size(): number {
    return this.#count;
  }

  /** Sends the current answer at once, then on every change. Returns the unsubscribe function. */
  subscribe(ref: ScaledObjectRef, sink: ActiveSink): () => void {
    // A random phase spreads the heartbeats of streams opened together (KEDA opens one per
    // ScaledObject at start), so they do not all fall due in the same instant.
    const phase = Math.random() * this.#opts.heartbeatMs;
    const sub: Subscription = {
      ref,
      key: triggerKey(ref),
      check: undefined,
      sink,
      last: undefined,
      lastSentAt: 0,
    };
    let set = this.#byKey.get(sub.key);
    if (set === undefined) this.#byKey.set(sub.key, (set = new Set()));
    set.add(sub);
    this.#count++;
    this.#evaluate(sub, 'change');
    sub.lastSentAt = Date.now() - phase;
    return () => this.#remove(sub);
  }

  /**
   * One route's numbers changed (a stream event): a new true goes out at once, a false at the next
   * tick. `push`: the interceptor's report behind it, for the span of the message it causes.
   */
  notifyKey(key: string, push?: ActivationPush): void {
    const subs = this.#byKey.get(key);
    if (subs !== undefined) for (const s of subs) this.#evaluate(s, 'event', push);
    const all = this.#byKey.get(undefined);
    if (all !== undefined) for (const s of all) this.#evaluate(s, 'event', push);
  }

  /** The numbers may have changed anywhere (a poll tick). */
  notifyAll(): void {
    for (const subs of this.#byKey.values()) for (const s of subs) this.#evaluate(s, 'change');
  }

  /** The objects changed (a route edited or deleted): prepare every check again. */
  refresh(): void {
    for (const subs of this.#byKey.values()) {
      for (const s of subs) {
        s.check = undefined;
        this.#evaluate(s, 'change');
      }
    }
  }

  stop(): void {
    clearInterval(this.#heartbeat);
  }

  #beat(): void {
    const due = Date.now() - this.#opts.heartbeatMs;
    for (const subs of this.#byKey.values()) {
      for (const s of subs) if (s.lastSentAt <= due) this.#evaluate(s, 'heartbeat');
    }
  }

  /**
   * `change`: send when the answer changed. `event`: the same, except that a change to false waits
   * for the next tick. `heartbeat`: send the answer even if unchanged.
   */
  #evaluate(sub: Subscription, reason: 'change' | 'event' | 'heartbeat', push?: ActivationPush): void {
    let result: boolean;
    try {
      sub.check ??= this.#opts.prepare(sub.ref);
      result = sub.check();
    } catch (err) {
      // Stale numbers: say nothing rather than something wrong; the stream stays open and
      // resumes when polling recovers. Any other error ends the stream, as upstream does.
      if (err instanceof ScalerError && err.code === status.UNAVAILABLE) return;
      this.#opts.log.info('ending StreamIsActive', { ...refLogFields(sub.ref), ...errorFields(err) });
      this.#remove(sub);
      sub.sink.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (reason !== 'heartbeat' && result === sub.last) return;
    if (reason === 'event' && !result && sub.last === true) return;
    const changed = result !== sub.last;
    sub.last = result;
    sub.lastSentAt = Date.now();
    sub.sink.send(result);
    // Heartbeats repeat the answer KEDA has: only changes are traced.
    if (changed) this.#opts.spans?.streamSend(sub.ref, result, push);
  }

  #remove(sub: Subscription): void {
    const set = this.#byKey.get(sub.key);
    if (set?.delete(sub)) {
      this.#count--;
      if (set.size === 0) this.#byKey.delete(sub.key);
    }
  }
}
