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

/** What the stream last announced for a route, kept on the route's counter (Counter.listenerState). */
interface RouteWatch {
  key: string;
  counter: Counter;
  announcedActive: boolean;
  /** The idle check count when the route went to 0; -1 while it is above 0. */
  idleSince: number;
  /** Whether it is in the idle candidates already. */
  candidate: boolean;
}

export class QueueWatch {
  readonly #queue: RequestQueue;
  readonly #clients = new Set<ServerResponse>();
  readonly #heartbeatMs: number;
  readonly #idleCheckMs: number;
  #heartbeat: NodeJS.Timeout | undefined;
  #idleCheck: NodeJS.Timeout | undefined;
  /** Announced-active routes that went to 0, to check at the next idle checks (each at most once). */
  #idleCandidates: RouteWatch[] = [];
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
    this.#unsubscribe = queue.onTransition((kind, key, count) => this.#onTransition(kind, key, count));
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
      for (const [key, counter] of this.#queue.entries())
        if (counter.Concurrency > 0)
          counter.listenerState = { key, counter, announcedActive: true, idleSince: -1, candidate: false };
    }
    // Earlier events go to the earlier clients only; the snapshot already holds their effect.
    this.#flush();
    res.write(`event: snapshot\ndata: ${this.#queue.toJSON().trimEnd()}\n\n`);
    this.#clients.add(res);
    res.once('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stopTimers();
    });
    this.#heartbeat ??= setInterval(() => {
      for (const c of this.#clients) c.write(': heartbeat\n\n');
    }, this.#heartbeatMs).unref();
  };

  #onTransition(kind: Transition, key: string, count: Counter): void {
    if (this.#clients.size === 0) return;
    let r = count.listenerState as RouteWatch | undefined;
    if (r === undefined)
      count.listenerState = r = {
        key,
        counter: count,
        announcedActive: false,
        idleSince: -1,
        candidate: false,
      };
    if (kind === 'active') {
      // Back above 0 before its idle was announced: to the clients it never stopped being active.
      r.idleSince = -1;
      if (!r.announcedActive) {
        r.announcedActive = true;
        this.#broadcast('active', key, count);
      }
      return;
    }
    if (!r.announcedActive) return;
    r.idleSince = this.#checks;
    if (!r.candidate) {
      r.candidate = true;
      this.#idleCandidates.push(r);
    }
    this.#idleCheck ??= setInterval(this.#checkIdle, this.#idleCheckMs).unref();
  }

  readonly #checkIdle = (): void => {
    const now = ++this.#checks;
    const waiting: RouteWatch[] = [];
    for (const r of this.#idleCandidates) {
      if (r.idleSince === -1) {
        r.candidate = false; // active again
        continue;
      }
      if (now - r.idleSince < idleChecksPerDelay) {
        waiting.push(r);
        continue;
      }
      r.candidate = false;
      r.idleSince = -1;
      r.announcedActive = false;
      // A route removed from the table meanwhile is announced idle with zeros.
      this.#broadcast('idle', r.key, r.counter.live ? r.counter : { Concurrency: 0, RequestCount: 0 });
    }
    this.#idleCandidates = waiting;
    if (waiting.length === 0) {
      clearInterval(this.#idleCheck);
      this.#idleCheck = undefined;
    }
  };

  #broadcast(kind: Transition, key: string, count: Readonly<Count>): void {
    if (this.#unsent === '') {
      const wait = this.#lastWrite + minWriteIntervalMs - performance.now();
      if (wait <= 0) setImmediate(this.#flush);
      else this.#flushTimer = setTimeout(this.#flush, wait);
    }
    this.#unsent += `event: ${kind}\ndata: {"key":${JSON.stringify(key)},"Concurrency":${count.Concurrency},"RequestCount":${count.RequestCount}}\n\n`;
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
    for (const [, counter] of this.#queue.entries()) counter.listenerState = undefined;
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
