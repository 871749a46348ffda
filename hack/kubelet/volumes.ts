// A pod's volumes as directories under its state directory, bind-mounted at each container's
// mountPath inside the sandbox: secret and configMap volumes (files kept current every 2 s, as
// the kubelet's periodic sync does, so rotated certificates reach the process) and emptyDir.
// Like the kubelet, a missing non-optional Secret or ConfigMap keeps the pod from starting.
import { chmodSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { KubeClient } from '../../addon/runtime/index.ts';
import { cacheDir } from '../cluster/control-plane.ts';
import { configMapKind, secretKind, type Container, type Pod } from './types.ts';

export interface Volume {
  name: string;
  secret?: { secretName: string; optional?: boolean; items?: { key: string; path: string }[] };
  configMap?: { name: string; optional?: boolean; items?: { key: string; path: string }[] };
  emptyDir?: Record<string, unknown>;
  projected?: { sources?: { serviceAccountToken?: unknown }[] };
}

/** The projected token volume (kube-api-access-*) the ServiceAccount admission plugin adds. */
const isServiceAccountVolume = (v: Volume): boolean =>
  v.projected?.sources?.some((s) => s.serviceAccountToken !== undefined) ?? false;

export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}

export interface Mount {
  source: string;
  target: string;
}

const syncIntervalMs = 2000;

const repoRoot = resolve(import.meta.dirname, '../..');

/**
 * What every pod's processes need from this machine, wherever it lives: the cache (the Go-built
 * binaries images map to, the bind shim in LD_PRELOAD), the repository (the working directory,
 * this project's images) and the Node that runs them.
 */
export function pathsPodsNeed(): string[] {
  return [cacheDir(), repoRoot, dirname(process.execPath)].map((p) => resolve(p));
}

const isUnder = (path: string, dir: string): boolean =>
  path !== dir && !relative(dir, path).startsWith('..') && !relative(dir, path).startsWith('/');

type DataObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
};

export class PodVolumes {
  readonly #client: KubeClient;
  readonly #pod: Pod;
  readonly #dir: string;
  readonly #written = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(client: KubeClient, pod: Pod, podDir: string) {
    this.#client = client;
    this.#pod = pod;
    this.#dir = join(podDir, 'volumes');
  }

  get #volumes(): Volume[] {
    return (this.#pod.spec as { volumes?: Volume[] }).volumes ?? [];
  }

  /** Creates every volume's directory and files; throws (with what is missing) if one cannot be made. */
  async prepare(): Promise<void> {
    for (const v of this.#volumes) await this.#sync(v);
  }

  /** Keeps secret and configMap volumes current until stop(). */
  startSync(): void {
    const tick = async (): Promise<void> => {
      for (const v of this.#volumes) await this.#sync(v).catch(() => undefined);
      // stop() may have come while this tick was reading from the API server: then do not re-arm
      // (a re-armed timer kept a finished test's process alive, polling a stopped API server).
      if (!this.#stopped) this.#timer = setTimeout(() => void tick(), syncIntervalMs);
    };
    this.#timer = setTimeout(() => void tick(), syncIntervalMs);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /**
   * Where a container's volumeMounts come from, for the sandbox to bind-mount (recursively). An
   * emptyDir mounted over a directory that holds a path the pod needs (`needed`; an emptyDir at
   * /tmp with the cache under /tmp) would hide it: that path is first bind-mounted into the
   * emptyDir's own directory at the same relative place, so the emptyDir's mount carries it along
   * and the path stays where the pod's processes look for it.
   */
  mountsFor(container: Container, needed: string[] = pathsPodsNeed()): Mount[] {
    const mounts = (container as { volumeMounts?: VolumeMount[] }).volumeMounts ?? [];
    const carried: Mount[] = [];
    const own = mounts
      .filter((m) => !m.mountPath.startsWith('/var/run/secrets/kubernetes.io/serviceaccount'))
      .map((m) => {
        const volume = this.#volumes.find((v) => v.name === m.name);
        if (!volume) throw new Error(`volumeMount ${m.name} names no volume of the pod`);
        const source = join(this.#dir, m.name, m.subPath ?? '');
        if (volume.emptyDir) {
          const target = resolve(m.mountPath);
          // The outermost needed paths only: one inside another comes along with it.
          const hidden = [...new Set(needed.filter((p) => isUnder(p, target)))];
          for (const p of hidden.filter((p) => !hidden.some((o) => isUnder(p, o)))) {
            carried.push({ source: p, target: join(source, relative(target, p)) });
          }
        }
        return { source, target: m.mountPath };
      });
    return [...carried, ...own];
  }

  async #sync(v: Volume): Promise<void> {
    if (isServiceAccountVolume(v)) return; // the pod worker writes the token (service-account.ts)
    const dir = join(this.#dir, v.name);
    mkdirSync(dir, { recursive: true });
    if (v.emptyDir) {
      // World-writable, as the kubelet makes an emptyDir: a pod running as a non-root user (the
      // add-on's images run as 65532) must be able to write its scratch space.
      chmodSync(dir, 0o777);
      return;
    }
    const ns = this.#pod.metadata.namespace ?? 'default';
    let files: Record<string, string> | undefined;
    if (v.secret) {
      const s = await this.#client.get<DataObject>(secretKind, ns, v.secret.secretName);
      if (!s && !v.secret.optional) throw new Error(`secret "${v.secret.secretName}" not found`);
      files = this.#files(s?.data ?? {}, v.secret.items, (x) => Buffer.from(x, 'base64').toString('binary'));
    } else if (v.configMap) {
      const cm = await this.#client.get<DataObject>(configMapKind, ns, v.configMap.name);
      if (!cm && !v.configMap.optional) throw new Error(`configmap "${v.configMap.name}" not found`);
      files = this.#files(cm?.data ?? {}, v.configMap.items, (x) => x);
    } else {
      throw new Error(
        `volume ${v.name}: the process kubelet supports secret, configMap and emptyDir volumes only`,
      );
    }
    const fingerprint = JSON.stringify(files);
    if (this.#written.get(v.name) === fingerprint) return;
    for (const [path, content] of Object.entries(files)) {
      const target = join(dir, path);
      mkdirSync(dirname(target), { recursive: true });
      // Write then rename inside the mounted directory: a reader never sees half a certificate.
      writeFileSync(`${target}.tmp`, content, { encoding: 'binary', mode: 0o644 });
      renameSync(`${target}.tmp`, target);
    }
    const keep = new Set(Object.keys(files).map((p) => p.split('/')[0]));
    for (const name of readdirSync(dir))
      if (!keep.has(name)) rmSync(join(dir, name), { recursive: true, force: true });
    this.#written.set(v.name, fingerprint);
  }

  #files(
    data: Record<string, string>,
    items: { key: string; path: string }[] | undefined,
    decode: (v: string) => string,
  ): Record<string, string> {
    const out: Record<string, string> = {};
    if (items) {
      for (const i of items) if (data[i.key] !== undefined) out[i.path] = decode(data[i.key] as string);
    } else {
      for (const [k, v] of Object.entries(data)) out[k] = decode(v);
    }
    return out;
  }
}
