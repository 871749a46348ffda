#!/usr/bin/env bash
# Installs the Debian packages a task of this project runs, when any of them is missing, so the
# README's commands work on a fresh machine that has only Go and npm.
#   hack/ensure-system-packages.sh start   the local cluster and the demo (npm start, npm run cluster:up)
#   hack/ensure-system-packages.sh test    start's, plus Chromium (waiting-page test, chart test) and
#                                          socat (the proxy pod of upstream's e2e suite, npm run test:conformance)
#   hack/ensure-system-packages.sh bench   start's, plus wrk, taskset and Chromium (the charts)
# Nothing happens when all are there. Otherwise, as root with apt-get: `apt-get update` once, then
# one `apt-get install`. Without root or apt-get it says what to install and exits 1.
# KEDA_HTTP_SKIP_SYSTEM_PACKAGES=1 skips the check (a machine that provides them another way).
set -euo pipefail

[ "${KEDA_HTTP_SKIP_SYSTEM_PACKAGES:-}" = 1 ] && exit 0

need=()
# need_command COMMAND PACKAGE: PACKAGE when COMMAND is not on PATH.
need_command() { command -v "$1" >/dev/null 2>&1 || need+=("$2"); }

start_packages() {
  need_command openssl openssl   # the control plane's certificates, the kubelet's serving certificate
  need_command ip iproute2       # pods' network namespaces, veths, the kubelet's bridge
  need_command unshare util-linux # pod sandboxes (mount and UTS namespaces)
  need_command nsenter util-linux # entering a pod's network namespace
  need_command mount mount       # the sandbox's bind mounts
  need_command hostname hostname # a pod's hostname inside its sandbox
}
chromium_package() {
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need+=(chromium)
}

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(test)
for g in "${groups[@]}"; do
  case "$g" in
    start) start_packages ;;
    test)
      start_packages
      chromium_package
      need_command socat socat
      ;;
    bench)
      start_packages
      chromium_package
      need_command wrk wrk
      need_command taskset util-linux
      ;;
    *)
      echo "ensure-system-packages: unknown group '$g' (start, test or bench)" >&2
      exit 2
      ;;
  esac
done

[ ${#need[@]} -gt 0 ] || exit 0
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "[packages] missing: ${need[*]} (Debian package names). This machine has no apt-get: install" \
    "them with its package manager, or set KEDA_HTTP_SKIP_SYSTEM_PACKAGES=1 if they are provided otherwise." >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "[packages] missing: ${need[*]}. Install them as root, then run the command again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "[packages] installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
echo "[packages] installed ${need[*]}" >&2
