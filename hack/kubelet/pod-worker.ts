// One pod on the process kubelet's node, from admission to deletion: it gets its network namespace
// and address (pod-network.ts) and a service-account token, its containers run as processes
// (container-runner.ts), and its status is written back the way a kubelet writes it (phase, podIP,
// conditions, containerStatuses). When the pod is deleted it stops the containers within the grace
// period, then removes the pod object with grace 0, as the kubelet does.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isNotFound } from '../../addon/runtime/index.ts';
import { errorFields } from '../../addon/shared/log.ts';
import { ContainerRunner, type PodSandbox, type RunnerContext } from './container-runner.ts';
import { tokenFileOwner } from './security-context.ts';
import { tokenRefreshMs, writeServiceAccountFiles } from './service-account.ts';
import { PodVolumes } from './volumes.ts';
import { nowTime, podKind, type Pod, type PodCondition, type PodStatus } from './types.ts';

export interface PodWorkerContext extends RunnerContext {
  nodeIP: string;
  podsDir: string;
  caPem: string;
  /** The pod's address and network namespace (none for a hostNetwork pod). */
  attachNetwork(pod: Pod): Promise<PodNetworkPlace>;
  detachNetwork(place: PodNetworkPlace): Promise<void>;
}

export interface PodNetworkPlace {
  podIP: string;
  /** A /run/netns path; undefined: this machine's network (hostNetwork). */
  netns: string | undefined;
}

export class PodWorker {
  readonly uid: string;
  readonly #ctx: PodWorkerContext;
  #pod: Pod;
  #sandbox: PodSandbox | undefined;
  #runners: ContainerRunner[] = [];
  #terminating: Promise<void> | undefined;
  #pushing = false;
  #dirty = false;
  #gone = false;
  #lastPushed = '';
  #conditions = new Map<string, PodCondition>();
  #tokenTimer: NodeJS.Timeout | undefined;
  #volumes: PodVolumes | undefined;
  #network: PodNetworkPlace | undefined;
  readonly #startTime = nowTime();

  constructor(ctx: PodWorkerContext, pod: Pod) {
    this.#ctx = ctx;
    this.#pod = pod;
    this.uid = pod.metadata.uid ?? '';
    for (const c of pod.status?.conditions ?? []) this.#conditions.set(c.type, c);
  }

  get key(): string {
    return `${this.#pod.metadata.namespace}/${this.#pod.metadata.name}`;
  }

  /** Its address, which this machine reaches on every port the pod listens on. */
  get podIP(): string | undefined {
    return this.#sandbox?.podIP;
  }

  /** Its network namespace (`nsenter --net=<this>`); undefined for hostNetwork or before start. */
  get netns(): string | undefined {
    return this.#sandbox?.netns;
  }

  /** The log file of a container of this pod. */
  logPath(container?: string): string | undefined {
    const r = container ? this.#runners.find((x) => x.spec.name === container) : this.#runners[0];
    return r?.logPath;
  }

