// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it, so only one replica of a
// controller acts at a time:
// - a candidate takes the Lease when it is free or its holder has not renewed it for
//   leaseDuration, judged by *our* clock from when we last saw the record change (no clock skew);
// - the leader renews every retryPeriod; if it cannot renew within renewDeadline it stops leading;
// - every write carries the resourceVersion it read, so two candidates can never both win;
// - on a clean stop the leader releases the Lease (releaseOnCancel) so a successor starts at once.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { kinds } from '../api/kinds.ts';
import type { KubeObject, ObjectMeta } from '../api/meta.ts';
import { isAlreadyExists, isConflict, type KubeClient } from './client.ts';
import type { Logger } from '../shared/log.ts';
import { errorFields } from '../shared/log.ts';
import { sleep } from './sleep.ts';

export const leaseKind = kinds.lease;

export type Lease = KubeObject & {
  metadata: ObjectMeta;
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
};

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  /** The Lease name (upstream's operator uses http-add-on.keda.sh). */
  name: string;
  /** Unique per process; defaults to hostname plus a random suffix, as controller-runtime does. */
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  releaseOnCancel?: boolean;
  log: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
const microTime = (d = new Date()): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  readonly identity: string;
  readonly #o: Required<Omit<LeaderElectionOptions, 'identity'>>;
  #leading = false;
  #observed: { record: string; at: number } | undefined;
  #lease: Lease | undefined;
  readonly #abort = new AbortController();
  #running: Promise<void> | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.identity = opts.identity ?? `${hostname()}_${randomUUID()}`;
    this.#o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnCancel: true,
      ...opts,
    };
    if (this.#o.renewDeadlineMs >= this.#o.leaseDurationMs)
      throw new Error('leader election: the renew deadline must be shorter than the lease duration');
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** Starts campaigning in the background. */
  start(): void {
    this.#running ??= this.#run();
  }

  /** Stops campaigning; a leader releases the Lease first (when releaseOnCancel). */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    // Campaign until we hold the Lease.
    while (!signal.aborted && !(await this.#tryAcquireOrRenew())) await sleep(this.#o.retryPeriodMs, signal);
    if (signal.aborted) return;
    this.#leading = true;
    this.#o.log.info('became leader', {
      lease: `${this.#o.namespace}/${this.#o.name}`,
      identity: this.identity,
    });
    this.#o.onStartedLeading();
    // Renew until we fail for longer than renewDeadline, or are stopped.
    let lastRenew = Date.now();
    while (!signal.aborted) {
      await sleep(this.#o.retryPeriodMs, signal);
      if (signal.aborted) break;
      if (await this.#tryAcquireOrRenew()) lastRenew = Date.now();
      else if (Date.now() - lastRenew > this.#o.renewDeadlineMs) break;
    }
    if (signal.aborted && this.#o.releaseOnCancel) await this.#release();
    this.#leading = false;
    if (!signal.aborted) this.#o.log.error('leader election lost', { identity: this.identity });
    this.#o.onStoppedLeading();
  }

  /** One attempt; true when we hold the Lease afterwards. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    try {
      const current = await this.#o.client.get<Lease>(leaseKind, this.#o.namespace, this.#o.name);
      if (!current) {
        this.#lease = await this.#o.client.create<Lease>(leaseKind, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.#o.name, namespace: this.#o.namespace },
          spec,
        });
        this.#observe(this.#lease);
        return true;
      }
      this.#observe(current);
      const held = current.spec ?? {};
      const holder = held.holderIdentity ?? '';
      const ours = holder === this.identity;
      const durationMs = (held.leaseDurationSeconds ?? 0) * 1000;
      const expired = this.#observed !== undefined && this.#observed.at + durationMs < Date.now();
      if (holder !== '' && !ours && !expired) return false;
      const next: Lease = {
        ...current,
        spec: {
          ...spec,
          acquireTime: ours && held.acquireTime ? held.acquireTime : spec.acquireTime,
          leaseTransitions: (held.leaseTransitions ?? 0) + (ours ? 0 : 1),
        },
      };
      this.#lease = await this.#o.client.update<Lease>(leaseKind, next);
      this.#observe(this.#lease);
      return true;
    } catch (err) {
      // Someone else wrote first (409) or the API is unreachable: not ours this round.
      if (!isConflict(err) && !isAlreadyExists(err))
        this.#o.log.warn('leader election: cannot reach the Lease', errorFields(err));
      return false;
    }
  }

  #observe(lease: Lease): void {
    const record = JSON.stringify(lease.spec ?? {});
    if (this.#observed?.record !== record) this.#observed = { record, at: Date.now() };
  }

  async #release(): Promise<void> {
    if (!this.#lease || this.#lease.spec?.holderIdentity !== this.identity) return;
    try {
      await this.#o.client.update<Lease>(leaseKind, {
        ...this.#lease,
        spec: {
          ...this.#lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(),
        },
      });
      this.#o.log.info('released the leader lease', { lease: `${this.#o.namespace}/${this.#o.name}` });
    } catch (err) {
      this.#o.log.warn('could not release the leader lease', errorFields(err));
    }
  }
}
