#!/bin/sh
# Runs a command with the view a pod (a container) would have in a cluster, in its own mount and
# UTS namespaces (the caller starts it under `unshare --mount --uts`, and for a pod first under
# `nsenter --net=<the pod's network namespace>`), so nothing outside this process tree changes:
#   KUBELET_SANDBOX_HOSTNAME  the pod's hostname (what gethostname() answers, as in a pod)
#   KUBELET_SANDBOX_HOSTS     a hosts file (Service names -> ClusterIPs) mounted over /etc/hosts
#   KUBELET_SANDBOX_RESOLV_CONF  a file mounted over /etc/resolv.conf (a pod in its own network
#                             namespace cannot reach this machine's name server)
#   KUBELET_SANDBOX_MOUNTS    lines of "<source><TAB><mount path>": the pod's volumes and its
#                             service-account directory (/var/run/secrets/kubernetes.io/serviceaccount)
# Without an image root (below) the command sees this machine's file system, and a mount path that
# does not exist on this machine is created as an empty directory: the only trace left outside the
# sandbox.
#
# With an image root, the command sees only the image, as in a container:
#   KUBELET_SANDBOX_ROOTFS    the image's root file system (a staged tree), the lower layer of an
#                             overlay; read-only when KUBELET_SANDBOX_READONLY=true, else writes go
#                             to a throw-away upper layer
#   KUBELET_SANDBOX_LAYER     an empty directory; a tmpfs mounted there (in this mount namespace
#                             only) holds the mount points and the upper layer, like a container's
#                             own layer
#   KUBELET_SANDBOX_WORKDIR   the working directory inside
#   KUBELET_SANDBOX_USER      "<uid>:<gid>" the process runs as (no supplementary groups)
#   KUBELET_SANDBOX_NO_NEW_PRIVS=true  sets no_new_privs (allowPrivilegeEscalation: false)
# It gets /proc, a /dev with the usual device nodes, a read-only /sys, /etc/hosts, /etc/resolv.conf
# and the mounts above, and nothing else of this machine. The mount sources may be files; a mount
# point the image lacks is made in the container's layer (directories on the way root-owned, 0755).
# Then the script replaces itself with the command, so the pid the kubelet holds is the container's
# process.
set -eu
tab=$(printf '\t')

# Calls "$1 <source> <target>" for each line of KUBELET_SANDBOX_MOUNTS.
each_mount() {
  [ -n "${KUBELET_SANDBOX_MOUNTS:-}" ] || return 0
  printf '%s\n' "$KUBELET_SANDBOX_MOUNTS" | while IFS="$tab" read -r source target; do
    [ -n "$source" ] || continue
    "$1" "$source" "$target"
  done
}

# A mount point for <source> at <path>: a directory, or an empty file for a file.
mount_point() {
  if [ -d "$1" ]; then mkdir -p "$2"; else
    mkdir -p "$(dirname "$2")"
    [ -e "$2" ] || : >"$2"
  fi
}