  /** The pids of the pod's running containers, by container name. */
  pids(): Record<string, number | undefined> {
    return Object.fromEntries(this.#runners.map((r) => [r.spec.name, r.pid]));
  }

  async start(): Promise<void> {
    const pod = this.#pod;
    const dir = join(this.#ctx.podsDir, `${pod.metadata.namespace}_${pod.metadata.name}_${this.uid}`);
    mkdirSync(join(dir, 'home'), { recursive: true });
    const place = await this.#ctx.attachNetwork(pod);
    this.#network = place;
    const { podIP, netns } = place;
    const serviceAccountDir =
      pod.spec.automountServiceAccountToken === false ? undefined : join(dir, 'serviceaccount');
    const volumes = new PodVolumes(this.#ctx.client, pod, dir);
    this.#volumes = volumes;
    this.#sandbox = { pod, podIP, netns, dir, serviceAccountDir, volumes };
    if (serviceAccountDir) await this.#refreshToken(serviceAccountDir);
    await this.#prepareVolumes(volumes);
    if (this.#terminating) {
      // Deleted while waiting for its token or volumes; a terminate() that ran before the network
      // was set up could not remove it (detaching twice is harmless).
      await this.#ctx.detachNetwork(place);
      return;
    }
    volumes.startSync();
    // Downward-API status fields (status.podIP) come from the pod as the containers will see it.
    pod.status = { ...pod.status, podIP, podIPs: [{ ip: podIP }], hostIP: this.#ctx.nodeIP };
    this.#runners = pod.spec.containers.map(
      (c) => new ContainerRunner(this.#ctx, this.#sandbox as PodSandbox, c, () => this.#changed()),
    );
    this.#changed();
    if ((pod.spec.initContainers ?? []).length > 0) {
      this.#ctx.log.warn('init containers are not run by the process kubelet', { pod: this.key });
    }
    await Promise.all(this.#runners.map((r) => r.start()));
  }

  /** Until every Secret and ConfigMap it mounts exists, the pod waits (as ContainerCreating). */
  async #prepareVolumes(volumes: PodVolumes): Promise<void> {
    let logged = false;
    while (!this.#terminating) {
      try {
        await volumes.prepare();
        return;
      } catch (err) {
        if (!logged)
          this.#ctx.log.info('waiting for volumes', { pod: this.key, reason: (err as Error).message });
        logged = true;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Writes the pod's token; until it can (the ServiceAccount may not exist yet), retries. */
  async #refreshToken(dir: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const owner = tokenFileOwner(this.#pod);
        await writeServiceAccountFiles(this.#ctx.client, this.#pod, dir, this.#ctx.caPem, owner);
        break;
      } catch (err) {
        if (this.#terminating || attempt >= 60) throw err;
        this.#ctx.log.info('waiting for the service account token', { pod: this.key, ...errorFields(err) });
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    // Not after terminate(): it may have come while this refresh was waiting for the API server.
    if (!this.#terminating)
      this.#tokenTimer = setTimeout(
        () => void this.#refreshToken(dir).catch(() => undefined),
        tokenRefreshMs,
      );
  }

  /** A newer version of the pod object arrived (the informer saw a change). */
  update(pod: Pod): void {
    this.#pod = { ...pod, status: this.#pod.status };
    if (pod.metadata.deletionTimestamp) {
      const grace = (pod.metadata as { deletionGracePeriodSeconds?: number }).deletionGracePeriodSeconds;
      void this.terminate(grace);
    }
  }

  /**
   * Stops every container (SIGTERM, SIGKILL after the grace period), then deletes the pod object
   * with grace 0 unless it is gone already. Safe to call more than once.
   */
  terminate(gracePeriodSeconds?: number, opts: { deleteObject?: boolean } = {}): Promise<void> {
    this.#terminating ??= (async () => {
      const grace = gracePeriodSeconds ?? this.#pod.spec.terminationGracePeriodSeconds ?? 30;
      this.#ctx.log.info('stopping pod', { pod: this.key, gracePeriodSeconds: grace });
      clearTimeout(this.#tokenTimer);
      this.#volumes?.stop();
      await Promise.all(this.#runners.map((r) => r.stop(grace)));
      this.#changed();
      await this.#flush();
      if (opts.deleteObject !== false && !this.#gone) {
        await this.#ctx.client
          .request(
            'DELETE',
            `/api/v1/namespaces/${this.#pod.metadata.namespace}/pods/${this.#pod.metadata.name}`,
            {
              body: {
                apiVersion: 'v1',
                kind: 'DeleteOptions',
                gracePeriodSeconds: 0,
                preconditions: { uid: this.uid },
              },
            },
          )
          .catch((err: unknown) => {
            if (!isNotFound(err))
              this.#ctx.log.warn('could not delete pod', { pod: this.key, ...errorFields(err) });
          });
      }
      // After the processes: a namespace outlives its removal while a process is still inside.
      if (this.#network) await this.#ctx.detachNetwork(this.#network);
      this.#ctx.log.info('pod stopped', { pod: this.key });
    })();
    return this.#terminating;
  }

  /** The pod object is gone from the API server: nothing to write any more. */
  forget(): void {
    this.#gone = true;
  }

  #changed(): void {
    this.#dirty = true;
    void this.#flush();
  }

  /** Writes the current status; changes that come in meanwhile are written right after. */
  async #flush(): Promise<void> {
    if (this.#pushing) return;
    this.#pushing = true;
    try {
      while (this.#dirty && !this.#gone) {
        this.#dirty = false;
        const status = this.#status();
        const text = JSON.stringify(status);
        if (text === this.#lastPushed) continue;
        try {
          await this.#ctx.client.patch(
            podKind,
            this.#pod.metadata.namespace,
            this.#pod.metadata.name,
            { status },
            'merge',
            {
              subresource: 'status',
            },
          );
          this.#lastPushed = text;
        } catch (err) {
          if (isNotFound(err)) {
            this.#gone = true;
            break;
          }
          this.#ctx.log.warn('could not write pod status; retrying', { pod: this.key, ...errorFields(err) });
          this.#dirty = true;
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    } finally {
      this.#pushing = false;
    }
  }

  #condition(type: string, value: boolean, reason?: string): PodCondition {
    const status = value ? 'True' : 'False';
    const prev = this.#conditions.get(type);
    const c: PodCondition =
      prev?.status === status
        ? prev
        : { type, status, lastTransitionTime: nowTime(), ...(reason ? { reason } : {}) };
    this.#conditions.set(type, c);
    return c;
  }

  #status(): PodStatus {
    const statuses = this.#runners.map((r) => r.status());
    const allReady = statuses.length > 0 && statuses.every((s) => s.ready);
    const podIP = this.#sandbox?.podIP;
    const terminated = this.#runners.every((r) => !r.active);
    let phase: PodStatus['phase'] = 'Pending';
    if (terminated && this.#runners.length > 0) {
      phase = this.#runners.every((r) => r.terminatedFor?.exitCode === 0) ? 'Succeeded' : 'Failed';
    } else if (statuses.some((s) => s.state.running || s.restartCount > 0)) {
      phase = 'Running';
    }
    const notReady = allReady ? undefined : 'ContainersNotReady';
    return {
      phase,
      ...(podIP ? { podIP, podIPs: [{ ip: podIP }] } : {}),
      hostIP: this.#ctx.nodeIP,
      hostIPs: [{ ip: this.#ctx.nodeIP }],
      startTime: this.#startTime,
      conditions: [
        this.#condition('PodReadyToStartContainers', podIP !== undefined),
        this.#condition('Initialized', true),
        this.#condition('Ready', allReady, notReady),
        this.#condition('ContainersReady', allReady, notReady),
        this.#conditions.get('PodScheduled') ?? this.#condition('PodScheduled', true),
      ],
      containerStatuses: statuses,
    };
  }
}
