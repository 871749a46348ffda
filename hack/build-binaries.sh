#!/usr/bin/env bash
# Builds the local control plane's binaries from their Go modules, only when missing.
#   hack/build-binaries.sh [etcd] [kube-apiserver] [kube-controller-manager] ...   (default: all three)
#   hack/build-binaries.sh keda-operator keda-adapter   (KEDA, only when asked: the end-to-end tests)
#   hack/build-binaries.sh upstream-interceptor upstream-scaler upstream-operator   (benchmarks)
#   hack/build-binaries.sh h2spec   (the HTTP/2 conformance test of the interceptor's listeners)
#   hack/build-binaries.sh otelcol   (the OpenTelemetry Collector the telemetry tests export to)
#   hack/build-binaries.sh upstream-e2e upstream-grpc-echo   (upstream's e2e suite, npm run test:conformance)
#   hack/build-binaries.sh upstream-e2e-observability jaeger   (its observability suite and Jaeger)
# Binaries land in $KEDA_HTTP_CACHE/bin/<name>-<version> (default ~/.cache/keda-http-addon), outside git,
# so a fresh clone on the same machine reuses them. Go's own build and module caches are reused too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${KEDA_HTTP_CACHE:-$HOME/.cache/keda-http-addon}
bin="$cache/bin"
mkdir -p "$bin" "$cache/build"
export GOFLAGS="${GOFLAGS:--trimpath}" CGO_ENABLED=0

step() { printf '[build] %s\n' "$*" >&2; }
# Runs a build, saying every 30 s that it is still going (KEDA's first build takes 20 minutes or more).
timed() {
  local name=$1
  shift
  local t0=$SECONDS
  "$@" &
  local pid=$! next=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ "$SECONDS" -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
      step "$name: still building ($((SECONDS - t0))s)"
      next=$((SECONDS + 30))
    fi
  done
  wait "$pid" # the build's exit status: set -e stops here when it failed
  step "$name took $((SECONDS - t0))s"
}

# A wrapper module that builds MODULE@VERSION's commands. Kubernetes and etcd both replace their
# sibling modules with local paths (../api, ./staging/src/...), which `go install pkg@version`
# refuses; the wrapper requires MODULE and points each such sibling at its published tag
# (SIBLING_VERSION). The sibling list comes from MODULE's own go.mod, so it never goes stale.
wrapper() {
  local module=$1 version=$2 sibling_version=$3 dir="$cache/build/$(basename "${1%/v3}")-$2"
  shift 3
  if [ ! -f "$dir/go.sum" ]; then
    mkdir -p "$dir"
    local mod
    mod=$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "module local/build"
      echo "go 1.25"
      echo "require $module $version"
      echo "replace ("
      grep -E '^\s*(replace\s+)?[a-z0-9./-]+ => \.\.?/' "$mod" | sed -E 's/^\s*replace\s+//' |
        awk -v v="$sibling_version" '
          # A v2+ tag can only name a module whose path ends in that major version (go.etcd.io/etcd/api/v3).
          { major = substr(v, 2, index(v, ".") - 2) }
          major < 2 || $1 ~ ("/v" major "$") { print "\t" $1 " => " $1 " " v }'
      echo ")"
    } >"$dir/go.mod"
  fi
  # Cheap when nothing changed; adds the dependencies of a newly requested command otherwise.
  if ! (cd "$dir" && go get "$@" >"$dir/go-get.log" 2>&1); then
    cat "$dir/go-get.log" >&2
    return 1
  fi
  echo "$dir"
}

