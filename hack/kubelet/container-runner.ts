// One container of a pod as a local process: start it (image -> program, environment, sandbox),
// run its startup, readiness and liveness probes, restart it per the pod's restartPolicy with the
// kubelet's CrashLoopBackOff, and stop it with SIGTERM then SIGKILL after the grace period.
// It reports every change through `onChange`; the pod worker turns that into the pod's status.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import type { KubeClient } from '../../addon/runtime/index.ts';
import type { Logger } from '../../addon/shared/log.ts';
import { passwdHome, resolveUser, type StagedImage } from '../image/stage.ts';
import { containerEnv, expand } from './env.ts';
import { imageCommand, type StagedImages } from './images.ts';
import { runProbe } from './probes.ts';
import type { Mount, PodVolumes } from './volumes.ts';
import { signalGroup, spawnSandboxed, type ContainerRoot } from './sandbox.ts';
import { processIdentity } from './security-context.ts';
import { nowTime, type Container, type ContainerState, type ContainerStatus, type Pod } from './types.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

/** What every container of every pod on this node shares. */
export interface RunnerContext {
  client: KubeClient;
  log: Logger;
  /** Service names -> ClusterIPs, mounted over /etc/hosts. */
  hostsFile: string;
  /** Mounted over /etc/resolv.conf in pods with their own network namespace (podResolvConf). */
  resolvConf: string;
  /** Where in-cluster clients find the API server (KUBERNETES_SERVICE_HOST/PORT, api-server-access.ts). */
  apiServerEnv: Record<string, string>;
  owner: string;
  /** CrashLoopBackOff: first delay and cap (the kubelet's are 10 s and 5 min). */
  restartBackoff: { initialMs: number; maxMs: number };
  /** Images to run from their staged root file system instead of as programs of this checkout. */
  stagedImages?: StagedImages;
}

/** The pod-level facts a container needs. */
export interface PodSandbox {
  pod: Pod;
  podIP: string;
  /** The pod's network namespace (a /run/netns path); undefined for hostNetwork pods. */
  netns: string | undefined;
  dir: string;
  /** The service-account directory, or undefined when automount is off. */
  serviceAccountDir: string | undefined;
  volumes: PodVolumes;
}

/** A backoff that resets once a container has run this long, as the kubelet's does. */
const backoffResetMs = 10 * 60_000;

export class ContainerRunner {
  readonly spec: Container;
  readonly #ctx: RunnerContext;
  readonly #sandbox: PodSandbox;
  readonly #onChange: () => void;
  #child: ChildProcess | undefined;
  #state: ContainerState = { waiting: { reason: 'ContainerCreating' } };
  #lastState: ContainerState = {};
  #restartCount = 0;
  #ready = false;
  #started = false;
  #stopProbes: (() => void)[] = [];
  #restartTimer: NodeJS.Timeout | undefined;
  #backoffMs = 0;
  #stopping = false;
  #exited: Promise<void> = Promise.resolve();

  constructor(ctx: RunnerContext, sandbox: PodSandbox, spec: Container, onChange: () => void) {
    this.#ctx = ctx;
    this.#sandbox = sandbox;
    this.spec = spec;
    this.#onChange = onChange;
  }

