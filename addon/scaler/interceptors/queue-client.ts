// GET /queue on one interceptor, bounded in time. Upstream used http.DefaultClient with no
// timeout, so one hung pod stalled every tick; here each fetch gives up after `timeoutMs`.
import { Agent, request } from 'undici';
import { parseQueueCounts, type QueueCounts } from '../queue/queue-counts.ts';

export class QueueClient {
  readonly #agent: Agent;
  readonly #timeoutMs: number;

  constructor(opts: { timeoutMs: number; connections?: number }) {
    this.#timeoutMs = opts.timeoutMs;
    // Keep connections to the pods open between ticks: at 500 ms per tick a new TCP connection
    // per fetch would be most of the work.
    this.#agent = new Agent({
      connections: opts.connections ?? 2,
      keepAliveTimeout: 30_000,
      connectTimeout: opts.timeoutMs,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
  }

  /** Fetches and validates `http://<endpoint>/queue`; throws an error naming the pod. */
  async fetch(endpoint: string): Promise<QueueCounts> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      const res = await request(`http://${endpoint}/queue`, { dispatcher: this.#agent, signal });
      const body = await res.body.text();
      if (res.statusCode !== 200) {
        throw new Error(`status ${res.statusCode}: ${body.slice(0, 200).trim()}`);
      }
      return parseQueueCounts(body);
    } catch (err) {
      const why = signal.aborted
        ? `no answer within ${this.#timeoutMs}ms`
        : err instanceof Error
          ? err.message
          : String(err);
      throw new Error(`GET http://${endpoint}/queue failed: ${why}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    await this.#agent.destroy();
  }
}
