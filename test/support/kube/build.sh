#!/usr/bin/env bash
# Builds the test cluster's binaries once into a cache outside the checkout (the same rule as the
# PostgreSQL binaries in src/demo/binaries.ts): kube-apiserver, kube-controller-manager and
# kube-scheduler v1.30.14 from this module, kwok v0.6.1 (its own module), and exec-kubelet
# (./exec-kubelet, the node's exec endpoint). Usage: build.sh [bin-dir]; prints the bin dir.
# Network: the Go module proxy only (and its checksum database, for kwok's module).
set -euo pipefail

KUBE_VERSION=v1.30.14
KWOK_VERSION=v0.6.1
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then cache_root=/var/cache/kaapana-migrate; else cache_root=$HOME/.cache/kaapana-migrate; fi
bin=${1:-$cache_root/kube-$KUBE_VERSION/bin}

command -v go >/dev/null || { echo "build.sh: go is not installed (Go 1.22 or later, needed once to build the test cluster's binaries)" >&2; exit 1; }
# go.mod says go 1.22.0: Go 1.21 fetches that toolchain from the proxy by itself, older ones cannot.
minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if [ -z "$minor" ] || [ "$minor" -lt 21 ]; then
  echo "build.sh: $(go env GOVERSION) is too old: Kubernetes $KUBE_VERSION needs Go 1.22 or later" >&2
  exit 1
fi

# Only the proxy: a module missing there must fail, not be fetched from its VCS host.
proxy=$(go env GOPROXY | tr '|' ',' | tr ',' '\n' | grep -v -x -e direct -e off -e '' | paste -sd, -)
[ -n "$proxy" ] || { echo "build.sh: GOPROXY ($(go env GOPROXY)) names no module proxy" >&2; exit 1; }
export GOPROXY=$proxy GOFLAGS=-buildvcs=false

# exec-kubelet is rebuilt when its source or the module changes; the pinned components never are.
exec_hash=$(cat "$here/go.mod" "$here/go.sum" "$here"/exec-kubelet/*.go | sha256sum | cut -d' ' -f1)
stamp_ok() { [ -f "$1/exec-kubelet.sha256" ] && [ "$(cat "$1/exec-kubelet.sha256")" = "$exec_hash" ]; }
complete() { for b in kube-apiserver kube-controller-manager kube-scheduler kwok exec-kubelet; do [ -x "$1/$b" ] || return 1; done; }

if complete "$bin" && stamp_ok "$bin"; then
  echo "$bin"
  exit 0
fi

build_exec_kubelet() {
  (cd "$here" && go build -mod=readonly -tags providerless -ldflags '-s -w' -o "$1/exec-kubelet" ./exec-kubelet)
  echo "$exec_hash" >"$1/exec-kubelet.sha256"
}

mkdir -p "$(dirname "$bin")"
if complete "$bin"; then
  echo "build.sh: rebuilding exec-kubelet in $bin (a few seconds)" >&2
  tmp=$(mktemp -d "$bin/.exec-kubelet.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  build_exec_kubelet "$tmp"
  # Renames within one directory: atomic.
  mv -f "$tmp/exec-kubelet.sha256" "$bin/exec-kubelet.sha256.new"
  mv -f "$tmp/exec-kubelet" "$bin/exec-kubelet"
  mv -f "$bin/exec-kubelet.sha256.new" "$bin/exec-kubelet.sha256"
  echo "$bin"
  exit 0
fi

echo "build.sh: building kube-apiserver, kube-controller-manager, kube-scheduler $KUBE_VERSION, kwok $KWOK_VERSION and exec-kubelet into $bin (cold: ~140 MB of modules from $GOPROXY, 0.8 GB unpacked, and about 11 minutes on 2 cores; 2.7 GB of Go build cache)" >&2
tmp=$(mktemp -d "$bin.tmp.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

# The version the API server reports (/version) and the clients send; go build alone stamps v0.0.0-master.
stamp=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  stamp="$stamp -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=30 -X $pkg.gitTreeState=clean"
done
# -mod=readonly: go.mod and go.sum are complete for these packages (go mod tidy cannot run here: it
# also looks at the cloud-provider files that -tags providerless leaves out).
(cd "$here" && go build -mod=readonly -tags providerless -ldflags "-s -w$stamp" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler)
build_exec_kubelet "$tmp"
# kwok pins its own dependencies (k8s.io 0.30.4, controller-runtime); outside this module they stay its own.
(cd "$tmp" && GOBIN="$tmp" go install -ldflags '-s -w' "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")

if ! mv -T "$tmp" "$bin" 2>/dev/null; then
  # Something is in the way: a build that finished meanwhile (keep it), or an outdated one.
  if complete "$bin" && stamp_ok "$bin"; then
    echo "$bin"
    exit 0
  fi
  rm -rf "$bin.old"
  mv -T "$bin" "$bin.old"
  mv -T "$tmp" "$bin"
  rm -rf "$bin.old"
fi
echo "$bin"