  get logPath(): string {
    return join(this.#sandbox.dir, `${this.spec.name}.log`);
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get terminatedFor(): { exitCode: number } | undefined {
    const t = this.#state.terminated;
    return t ? { exitCode: t.exitCode } : undefined;
  }

  /** Whether it is running or will run again (restart scheduled). */
  get active(): boolean {
    return this.#child !== undefined || this.#restartTimer !== undefined || this.#state.waiting !== undefined;
  }

  status(): ContainerStatus {
    return {
      name: this.spec.name,
      image: this.spec.image,
      imageID: `process://${this.spec.image}`,
      ...(this.#child?.pid !== undefined ? { containerID: `process://${this.#child.pid}` } : {}),
      ready: this.#ready,
      started: this.#started,
      restartCount: this.#restartCount,
      state: this.#state,
      lastState: this.#lastState,
    };
  }

  /** Starts the process; a failure to build its config becomes a waiting state and a retry. */
  async start(): Promise<void> {
    if (this.#stopping) return;
    this.#restartTimer = undefined;
    const { pod, podIP } = this.#sandbox;
    const cmd = imageCommand(this.spec, podIP, process.execPath, this.#ctx.stagedImages);
    if ('error' in cmd) {
      this.#setWaiting('ErrImagePull', cmd.error);
      return; // permanent: nothing to retry until the pod is replaced
    }
    let env: Record<string, string>;
    let mounts: Mount[];
    let inImage: { root: ContainerRoot; env: Record<string, string> } | undefined;
    try {
      env = await containerEnv(this.#ctx.client, pod, this.spec);
      mounts = this.#sandbox.volumes.mountsFor(this.spec);
      const sa = this.#sandbox.serviceAccountDir;
      if (sa) mounts.push({ source: sa, target: '/var/run/secrets/kubernetes.io/serviceaccount' });
      if (cmd.image) inImage = await this.#imageRoot(cmd.image);
    } catch (err) {
      this.#setWaiting('CreateContainerConfigError', (err as Error).message);
      this.#scheduleRestart();
      return;
    }
    if (this.#stopping) return;
    const argv = cmd.argv.map((a) => expand(a, env));
    const startedAt = nowTime();
    const child = spawnSandboxed({
      argv,
      cwd: repoRoot,
      logPath: this.logPath,
      hostname: pod.spec.hostname ?? pod.metadata.name,
      hostsFile: this.#ctx.hostsFile,
      mounts,
      owner: this.#ctx.owner,
      ...(inImage ? { root: inImage.root } : {}),
      ...(this.#sandbox.netns ? { netns: this.#sandbox.netns, resolvConf: this.#ctx.resolvConf } : {}),
      env: {
        ...(inImage?.env ?? {
          PATH: `${resolve(process.execPath, '..')}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
          HOME: join(this.#sandbox.dir, 'home'),
        }),
        HOSTNAME: pod.spec.hostname ?? pod.metadata.name,
        ...this.#ctx.apiServerEnv,
        ...env,
      },
    });
    this.#child = child;
    this.#state = { running: { startedAt } };
    this.#started = this.spec.startupProbe === undefined;
    this.#ready = false;
    this.#ctx.log.info('container started', {
      pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
      container: this.spec.name,
      pid: child.pid,
      podIP,
      argv,
    });
    this.#exited = once(child, 'exit').then(([code, signal]) =>
      this.#onExit(child, startedAt, code as number | null, signal as NodeJS.Signals | null),
    );
    child.on('error', (err) => this.#ctx.log.error('container failed to start', { error: err.message }));
    this.#startProbes();
    this.#onChange();
  }

  /**
   * The root file system, user and environment of a container of a staged image: the image's ENV
   * and its user's HOME under the pod's env, as a container runtime sets them up. Throws (a
   * CreateContainerConfigError) when the securityContext forbids running it.
   */
  async #imageRoot(image: StagedImage): Promise<{ root: ContainerRoot; env: Record<string, string> }> {
    const identity = await processIdentity(
      this.#sandbox.pod,
      this.spec,
      image.user,
      async (uid) => (await resolveUser(image.rootfs, String(uid))).gid,
    );
    if ('error' in identity) throw new Error(identity.error);
    const layerDir = join(this.#sandbox.dir, `${this.spec.name}.layer`);
    await mkdir(layerDir, { recursive: true });
    return {
      root: {
        rootfs: image.rootfs,
        layerDir,
        workingDir: image.workingDir,
        uid: identity.uid,
        gid: identity.gid,
        readOnly: identity.readOnlyRootFilesystem,
        noNewPrivileges: identity.noNewPrivileges,
      },
      env: { HOME: await passwdHome(image.rootfs, identity.uid), ...image.env },
    };
  }

  #startProbes(): void {
    const { podIP } = this.#sandbox;
    const startMain = (): void => {
      const { readinessProbe, livenessProbe } = this.spec;
      if (readinessProbe) {
        this.#stopProbes.push(
          runProbe(readinessProbe, this.spec, podIP, (healthy) => {
            this.#ready = healthy;
            this.#onChange();
          }),
        );
      } else {
        this.#ready = true;
      }
      if (livenessProbe) {
        this.#stopProbes.push(
          runProbe(livenessProbe, this.spec, podIP, (healthy, message) => {
            if (!healthy) this.#kill(`Liveness probe failed: ${message}`);
          }),
        );
      }
      this.#onChange();
    };
    const { startupProbe } = this.spec;
    if (!startupProbe) {
      startMain();
      return;
    }
    const stop = runProbe(startupProbe, this.spec, podIP, (healthy, message) => {
      stop();
      if (healthy) {
        this.#started = true;
        startMain();
      } else {
        this.#kill(`Startup probe failed: ${message}`);
      }
    });
    this.#stopProbes.push(stop);
  }

  /** A failed liveness or startup probe: stop the process; the exit handler restarts it. */
  #kill(reason: string): void {
    this.#ctx.log.info('container unhealthy; restarting', { container: this.spec.name, reason });
    void this.#terminate(this.#gracePeriodSeconds());
  }

  #gracePeriodSeconds(): number {
    return this.#sandbox.pod.spec.terminationGracePeriodSeconds ?? 30;
  }

  #onExit(child: ChildProcess, startedAt: string, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    for (const stop of this.#stopProbes) stop();
    this.#stopProbes = [];
    this.#ready = false;
    const exitCode = code ?? 128 + (signal ? signalNumber(signal) : 0);
    const terminated: ContainerState = {
      terminated: {
        exitCode,
        ...(signal ? { signal: signalNumber(signal) } : {}),
        reason: exitCode === 0 ? 'Completed' : 'Error',
        startedAt,
        finishedAt: nowTime(),
      },
    };
    this.#ctx.log.info('container exited', {
      pod: `${this.#sandbox.pod.metadata.namespace}/${this.#sandbox.pod.metadata.name}`,
      container: this.spec.name,
      exitCode,
      signal,
    });
    this.#state = terminated;
    const ranMs = Date.now() - Date.parse(startedAt);
    if (ranMs > backoffResetMs) this.#backoffMs = 0;
    const policy = this.#sandbox.pod.spec.restartPolicy ?? 'Always';
    if (!this.#stopping && (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0))) {
      this.#lastState = terminated;
      this.#restartCount++;
      this.#setWaiting('CrashLoopBackOff', `back-off restarting failed container ${this.spec.name}`);
      this.#scheduleRestart();
    }
    this.#onChange();
  }

  #setWaiting(reason: string, message: string): void {
    this.#state = { waiting: { reason, message } };
    this.#onChange();
  }

  #scheduleRestart(): void {
    const { initialMs, maxMs } = this.#ctx.restartBackoff;
    this.#backoffMs = this.#backoffMs === 0 ? initialMs : Math.min(this.#backoffMs * 2, maxMs);
    this.#restartTimer = setTimeout(() => void this.start(), this.#backoffMs);
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
  async #terminate(gracePeriodSeconds: number): Promise<void> {
    const child = this.#child;
    if (!child?.pid) return;
    const exited = this.#exited;
    signalGroup(child.pid, 'SIGTERM');
    const timer = setTimeout(() => {
      this.#ctx.log.info('grace period over; killing', { container: this.spec.name, gracePeriodSeconds });
      if (child.pid) signalGroup(child.pid, 'SIGKILL');
    }, gracePeriodSeconds * 1000);
    await exited;
    clearTimeout(timer);
  }

  /** The pod is going away: no more restarts; stop the process within the grace period. */
  async stop(gracePeriodSeconds: number): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    for (const stop of this.#stopProbes) stop();
    this.#stopProbes = [];
    await this.#terminate(gracePeriodSeconds);
    if (this.#state.waiting) {
      this.#state = { terminated: { exitCode: 0, reason: 'ContainerStatusUnknown', finishedAt: nowTime() } };
    }
    this.#ready = false;
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal];
}
