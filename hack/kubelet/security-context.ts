// The parts of a pod's and a container's securityContext that decide who a container's process is
// and what it may change, resolved as the kubelet and the container runtime resolve them:
// container-level fields over pod-level ones over the image's USER, `runAsNonRoot` refusing a
// process that would run as uid 0, and `readOnlyRootFilesystem` / `allowPrivilegeEscalation`
// from the container. They apply to containers run from a staged image (images.ts), whose root
// file system the sandbox controls; programs of this checkout run as the kubelet does, as root.
import type { Container, Pod } from './types.ts';

interface SecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
}

export interface ProcessIdentity {
  uid: number;
  gid: number;
  readOnlyRootFilesystem: boolean;
  /** no_new_privs: set for `allowPrivilegeEscalation: false`. */
  noNewPrivileges: boolean;
}

const podContext = (pod: Pod): SecurityContext =>
  (pod.spec as { securityContext?: SecurityContext }).securityContext ?? {};
const containerContext = (c: Container): SecurityContext =>
  (c as { securityContext?: SecurityContext }).securityContext ?? {};

/**
 * Who the container's process runs as. `groupOf` looks a uid up in the image's /etc/passwd (a
 * runAsUser without a runAsGroup gets that user's primary group, as the runtime gives it).
 */
export async function processIdentity(
  pod: Pod,
  container: Container,
  image: { uid: number; gid: number },
  groupOf: (uid: number) => Promise<number>,
): Promise<ProcessIdentity | { error: string }> {
  const p = podContext(pod);
  const c = containerContext(container);
  const uid = c.runAsUser ?? p.runAsUser ?? image.uid;
  const runAsGroup = c.runAsGroup ?? p.runAsGroup;
  const gid = runAsGroup ?? (uid === image.uid ? image.gid : await groupOf(uid));
  if ((c.runAsNonRoot ?? p.runAsNonRoot) === true && uid === 0) {
    return {
      error: `container has runAsNonRoot and image will run as root (pod: "${pod.metadata.name}_${pod.metadata.namespace ?? ''}", container: ${container.name})`,
    };
  }
  return {
    uid,
    gid,
    readOnlyRootFilesystem: c.readOnlyRootFilesystem === true,
    noNewPrivileges: c.allowPrivilegeEscalation === false,
  };
}

/**
 * The owner the kubelet gives the service-account token files: the pod's user when every
 * container runs as the same runAsUser (then the files are that user's, mode 0600), else root.
 */
export function tokenFileOwner(pod: Pod): number | undefined {
  const p = podContext(pod);
  const users = new Set(pod.spec.containers.map((c) => containerContext(c).runAsUser ?? p.runAsUser));
  const [only] = users;
  return users.size === 1 && only !== undefined ? only : undefined;
}
