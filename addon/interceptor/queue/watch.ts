// GET /queue/watch (beyond upstream, push activation): a server-sent-events stream that announces a
// route going from 0 to >= 1 in-flight requests in the same tick the request arrives, so the scaler
// can wake KEDA without waiting for its next /queue poll. Contract in addon/interceptor/README.md.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Count, RequestQueue, Transition } from './queue.ts';

export class QueueWatch {
  readonly #queue: RequestQueue;
  readonly #clients = new Set<ServerResponse>();
  readonly #heartbeatMs: number;
  #heartbeat: NodeJS.Timeout | undefined;
  readonly #unsubscribe: () => void;

  constructor(queue: RequestQueue, heartbeatMs: number) {
    this.#queue = queue;
    this.#heartbeatMs = heartbeatMs;
    this.#unsubscribe = queue.onTransition((kind, key, count) => this.#broadcast(kind, key, count));
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
    res.write(`event: snapshot\ndata: ${this.#queue.toJSON().trimEnd()}\n\n`);
    this.#clients.add(res);
    res.once('close', () => {
      this.#clients.delete(res);
      if (this.#clients.size === 0) this.#stopHeartbeat();
    });
    this.#heartbeat ??= setInterval(() => {
      for (const c of this.#clients) c.write(': heartbeat\n\n');
    }, this.#heartbeatMs).unref();
  };

  #broadcast(kind: Transition, key: string, count: Readonly<Count>): void {
    if (this.#clients.size === 0) return;
    const msg = `event: ${kind}\ndata: {"key":${JSON.stringify(key)},"Concurrency":${count.Concurrency},"RequestCount":${count.RequestCount}}\n\n`;
    for (const c of this.#clients) c.write(msg);
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  close(): void {
    this.#unsubscribe();
    this.#stopHeartbeat();
    for (const c of this.#clients) c.end();
    this.#clients.clear();
  }
}
