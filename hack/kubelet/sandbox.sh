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
  mount --bind "$KUBELET_SANDBOX_HOSTS" /etc/hosts
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
