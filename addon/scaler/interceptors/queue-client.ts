// GET /queue on one interceptor, bounded in time. Upstream used http.DefaultClient with no
// timeout, so one hung pod stalled every tick.
//
// What is bounded is the pod's silence, not our own work: `timeoutMs` for the response to start
// and for each gap in the body. At 10,000 routes x 50 interceptors a tick reads ~29 MiB, and a
// total-time limit fired on healthy pods whose answers were simply waiting while we parsed the
// others. A pod that trickles its answer is still cut off after `totalMs`. The timers are our
// own (SilenceWatch below): undici's headers and body timeouts have about a second of resolution.
//
// What is bounded too is the answer's size (`maxBytes`): reading stops as soon as a pod has sent
// more, so one pod sending without end costs neither memory nor the other pods' polls.
import { Agent, request } from 'undici';
import { boundedText } from '../../shared/bounded-text.ts';
import {
  decodeQueueBody,
  defaultMaxQueueBytes,
  type QueueCounts,
} from '../../shared/queue-codec/queue-body.ts';

export class QueueClient {
  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #totalMs: number;
  readonly #maxBytes: number;

  constructor(opts: { timeoutMs: number; connections?: number; maxBytes?: number }) {
    this.#timeoutMs = opts.timeoutMs;
    this.#maxBytes = opts.maxBytes ?? defaultMaxQueueBytes;
    this.#totalMs = Math.max(1_000, 4 * opts.timeoutMs);
    // Keep connections to the pods open between ticks: at 500 ms per tick a new TCP connection
    // per fetch would be most of the work.
    this.#agent = new Agent({
      connections: opts.connections ?? 2,
      keepAliveTimeout: 30_000,
      connectTimeout: opts.timeoutMs,
    });
  }

  /** Fetches and validates `http://<endpoint>/queue`; throws an error naming the pod. */
  async fetch(endpoint: string): Promise<QueueCounts> {
    const abort = new AbortController();
    const watch = new SilenceWatch(this.#timeoutMs, (why) => abort.abort(new Error(why)));
    const total = setTimeout(
      () => abort.abort(new Error(`the answer took longer than ${this.#totalMs}ms`)),
      this.#totalMs,
    );
    try {
      const res = await request(`http://${endpoint}/queue`, {
        dispatcher: this.#agent,
        signal: abort.signal,
      });
      watch.answering();
      const tooLarge = `the answer is larger than the ${this.#maxBytes}-byte bound (KEDA_HTTP_SCALER_QUEUE_MAX_BYTES)`;
      if (Number(res.headers['content-length'] ?? 0) > this.#maxBytes) {
        res.body.destroy(); // and with it the connection: its unread rest is of no use
        throw new Error(tooLarge);
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > this.#maxBytes) throw new Error(tooLarge);
        chunks.push(chunk);
        watch.progress();
      }
      watch.stop();
      const body = Buffer.concat(chunks).toString('utf8');
      if (res.statusCode !== 200) {
        throw new Error(`status ${res.statusCode}: ${boundedText(body.trim(), 200)}`);
      }
      return decodeQueueBody(body, this.#maxBytes);
    } catch (err) {
      const reason: unknown = abort.signal.aborted ? abort.signal.reason : err;
      const why = reason instanceof Error ? reason.message : String(reason);
      throw new Error(`GET http://${endpoint}/queue failed: ${why}`, { cause: err });
    } finally {
      watch.stop();
      clearTimeout(total);
    }
  }

  async close(): Promise<void> {
    await this.#agent.destroy();
  }
}

/**
 * Calls `onSilent` once the pod has sent nothing for `timeoutMs`. When the timer fires, the
 * verdict waits one turn of the event loop (setImmediate): timers run before I/O, so after a long
 * stretch of our own work (parsing other pods' answers) data that has already arrived is read
 * first, and only a pod that really sent nothing is given up on.
 */
class SilenceWatch {
  readonly #timeoutMs: number;
  readonly #onSilent: (why: string) => void;
  #last = performance.now();
  #answering = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(timeoutMs: number, onSilent: (why: string) => void) {
    this.#timeoutMs = timeoutMs;
    this.#onSilent = onSilent;
    this.#timer = setTimeout(() => this.#check(), timeoutMs);
  }

  /** The response headers arrived. */
  answering(): void {
    this.#answering = true;
    this.progress();
  }

  progress(): void {
    this.#last = performance.now();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #check(): void {
    setImmediate(() => {
      if (this.#stopped) return;
      const quiet = performance.now() - this.#last;
      if (quiet >= this.#timeoutMs) {
        this.#onSilent(
          this.#answering
            ? `the answer stalled for ${this.#timeoutMs}ms`
            : `no answer within ${this.#timeoutMs}ms`,
        );
      } else {
        this.#timer = setTimeout(() => this.#check(), this.#timeoutMs - quiet);
      }
    });
  }
}
