// The Manager wires the runtime together for one process: one API client, shared informers (one per
// kind and selector, however many controllers watch it), controllers, and leader election.
// Informers start at once on every replica, so a standby has a warm cache; controllers run only
// while this replica leads. Losing the lease is fatal by design (as in controller-runtime): the
// caller is told through onLostLeadership and exits, and Kubernetes restarts the pod as a candidate.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { KubeObject, ResourceKind } from '../api/meta.ts';
import type { Logger } from '../shared/log.ts';
import { KubeClient } from './client.ts';
import { Controller, type ControllerOptions } from './controller.ts';
import { EventRecorder } from './events.ts';
import { Informer, type InformerOptions } from './informer.ts';
import { LeaderElector } from './leader-election.ts';
import { runtimeMetrics } from './metrics.ts';

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  log: Logger;
  registry: Registry;
  /** Restrict every informer to one namespace (empty or unset = all namespaces). */
  namespace?: string;
  /** Informer defaults (resync, watchdog) applied to every informer this manager creates. */
  informerDefaults?: Omit<InformerOptions, 'namespace' | 'labelSelector' | 'fieldSelector' | 'log'>;
  /** Unset: no leader election, controllers start at once. */
  leaderElection?: {
    namespace: string;
    name: string;
    identity?: string;
    leaseDurationMs?: number;
    renewDeadlineMs?: number;
    retryPeriodMs?: number;
    /** Give the lease up on stop() so a standby takes over at once. Default true. */
    releaseOnCancel?: boolean;
  };
  /** Called when this replica was leader and lost the lease; the process should exit. */
  onLostLeadership?: () => void;
}

export class Manager {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly registry: Registry;
  readonly #opts: ManagerOptions;
  readonly #informers = new Map<string, Informer<KubeObject>>();
  readonly #controllers: Controller[] = [];
  readonly #elector: LeaderElector | undefined;
  #started = false;
  #leading = false;
  #controllersRunning = false;
  #lost = false;
  #stopping = false;

  constructor(opts: ManagerOptions) {
    this.#opts = opts;
    this.client = new KubeClient(opts.kubeConfig);
    this.log = opts.log;
    this.registry = opts.registry;
    const le = opts.leaderElection;
    if (le) {
      const leaderStatus = runtimeMetrics(opts.registry).leaderStatus.labels({ name: le.name });
      leaderStatus.set(0);
      this.#elector = new LeaderElector({
        client: this.client,
        ...le,
        log: opts.log,
        onStartedLeading: () => {
          leaderStatus.set(1);
          this.#startControllers();
        },
        onStoppedLeading: () => {
          leaderStatus.set(0);
          if (this.#stopping) return;
          this.#lost = true;
          void this.#stopControllers();
          this.#opts.onLostLeadership?.();
        },
      });
    }
  }

  /** True while this replica runs its controllers (always, without leader election, once started). */
  get isLeader(): boolean {
    return this.#leading;
  }

  get leaderIdentity(): string | undefined {
    return this.#elector?.identity;
  }

  /**
   * The shared informer for a kind (and selector). Call before start(); informers created later are
   * started immediately.
   */
  informer<T extends KubeObject>(
    kind: ResourceKind,
    opts: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
  ): Informer<T> {
    const namespace = opts.namespace ?? (this.#opts.namespace || undefined);
    const id = `${kind.group}/${kind.version}/${kind.plural}|${namespace ?? ''}|${opts.labelSelector ?? ''}|${opts.fieldSelector ?? ''}`;
    let inf = this.#informers.get(id);
    if (!inf) {
      inf = new Informer<KubeObject>(this.client, kind, {
        ...this.#opts.informerDefaults,
        namespace: kind.namespaced ? namespace : undefined,
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        log: this.log,
        metrics: runtimeMetrics(this.registry),
      });
      this.#informers.set(id, inf);
      if (this.#started) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  /** Creates a controller that runs while this replica leads. */
  controller(opts: Omit<ControllerOptions, 'registry' | 'log'> & { log?: Logger }): Controller {
    const c = new Controller({ ...opts, registry: this.registry, log: opts.log ?? this.log });
    this.#controllers.push(c);
    if (this.#controllersRunning) c.start();
    return c;
  }

  events(component: string): EventRecorder {
    return new EventRecorder(this.client, component, this.log);
  }

  /** Starts informers and campaigns for leadership (or starts controllers when there is none). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const inf of this.#informers.values()) inf.start();
    if (this.#elector) this.#elector.start();
    else this.#startControllers();
  }

  /** Resolves once every informer has loaded its first list. */
  async synced(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.synced));
  }

  /** Liveness: fails only after the lease was lost (the process should be restarted). */
  healthz(): true | string {
    return this.#lost ? 'leader election lost' : true;
  }

  /** Readiness: every informer has synced. Standby replicas are ready too. */
  readyz(): true | string {
    const pending = [...this.#informers.values()].filter((i) => !i.hasSynced).map((i) => i.kind.kind);
    return pending.length === 0 ? true : `caches not synced: ${pending.join(', ')}`;
  }

  /** Stops controllers (waiting for in-flight reconciles), releases the lease, stops informers. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#stopControllers();
    await this.#elector?.stop();
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
    await this.client.close();
  }

  #startControllers(): void {
    this.#leading = true;
    // Controllers are started after the informers' first list so reconcilers read a full cache.
    void this.synced().then(() => {
      if (!this.#leading) return;
      this.#controllersRunning = true;
      for (const c of this.#controllers) c.start();
    });
  }

  async #stopControllers(): Promise<void> {
    this.#leading = false;
    this.#controllersRunning = false;
    await Promise.all(this.#controllers.map((c) => c.stop()));
  }
}
