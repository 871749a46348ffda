// GET /queue/watch (beyond upstream, push activation): a server-sent-events stream that announces a
// route going from 0 to >= 1 in-flight requests at the end of the event-loop turn the request
// arrives in, so the scaler can wake KEDA without waiting for its next /queue poll. Contract in
// addon/interceptor/README.md.
//
// Only waking up is urgent. A route's return to 0 is announced once it has stayed at 0 for
// `idleDelayMs`: a route with a few requests a second goes 0 -> 1 -> 0 on nearly every request,
// and with thousands of such routes, two events per request to every watching scaler would cost
// more than the requests (scalers learn the exact numbers from their next /queue poll anyway).
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  encodeSnapshotEvent,
  encodeWatchEvent,
  heartbeatComment,
} from '../../shared/queue-codec/watch-stream.ts';
import type { Count, Counter, RequestQueue, Transition } from './queue.ts';

/** How long a route stays at 0 before `idle` is sent (checked every quarter of it). */
export const idleDelayMs = 1_000;
const idleChecksPerDelay = 4;
/**
 * The stream writes to its clients at most once per this many ms. The first event after a quiet
 * spell leaves at the end of its event-loop turn; events that follow within the interval share one
 * write. Each write wakes every watching scaler, which costs the interceptor's core tens of µs here.
 */
export const minWriteIntervalMs = 10;

export class QueueWatch {
  readonly #queue: RequestQueue;
  readonly #clients = new Set<ServerResponse>();
  readonly #heartbeatMs: number;
  readonly #idleCheckMs: number;
  #heartbeat: NodeJS.Timeout | undefined;
  #idleCheck: NodeJS.Timeout | undefined;
  /** Announced-active routes that went to 0, to check at the next idle checks (each at most once). */
  #idleCandidates: Counter[] = [];
  #checks = 0;
  /** Events not yet written (see minWriteIntervalMs), and when the last write was. */
  #unsent = '';
  #lastWrite = -Infinity;
  #flushTimer: NodeJS.Timeout | undefined;
  readonly #unsubscribe: () => void;

  constructor(queue: RequestQueue, heartbeatMs: number, idleMs = idleDelayMs) {
    this.#queue = queue;
    this.#heartbeatMs = heartbeatMs;
    this.#idleCheckMs = idleMs / idleChecksPerDelay;
    this.#unsubscribe = queue.onTransition((kind, _key, count) => this.#onTransition(kind, count));
  }

  get clients(): number {
    return this.#clients.size;
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    req.socket.setNoDelay(true);
    if (this.#clients.size === 0) {
      // Nobody was listening, so nothing was tracked: start from what the snapshot says.
      for (const [, counter] of this.#queue.entries())
        if (counter.Concurrency > 0) counter.watchAnnouncedActive = true;
    }
    // Earlier events go to the earlier clients only; the snapshot already holds their effect.
    this.#flush();
    res.write(encodeSnapshotEvent(this.#queue.toJSON()));
    this.#clients.add(res);
    res.once('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stopTimers();
    });
    this.#heartbeat ??= setInterval(() => {
      for (const c of this.#clients) c.write(heartbeatComment);
    }, this.#heartbeatMs).unref();
  };

  #onTransition(kind: Transition, count: Counter): void {
    if (this.#clients.size === 0) return;
    if (kind === 'active') {
      // Back above 0 before its idle was announced: to the clients it never stopped being active.
      count.watchIdleSince = -1;
      if (!count.watchAnnouncedActive) {
        count.watchAnnouncedActive = true;
        this.#broadcast('active', count, count);
      }
      return;
    }
    if (!count.watchAnnouncedActive) return;
    count.watchIdleSince = this.#checks;
    if (!count.watchIdleCandidate) {
      count.watchIdleCandidate = true;
      this.#idleCandidates.push(count);
    }
    this.#idleCheck ??= setInterval(this.#checkIdle, this.#idleCheckMs).unref();
  }

  readonly #checkIdle = (): void => {
    const now = ++this.#checks;
    const waiting: Counter[] = [];
    for (const c of this.#idleCandidates) {
      if (c.watchIdleSince === -1) {
        c.watchIdleCandidate = false; // active again
        continue;
      }
      if (now - c.watchIdleSince < idleChecksPerDelay) {
        waiting.push(c);
        continue;
      }
      c.watchIdleCandidate = false;
      c.watchIdleSince = -1;
      c.watchAnnouncedActive = false;
      // A route removed from the table meanwhile is announced idle with zeros.
      this.#broadcast('idle', c, c.live ? c : { Concurrency: 0, RequestCount: 0 });
    }
    this.#idleCandidates = waiting;
    if (waiting.length === 0) {
      clearInterval(this.#idleCheck);
      this.#idleCheck = undefined;
    }
  };

  #broadcast(kind: Transition, route: Counter, count: Readonly<Count>): void {
    if (this.#unsent === '') {
      const wait = this.#lastWrite + minWriteIntervalMs - performance.now();
      if (wait <= 0) setImmediate(this.#flush);
      else this.#flushTimer = setTimeout(this.#flush, wait);
    }
    this.#unsent += encodeWatchEvent(kind, route.wireKey, count);
  }

  /** Writes the unsent events to every client. */
  readonly #flush = (): void => {
    const events = this.#unsent;
    if (events === '') return;
    this.#unsent = '';
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#lastWrite = performance.now();
    for (const c of this.#clients) c.write(events);
  };

  #stopTimers(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    clearInterval(this.#idleCheck);
    this.#idleCheck = undefined;
    // Nobody listens: forget what was announced (counters of removed keys may be candidates too).
    for (const [, c] of this.#queue.entries()) forgetAnnounced(c);
    for (const c of this.#idleCandidates) forgetAnnounced(c);
    this.#idleCandidates = [];
    this.#unsent = '';
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }

  close(): void {
    this.#flush();
    this.#unsubscribe();
    this.#stopTimers();
    for (const c of this.#clients) c.end();
    this.#clients.clear();
  }
}

function forgetAnnounced(c: Counter): void {
  c.watchAnnouncedActive = false;
  c.watchIdleCandidate = false;
  c.watchIdleSince = -1;
}