# Kubernetes' own release builds stamp the version into two packages (hack/lib/version.sh in the
# kubernetes repository); without it `kubectl version` reports v0.0.0-master+$Format:%H$ for both the
# client and the server. Built from the released module, the tree is clean; the commit is unknown.
k8s_ldflags() {
  local version=${1#v} major minor
  major=${version%%.*}
  minor=${version#*.}
  minor=${minor%%.*}
  local flags=() pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=("-X '$pkg.gitVersion=$1'" "-X '$pkg.gitMajor=$major'" "-X '$pkg.gitMinor=$minor'"
      "-X '$pkg.gitCommit='" "-X '$pkg.gitTreeState=clean'" "-X '$pkg.buildDate=$2'")
  done
  echo "${flags[*]}"
}

build_k8s() {
  local name=$1 out="$bin/$1-$KUBERNETES_VERSION"
  if [ -x "$out" ]; then step "$name $KUBERNETES_VERSION cached at $out"; return; fi
  local dir
  dir=$(wrapper k8s.io/kubernetes "$KUBERNETES_VERSION" "v0.${KUBERNETES_VERSION#v1.}" \
    "k8s.io/kubernetes/cmd/kube-apiserver@$KUBERNETES_VERSION" "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBERNETES_VERSION" \
    "k8s.io/kubernetes/cmd/kubectl@$KUBERNETES_VERSION")
  step "building $name $KUBERNETES_VERSION (first build takes several minutes on 2 cores)"
  local ldflags
  ldflags=$(k8s_ldflags "$KUBERNETES_VERSION" "$(date -u +%Y-%m-%dT%H:%M:%SZ)")
  timed "$name" bash -c "cd '$dir' && go build -ldflags \"\$0\" -o '$out.tmp' k8s.io/kubernetes/cmd/$name && mv '$out.tmp' '$out'" "$ldflags"
}

build_etcd() {
  local out="$bin/etcd-$ETCD_VERSION"
  if [ -x "$out" ]; then step "etcd $ETCD_VERSION cached at $out"; return; fi
  step "building etcd $ETCD_VERSION"
  local dir
  dir=$(wrapper go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$ETCD_VERSION" "go.etcd.io/etcd/server/v3@$ETCD_VERSION")
  timed etcd bash -c "cd '$dir' && go build -o '$out.tmp' go.etcd.io/etcd/server/v3 && mv '$out.tmp' '$out'"
}

# KEDA's go.mod carries a replace directive to another published version (not a local path), which
# `go install pkg@version` also refuses. The wrapper repeats KEDA's own replace and exclude lines,
# read from its go.mod, so it builds exactly the module graph KEDA's release was built with.
# NAME is operator (the controller) or adapter (the external.metrics.k8s.io API server).
build_keda() {
  local name=$1 out="$bin/keda-$1-$KEDA_VERSION" dir="$cache/build/keda-$KEDA_VERSION"
  if [ -x "$out" ]; then step "keda-$name $KEDA_VERSION cached at $out"; return; fi
  if [ ! -f "$dir/go.sum" ]; then
    mkdir -p "$dir"
    local mod
    mod=$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "module local/build"
      echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$mod")"
      echo "require github.com/kedacore/keda/v2 $KEDA_VERSION"
      grep -E '^(replace|exclude) ' "$mod"
    } >"$dir/go.mod"
  fi
  if ! (cd "$dir" && go get "github.com/kedacore/keda/v2/cmd/operator@$KEDA_VERSION" \
    "github.com/kedacore/keda/v2/cmd/adapter@$KEDA_VERSION" >"$dir/go-get.log" 2>&1); then
    cat "$dir/go-get.log" >&2
    return 1
  fi
  step "building keda-$name $KEDA_VERSION (first build takes several minutes on 2 cores)"
  timed "keda-$name" bash -c "cd '$dir' && go build -o '$out.tmp' github.com/kedacore/keda/v2/cmd/$name && mv '$out.tmp' '$out'"
}

# The upstream add-on's components (interceptor, scaler, operator), for the benchmarks that compare
# against them (hack/bench/interceptor.ts, scaler.ts, e2e.ts); out: http-add-on-<component>-<version>.
# `go install .../interceptor@version` fails: it asks the module proxy for the module's version list
# (deprecation check), which the proxy refuses for this module; a wrapper module pinning the exact
# version builds the same binaries.
build_upstream() {
  local component=$1 out="$bin/http-add-on-$1-$UPSTREAM_ADDON_VERSION" dir="$cache/build/http-add-on-$UPSTREAM_ADDON_VERSION"
  if [ -x "$out" ]; then step "upstream $component $UPSTREAM_ADDON_VERSION cached at $out"; return; fi
  mkdir -p "$dir"
  [ -f "$dir/go.mod" ] || printf 'module local/build\n\ngo 1.25\n\nrequire github.com/kedacore/http-add-on %s\n' "$UPSTREAM_ADDON_VERSION" >"$dir/go.mod"
  if ! (cd "$dir" && go get "github.com/kedacore/http-add-on/$component@$UPSTREAM_ADDON_VERSION" >"$dir/go-get.log" 2>&1); then
    cat "$dir/go-get.log" >&2
    return 1
  fi
  step "building upstream $component $UPSTREAM_ADDON_VERSION"
  timed "upstream-$component" bash -c "cd '$dir' && go build -o '$out.tmp' github.com/kedacore/http-add-on/$component && mv '$out.tmp' '$out'"
}

# h2spec, the HTTP/2 conformance tester (addon/interceptor/server/h2spec.test.ts). Its newest tags
# (v2.3 to v2.6) are not served by the Go module proxy; v2.2.1 is, as v2.2.1+incompatible (no go.mod,
# so its dependencies are not pinned by it). The wrapper pins them to versions that build with Go
# 1.25 and keep h2spec's 145 cases, so every machine runs the same tester.
build_h2spec() {
  local out="$bin/h2spec-$H2SPEC_VERSION" dir="$cache/build/h2spec-$H2SPEC_VERSION"
  if [ -x "$out" ]; then step "h2spec $H2SPEC_VERSION cached at $out"; return; fi
  mkdir -p "$dir"
  [ -f "$dir/go.mod" ] || printf 'module local/build\n\ngo 1.25\n\nrequire (\n\tgithub.com/summerwind/h2spec %s+incompatible\n\tgithub.com/fatih/color v1.18.0\n\tgithub.com/spf13/cobra v1.10.2\n\tgolang.org/x/net v0.50.0\n)\n' \
    "$H2SPEC_VERSION" >"$dir/go.mod"
  if ! (cd "$dir" && go get "github.com/summerwind/h2spec/cmd/h2spec@$H2SPEC_VERSION+incompatible" >"$dir/go-get.log" 2>&1); then
    cat "$dir/go-get.log" >&2
    return 1
  fi
  step "building h2spec $H2SPEC_VERSION"
  timed h2spec bash -c "cd '$dir' && go build -o '$out.tmp' github.com/summerwind/h2spec/cmd/h2spec && mv '$out.tmp' '$out'"
}

# The OpenTelemetry Collector the telemetry tests export to (tests/harness/otel-collector.ts): the
# distribution in hack/otelcol/main.go, with the OTLP receiver and the file exporter only. All
# collector modules move in lockstep: the v0.x ones (otelcol, otlpreceiver, contrib's fileexporter)
# and service at OTELCOL_VERSION, the stable v1.x ones (confmap's file provider) at its twin
# OTELCOL_STABLE_VERSION. Test files running at once may each find the binary missing and start
# this script: a lock on the wrapper module lets one build while the others wait for its binary.
build_otelcol() {
  local out="$bin/otelcol-$OTELCOL_VERSION" dir="$cache/build/otelcol-$OTELCOL_VERSION"
  if [ -x "$out" ]; then step "otelcol $OTELCOL_VERSION cached at $out"; return; fi
  mkdir -p "$dir"
  # One build at a time: the others wait here, then find the binary built.
  exec 9>"$dir.lock"
  flock 9
  if [ -x "$out" ]; then step "otelcol $OTELCOL_VERSION cached at $out"; return; fi
  cp "$here/otelcol/main.go" "$dir/main.go"
  [ -f "$dir/go.mod" ] || printf 'module local/build\n\ngo 1.25\n' >"$dir/go.mod"
  if ! (cd "$dir" && go get "go.opentelemetry.io/collector/otelcol@$OTELCOL_VERSION" \
    "go.opentelemetry.io/collector/receiver/otlpreceiver@$OTELCOL_VERSION" \
    "go.opentelemetry.io/collector/service/telemetry/otelconftelemetry@$OTELCOL_VERSION" \
    "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter@$OTELCOL_VERSION" \
    "go.opentelemetry.io/collector/confmap/provider/fileprovider@$OTELCOL_STABLE_VERSION" >"$dir/go-get.log" 2>&1); then
    cat "$dir/go-get.log" >&2
    return 1
  fi
  step "building otelcol $OTELCOL_VERSION"
  timed otelcol bash -c "cd '$dir' && go build -ldflags '-X main.version=$OTELCOL_VERSION' -o '$out.tmp' . && mv '$out.tmp' '$out'"
}

# Upstream's end-to-end suite and its gRPC test app, built inside a copy of the module's source at
# UPSTREAM_ADDON_VERSION as upstream's CI builds them (its own go.mod and go.sum), so the suite's
# test-only dependencies never touch the wrapper modules above. The copy lives in the cache (the
# module cache is read-only, and `go build -overlay` may not replace files in it).
#
# One patch, applied to the copy: upstream's helpers wait for the scaler Deployment under its
# kustomize name keda-add-ons-http-scaler; this project and hack/bench's upstream install use
# keda-add-ons-http-external-scaler, its name in upstream's Helm chart
# (docs/decisions/conformance-suite.md).
upstream_test_source() {
  local dir="$cache/build/http-add-on-src-$UPSTREAM_ADDON_VERSION"
  if [ ! -f "$dir/.patched" ]; then
    local mod
    mod=$(GOFLAGS=-mod=mod go mod download -json "github.com/kedacore/http-add-on@$UPSTREAM_ADDON_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
    rm -rf "$dir"
    cp -r "$mod" "$dir"
    chmod -R u+w "$dir"
    local helper="$dir/test/helpers/env.go"
    sed -i -E 's/^(\s*scalerDeployment\s*=\s*)"keda-add-ons-http-scaler"$/\1"keda-add-ons-http-external-scaler"/' "$helper"
    if ! grep -qE '^\s*scalerDeployment\s*=\s*"keda-add-ons-http-external-scaler"$' "$helper"; then
      echo "upstream's test/helpers/env.go no longer declares scalerDeployment = \"keda-add-ons-http-scaler\"; update the patch in hack/build-binaries.sh" >&2
      return 1
    fi
    touch "$dir/.patched"
  fi
  echo "$dir"
}

# One of upstream's e2e suites, test/e2e/<SUITE> (default or observability), compiled with
# `go test -c` (run by hack/conformance/run.ts).
build_upstream_e2e() {
  local suite=$1 out="$bin/http-add-on-e2e-$1-$UPSTREAM_ADDON_VERSION.test"
  if [ -x "$out" ]; then step "upstream e2e suite $suite $UPSTREAM_ADDON_VERSION cached at $out"; return; fi
  local dir
  dir=$(upstream_test_source)
  step "building upstream's e2e suite test/e2e/$suite $UPSTREAM_ADDON_VERSION (go test -c)"
  timed "upstream-e2e-$suite" bash -c "cd '$dir' && go test -c -tags e2e -o '$out.tmp' ./test/e2e/$suite && mv '$out.tmp' '$out'"
}

# Jaeger v2, cmd/jaeger of github.com/jaegertracing/jaeger: the OpenTelemetry collector and the trace
# store of test/e2e/observability (images jaegertracing/jaeger in hack/kubelet/images.ts). A wrapper
# module with the command as a tool (`go get -tool`), repeating Jaeger's own replace lines from its
# go.mod so the module graph is the one its release was built with.
build_jaeger() {
  local out="$bin/jaeger-$JAEGER_VERSION" dir="$cache/build/jaeger-$JAEGER_VERSION"
  if [ -x "$out" ]; then step "jaeger $JAEGER_VERSION cached at $out"; return; fi
  mkdir -p "$dir"
  if [ ! -f "$dir/go.sum" ]; then
    local mod
    mod=$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      printf 'module local/build\n\ngo 1.25\n\n'
      grep -E '^(replace|exclude) ' "$mod"
    } >"$dir/go.mod"
  fi
  if ! (cd "$dir" && go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" >"$dir/go-get.log" 2>&1); then
    cat "$dir/go-get.log" >&2
    return 1
  fi
  step "building jaeger $JAEGER_VERSION (first build takes about 9 minutes on 2 cores)"
  timed jaeger bash -c "cd '$dir' && go build -o '$out.tmp' github.com/jaegertracing/jaeger/cmd/jaeger && mv '$out.tmp' '$out'"
}

# test/images/grpc-echo, the suite's gRPC app (image <KO_DOCKER_REPO>/grpc-echo in hack/kubelet/images.ts).
build_upstream_grpc_echo() {
  local out="$bin/http-add-on-grpc-echo-$UPSTREAM_ADDON_VERSION"
  if [ -x "$out" ]; then step "upstream grpc-echo $UPSTREAM_ADDON_VERSION cached at $out"; return; fi
  local dir
  dir=$(upstream_test_source)
  step "building upstream's test app grpc-echo $UPSTREAM_ADDON_VERSION"
  timed upstream-grpc-echo bash -c "cd '$dir' && go build -o '$out.tmp' ./test/images/grpc-echo && mv '$out.tmp' '$out'"
}

# The flags alone, for hack/build-binaries.test.ts: hack/build-binaries.sh --print-k8s-ldflags VERSION DATE
if [ "${1:-}" = --print-k8s-ldflags ]; then
  k8s_ldflags "$2" "$3"
  exit 0
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(etcd kube-apiserver kube-controller-manager kubectl)
t0=$SECONDS
for t in "${targets[@]}"; do
  case "$t" in
    etcd) build_etcd ;;
    kube-apiserver | kube-controller-manager | kubectl) build_k8s "$t" ;;
    upstream-interceptor | upstream-scaler | upstream-operator) build_upstream "${t#upstream-}" ;;
    keda-operator | keda-adapter) build_keda "${t#keda-}" ;;
    h2spec) build_h2spec ;;
    otelcol) build_otelcol ;;
    upstream-e2e) build_upstream_e2e default ;;
    upstream-e2e-observability) build_upstream_e2e observability ;;
    jaeger) build_jaeger ;;
    upstream-grpc-echo) build_upstream_grpc_echo ;;
    *) echo "unknown target: $t" >&2; exit 2 ;;
  esac
done
step "all done in $((SECONDS - t0))s"
