// undici connection pools keyed by origin, as undici's Agent keeps them, with two things the Agent
// does not offer: retiring the pool of an address that left the endpoints (its idle connections
// close at once instead of lingering until their keep-alive lifetime), and a view of which origins
// have a pool. Like the Agent, a pool whose last connection closed is dropped, so addresses of pods
// long gone hold no memory.
import type { Socket } from 'node:net';
import { Pool, buildConnector, type Dispatcher } from 'undici';
import { markConnectionFailure } from './replay.ts';

export class OriginPools {
  readonly #options: Pool.Options;
  readonly #pools = new Map<string, Pool>();

  constructor(options: Omit<Pool.Options, 'connect'>, connectTimeoutMs: number) {
    const connector = buildConnector({ timeout: connectTimeoutMs } as buildConnector.BuildOptions);
    this.#options = {
      ...options,
      connect: (o, cb) =>
        connector(o, (err, socket) => {
          // Listens before undici does: a reset or broken pipe is marked with whether the connection
          // had carried a response before (proxy/replay.ts decides whether the request may go again).
          if (socket) (socket as Socket).on('error', markSocketError);
          // undici's callback types require the two-argument forms.
          if (err) cb(err, null);
          else cb(null, socket as Socket);
        }),
    };
  }

  dispatch(opts: Dispatcher.DispatchOptions & { origin: string }, handler: Dispatcher.DispatchHandler): void {
    let pool = this.#pools.get(opts.origin);
    if (pool === undefined) {
      const origin = opts.origin;
      const created = new Pool(origin, this.#options);
      const dropIfUnused = (): void => {
        const s = created.stats;
        if (s.connected > 0 || s.pending > 0 || s.running > 0) return;
        if (this.#pools.get(origin) === created) this.#pools.delete(origin);
        void created.close();
      };
      created.on('disconnect', dropIfUnused).on('connectionError', dropIfUnused);
      this.#pools.set(origin, (pool = created));
    }
    pool.dispatch(opts, handler);
  }

  /** Origins with a pool, and how many connections each has open. */
  pools(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [origin, pool] of this.#pools) out.set(origin, pool.stats.connected);
    return out;
  }

  /** The origins' addresses are gone: idle connections close now, busy ones after their response. */
  retire(origins: Iterable<string>): void {
    for (const origin of origins) {
      const pool = this.#pools.get(origin);
      if (pool === undefined) continue;
      this.#pools.delete(origin);
      void pool.close();
    }
  }

  async close(): Promise<void> {
    const closing = [...this.#pools.values()].map((p) => p.close());
    this.#pools.clear();
    await Promise.allSettled(closing);
  }
}

function markSocketError(this: Socket, err: Error): void {
  markConnectionFailure(err, { reused: this.bytesRead > 0, written: true });
}
