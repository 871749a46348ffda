// Clean shutdown on SIGTERM/SIGINT: run the registered steps once, in order, then exit.
// A second signal while stopping exits at once, so Ctrl-C twice always works.
import type { Logger } from './log.ts';
import { errorFields } from './log.ts';

export type ShutdownStep = { name: string; run: () => Promise<void> | void };

export class Lifecycle {
  readonly #steps: ShutdownStep[] = [];
  readonly #log: Logger;
  #stopping: Promise<void> | undefined;
  readonly #signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  readonly #onSignal = (signal: NodeJS.Signals): void => {
    if (this.#stopping) {
      this.#log.warn('second signal while stopping; exiting now', { signal });
      process.exit(1);
    }
    this.#log.info('signal received; shutting down', { signal });
    void this.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Steps run in the order they were added. */
  onStop(name: string, run: ShutdownStep['run']): void {
    this.#steps.push({ name, run });
  }

  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  handleSignals(): void {
    for (const s of this.#signals) process.on(s, this.#onSignal);
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const s of this.#signals) process.off(s, this.#onSignal);
      for (const step of this.#steps) {
        const t0 = performance.now();
        try {
          await step.run();
          this.#log.debug('shutdown step done', { step: step.name, ms: Math.round(performance.now() - t0) });
        } catch (err) {
          this.#log.error('shutdown step failed', { step: step.name, ...errorFields(err) });
        }
      }
      this.#log.info('stopped');
    })();
    return this.#stopping;
  }
}