root=""
if [ -n "${KUBELET_SANDBOX_ROOTFS:-}" ]; then
  layer=$KUBELET_SANDBOX_LAYER
  mount -t tmpfs -o mode=0755 container-layer "$layer"
  points="$layer/mount-points"
  root="$layer/root"
  mkdir -p "$points/proc" "$points/dev" "$points/sys" "$points/etc" "$points$KUBELET_SANDBOX_WORKDIR" "$root"
  if [ -n "${KUBELET_SANDBOX_HOSTS:-}" ]; then
    # /etc/hosts follows the kubelet's file by its path (it is replaced whole, by a rename): a
    # symlink into that file's directory, mounted read-only below.
    mkdir -p "$points/run/kubelet-hosts"
    ln -s "/run/kubelet-hosts/$(basename "$KUBELET_SANDBOX_HOSTS")" "$points/etc/hosts"
  else
    : >"$points/etc/hosts"
  fi
  : >"$points/etc/resolv.conf"
  point_in_layer() { mount_point "$1" "$points$2"; }
  each_mount point_in_layer
  if [ "${KUBELET_SANDBOX_READONLY:-}" = true ]; then
    # An overlay with no upper layer cannot be written at all: every write is EROFS.
    mount -t overlay container-root -o "lowerdir=$points:$KUBELET_SANDBOX_ROOTFS" "$root"
  else
    mkdir "$layer/upper" "$layer/work"
    mount -t overlay container-root \
      -o "lowerdir=$points:$KUBELET_SANDBOX_ROOTFS,upperdir=$layer/upper,workdir=$layer/work" "$root"
  fi
  mount -t proc proc "$root/proc"
  mount -t tmpfs -o mode=0755,nosuid container-dev "$root/dev"
  for device in null zero full random urandom tty; do
    : >"$root/dev/$device"
    mount --bind "/dev/$device" "$root/dev/$device"
  done
  ln -s /proc/self/fd "$root/dev/fd"
  ln -s /proc/self/fd/0 "$root/dev/stdin"
  ln -s /proc/self/fd/1 "$root/dev/stdout"
  ln -s /proc/self/fd/2 "$root/dev/stderr"
  mount --rbind /sys "$root/sys"
  mount -o remount,bind,ro "$root/sys"
  resolv=${KUBELET_SANDBOX_RESOLV_CONF:-/etc/resolv.conf}
  if [ -e "$resolv" ]; then mount --bind "$resolv" "$root/etc/resolv.conf"; fi
fi

if [ -n "${KUBELET_SANDBOX_HOSTNAME:-}" ]; then
  hostname "$KUBELET_SANDBOX_HOSTNAME"
fi
if [ -n "${KUBELET_SANDBOX_HOSTS:-}" ] && [ -n "$root" ]; then
  mount --bind "$(dirname "$KUBELET_SANDBOX_HOSTS")" "$root/run/kubelet-hosts"
  mount -o remount,bind,ro "$root/run/kubelet-hosts"
elif [ -n "${KUBELET_SANDBOX_HOSTS:-}" ]; then
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
if [ -n "${KUBELET_SANDBOX_RESOLV_CONF:-}" ] && [ -z "$root" ] && [ -e /etc/resolv.conf ]; then
  mount --bind "$KUBELET_SANDBOX_RESOLV_CONF" /etc/resolv.conf
fi
bind_mount() {
  # In an image root the mount point is already in the layer; on this machine it may be missing.
  [ -n "$root" ] || mount_point "$1" "$2"
  # Recursive: a volume's directory can carry a path bind-mounted into it before (volumes.ts).
  mount --rbind "$1" "$root$2"
}
each_mount bind_mount

if [ -n "$root" ]; then
  # Node hands NODE_V8_COVERAGE (set by c8 around the tests) to every child it spawns, whatever
  # env the child was given; a container has only its pod's env, and cannot reach that folder.
  unset NODE_V8_COVERAGE
  uid=${KUBELET_SANDBOX_USER%%:*}
  gid=${KUBELET_SANDBOX_USER#*:}
  # unshare without namespace flags: chroot into the image, chdir, drop the groups, setgid, setuid.
  set -- unshare --root="$root" --wd="$KUBELET_SANDBOX_WORKDIR" --setgid="$gid" --setuid="$uid" -- "$@"
  if [ "${KUBELET_SANDBOX_NO_NEW_PRIVS:-}" = true ]; then set -- setpriv --no-new-privs "$@"; fi
fi
unset KUBELET_SANDBOX_HOSTNAME KUBELET_SANDBOX_HOSTS KUBELET_SANDBOX_RESOLV_CONF KUBELET_SANDBOX_MOUNTS \
  KUBELET_SANDBOX_ROOTFS KUBELET_SANDBOX_LAYER KUBELET_SANDBOX_WORKDIR KUBELET_SANDBOX_USER \
  KUBELET_SANDBOX_READONLY KUBELET_SANDBOX_NO_NEW_PRIVS
exec "$@"
