// Starts a process the way the process kubelet runs a container: in its pod's network namespace
// (pod-network.ts), in its own mount and UTS namespaces (sandbox.sh) with its own hostname,
// /etc/hosts and mounted directories (volumes, service-account token), in its own process group
// (so a signal reaches everything it started), with output appended to a log file. A container of
// a staged image also gets the image as its whole root file system (read-only when asked), and
// runs as the user its securityContext or the image names.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const sandboxScript = join(import.meta.dirname, 'sandbox.sh');

/** Set on every sandboxed process, so a later kubelet can find and end processes a crashed one left. */
export const ownerEnvVar = 'KEDA_HTTP_KUBELET_OWNER';

export interface SandboxOptions {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  logPath: string;
  /** What gethostname() answers inside (a pod's name). */
  hostname?: string;
  /** Mounted over /etc/hosts. */
  hostsFile?: string;
  /** Mounted over /etc/resolv.conf (else this machine's shows through). */
  resolvConf?: string;
  /** Directories bind-mounted at paths inside (volumes, the service-account token). */
  mounts?: { source: string; target: string }[];
  /** Who started it (a state directory): the key for cleaning up after a crash. */
  owner: string;
  /** Run inside an image's root file system instead of this machine's; mount targets are inside it. */
  root?: ContainerRoot;
  /** The pod's network namespace (a /run/netns path); without it, this machine's network. */
  netns?: string;
}

export interface ContainerRoot {
  /** The image's root file system (a staged tree); never written to. */
  rootfs: string;
  /** An empty directory of this container on this machine, where its own layer is mounted. */
  layerDir: string;
  workingDir: string;
  uid: number;
  gid: number;
  /** Every write to the root file system fails with EROFS (readOnlyRootFilesystem). */
  readOnly: boolean;
  /** no_new_privs (allowPrivilegeEscalation: false). */
  noNewPrivileges: boolean;
}

export function spawnSandboxed(opts: SandboxOptions): ChildProcess {
  const [program, ...args] = opts.argv;
  if (program === undefined) throw new Error('empty command line');
  const fd = openSync(opts.logPath, 'a');
  const sandbox = [
    'unshare',
    '--mount',
    '--uts',
    '--propagation',
    'private',
    'sh',
    sandboxScript,
    program,
    ...args,
  ];
  // nsenter replaces itself with unshare, which replaces itself with the script: one pid throughout.
  const argv = opts.netns ? ['nsenter', `--net=${opts.netns}`, '--', ...sandbox] : sandbox;
  try {
    return spawn(argv[0] as string, argv.slice(1), {
      cwd: opts.cwd,
      env: {
        ...opts.env,
        [ownerEnvVar]: opts.owner,
        KUBELET_SANDBOX_HOSTNAME: opts.hostname ?? '',
        KUBELET_SANDBOX_HOSTS: opts.hostsFile ?? '',
        KUBELET_SANDBOX_RESOLV_CONF: opts.resolvConf ?? '',
        KUBELET_SANDBOX_MOUNTS: (opts.root ? outerFirst(opts.mounts ?? []) : mountOrder(opts.mounts ?? []))
          .map((m) => `${m.source}\t${m.target}`)
          .join('\n'),
        ...(opts.root ? rootEnv(opts.root) : {}),
      },
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
}

function rootEnv(root: ContainerRoot): Record<string, string> {
  return {
    KUBELET_SANDBOX_ROOTFS: root.rootfs,
    KUBELET_SANDBOX_LAYER: root.layerDir,
    KUBELET_SANDBOX_WORKDIR: root.workingDir,
    KUBELET_SANDBOX_USER: `${root.uid}:${root.gid}`,
    KUBELET_SANDBOX_READONLY: String(root.readOnly),
    KUBELET_SANDBOX_NO_NEW_PRIVS: String(root.noNewPrivileges),
  };
}

/** Signals a sandboxed process and everything in its process group. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGKILLs every process a previous run with this owner left behind (it crashed or was killed). */
export function killLeftovers(owner: string): number {
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let environ: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
    } catch {
      continue;
    }
    if (environ.split('\0').includes(`${ownerEnvVar}=${owner}`)) {
      signalGroup(Number(entry), 'SIGKILL');
      killed++;
    }
  }
  return killed;
}

/** Inside an image root no mount can hide a source on this machine; only nesting matters. */
const outerFirst = <T extends { target: string }>(mounts: readonly T[]): T[] =>
  [...mounts].sort((a, b) => a.target.length - b.target.length);

/**
 * Mounts that would hide another mount's source go last: a pod that mounts an emptyDir at /tmp
 * must not cover its other volumes' sources when the state directory itself lives under /tmp
 * (as in a checkout under /tmp). Among those, shallower targets first, so nested ones stay visible.
 */
export function mountOrder<T extends { source: string; target: string }>(mounts: readonly T[]): T[] {
  const under = (path: string, dir: string): boolean =>
    path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
  const hides = (m: T): boolean => mounts.some((o) => o !== m && under(o.source, m.target));
  return [
    ...mounts.filter((m) => !hides(m)),
    ...mounts.filter(hides).sort((a, b) => a.target.length - b.target.length),
  ];
}
