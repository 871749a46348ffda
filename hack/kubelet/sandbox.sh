#!/bin/sh
# Runs a command with the view a pod (a container) would have in a cluster, in its own mount and
# UTS namespaces (the caller starts it under `unshare --mount --uts`), so nothing outside this
# process tree changes:
#   KUBELET_SANDBOX_HOSTNAME  the pod's hostname (what gethostname() answers, as in a pod)
#   KUBELET_SANDBOX_HOSTS     a hosts file (Service names -> ClusterIPs) mounted over /etc/hosts
#   KUBELET_SANDBOX_MOUNTS    lines of "<source dir><TAB><mount path>": the pod's volumes and its
#                             service-account directory (/var/run/secrets/kubernetes.io/serviceaccount)
# A mount path that does not exist on this machine is created as an empty directory: the only
# trace left outside the sandbox. Then the script replaces itself with the command, so the pid
# the kubelet holds is the container's process.
set -eu
if [ -n "${KUBELET_SANDBOX_HOSTNAME:-}" ]; then
  hostname "$KUBELET_SANDBOX_HOSTNAME"
fi
if [ -n "${KUBELET_SANDBOX_HOSTS:-}" ]; then
  # The kubelet replaces its hosts file whole (rename), so /etc/hosts must follow the path, not the
  # file a bind mount would pin: /etc becomes an overlay whose hosts is a symlink to it, with the
  # overlay's writable layer in a tmpfs of this namespace (on the empty directory <hosts>.etc).
  # Where overlayfs is missing, a bind mount of the file: it then shows the Services of start-up.
  scratch="$KUBELET_SANDBOX_HOSTS.etc"
  if mount -t tmpfs -o size=1m,mode=0755 sandbox-etc "$scratch" 2>/dev/null &&
    mkdir "$scratch/upper" "$scratch/work" &&
    ln -s "$KUBELET_SANDBOX_HOSTS" "$scratch/upper/hosts" &&
    mount -t overlay sandbox-etc -o "lowerdir=/etc,upperdir=$scratch/upper,workdir=$scratch/work" /etc 2>/dev/null; then
    :
  else
    echo "sandbox: no overlay for /etc; /etc/hosts will not follow Service changes" >&2
    mount --bind "$KUBELET_SANDBOX_HOSTS" /etc/hosts
  fi
fi
if [ -n "${KUBELET_SANDBOX_MOUNTS:-}" ]; then
  tab=$(printf '\t')
  printf '%s\n' "$KUBELET_SANDBOX_MOUNTS" | while IFS="$tab" read -r source target; do
    [ -n "$source" ] || continue
    mkdir -p "$target"
    # Recursive: a volume's directory can carry a path bind-mounted into it before (volumes.ts).
    mount --rbind "$source" "$target"
  done
fi
unset KUBELET_SANDBOX_HOSTNAME KUBELET_SANDBOX_HOSTS KUBELET_SANDBOX_MOUNTS
exec "$@"
