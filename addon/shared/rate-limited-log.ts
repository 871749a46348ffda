// Warnings about something outside our control (a misbehaving peer) that may repeat every tick or
// every event: the first one for a subject is logged, then at most one per interval, carrying the
// number left out meanwhile, so a peer sending garbage cannot flood the log.
import type { Logger } from './log.ts';

export class RateLimitedLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  /** Per subject: when its last line was logged, and how many were left out since. */
  readonly #subjects = new Map<string, { loggedAt: number; suppressed: number }>();

  constructor(log: Logger, intervalMs = 30_000, now: () => number = () => performance.now()) {
    this.#log = log;
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** Logs a warning about `subject` unless one was logged less than the interval ago. Returns whether it was. */
  warn(subject: string, message: string, fields: Record<string, unknown> = {}): boolean {
    const now = this.#now();
    const s = this.#subjects.get(subject);
    if (s !== undefined && now - s.loggedAt < this.#intervalMs) {
      s.suppressed++;
      return false;
    }
    const suppressed = s?.suppressed ?? 0;
    this.#log.warn(message, suppressed > 0 ? { ...fields, suppressedSinceLast: suppressed } : fields);
    this.#subjects.set(subject, { loggedAt: now, suppressed: 0 });
    if (this.#subjects.size > 10_000) this.#prune(now);
    return true;
  }

  /** The subject is gone (a pod left): its next warning, if any, is logged at once. */
  forget(subject: string): void {
    this.#subjects.delete(subject);
  }

  #prune(now: number): void {
    for (const [subject, s] of this.#subjects) {
      if (now - s.loggedAt >= this.#intervalMs) this.#subjects.delete(subject);
    }
  }
}
