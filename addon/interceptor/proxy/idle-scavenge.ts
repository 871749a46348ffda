// Moves the state of held requests out of V8's young generation while the interceptor is idle.
//
// Requests held for a cold start arrive in a burst, and their sockets, parsers, request and
// response objects stay alive until the Service turns ready. On a quiet interceptor nothing
// allocates after the burst, so no scavenge runs, and that state is still young when the release
// starts. The release's first scavenges then copy and promote all of it (20-25 MB for 10,000 held
// requests, 45-65 ms a pause) in the middle of answering them. Node runs no idle-time GC tasks, so
// this does it: while requests are held and the event loop was nearly idle over the last interval,
// a young generation holding more than a few MiB gets a minor GC. Two of them promote what is
// alive; after that new space is nearly empty and nothing more happens until it fills again.
// On a busy interceptor nothing is forced: its own traffic scavenges soon enough, and a forced
// pause would land on that traffic. See docs/decisions/interceptor-idle-scavenge.md. The minor GC
// itself comes from the runtime-internals layer (internals/minor-gc.ts).
import v8 from 'node:v8';
import type { MinorGc } from '../internals/minor-gc.ts';

function newSpaceUsedBytes(): number {
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_used_size;
  return 0;
}

export interface IdleScavengeOptions {
  /** How many requests are held now (HoldLimits.held). */
  held: () => number;
  gc: MinorGc;
  /** Checked every interval (ms). */
  intervalMs?: number;
  /** Event-loop utilization (0..1) over the last interval above which the process counts as busy. */
  maxUtilization?: number;
  /** Young-generation bytes in use below which a scavenge is not worth its pause. */
  minNewSpaceBytes?: number;
  /** Told of each scavenge: its pause and the young generation's bytes in use before it. */
  onScavenge?: (ms: number, newSpaceBytes: number) => void;
  /** Tests: the young generation's bytes in use, and the utilization since the last check. */
  newSpaceUsed?: () => number;
  utilization?: () => number;
}

export class IdleScavenge {
  readonly #held: () => number;
  readonly #gc: MinorGc;
  readonly #intervalMs: number;
  readonly #maxUtilization: number;
  readonly #minNewSpaceBytes: number;
  readonly #newSpaceUsed: () => number;
  readonly #utilization: () => number;
  readonly #onScavenge: ((ms: number, newSpaceBytes: number) => void) | undefined;
  #lastElu = performance.eventLoopUtilization();
  #timer: NodeJS.Timeout | undefined;
  #runs = 0;

  constructor(opts: IdleScavengeOptions) {
    this.#held = opts.held;
    this.#gc = opts.gc;
    this.#intervalMs = opts.intervalMs ?? 200;
    this.#maxUtilization = opts.maxUtilization ?? 0.1;
    this.#minNewSpaceBytes = opts.minNewSpaceBytes ?? 4 * 1024 * 1024;
    this.#newSpaceUsed = opts.newSpaceUsed ?? newSpaceUsedBytes;
    this.#utilization = opts.utilization ?? this.#eventLoopUtilization;
    this.#onScavenge = opts.onScavenge;
  }

  /** Scavenges run so far. */
  get runs(): number {
    return this.#runs;
  }

  start(): void {
    this.#lastElu = performance.eventLoopUtilization();
    // Unref'd: an idle interceptor is kept alive by its servers, never by this.
    this.#timer ??= setInterval(() => this.check(), this.#intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One interval's decision; true if it scavenged. */
  check(): boolean {
    const utilization = this.#utilization();
    if (this.#held() === 0 || utilization > this.#maxUtilization) return false;
    const used = this.#newSpaceUsed();
    if (used < this.#minNewSpaceBytes) return false;
    const t0 = performance.now();
    this.#gc();
    this.#runs++;
    this.#onScavenge?.(performance.now() - t0, used);
    // The pause itself is no traffic: the next interval measures from here.
    this.#lastElu = performance.eventLoopUtilization();
    return true;
  }

  readonly #eventLoopUtilization = (): number => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, this.#lastElu).utilization;
    this.#lastElu = now;
    return u;
  };
}
