#!/usr/bin/env bash
# Provides kube-apiserver, etcd and kubectl for the integration tests.
#
# Order of preference:
#   1. binaries already in setup-envtest's store (second run: no work at all);
#   2. `setup-envtest use` downloading them (where the network allows it);
#   3. building them from the Go module proxy: kube-apiserver and kubectl from
#      k8s.io/kubernetes (hack/kubernetes.sh, the build hack/node-binaries.sh uses for
#      the node's binaries), etcd from go.etcd.io/etcd/server/v3.
#
# What it builds lands in setup-envtest's own store
# (${XDG_DATA_HOME:-~/.local/share}/kubebuilder-envtest/k8s/<version>-<os>-<arch>), so
# `setup-envtest use -i <version>` finds it and every clone on the machine reuses it.
# bin/k8s/<version>-<os>-<arch> links to that folder.
#
# The last line of output is the directory holding kube-apiserver, etcd and kubectl.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCALBIN="${LOCALBIN:-$ROOT/bin}"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
PLATFORM="${K8S_VERSION}-${GOOS}-${GOARCH}"
STORE="${ENVTEST_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest}"
DEST="$STORE/k8s/$PLATFORM"
BINARIES=(kube-apiserver etcd kubectl)

log() { echo "envtest: $*" >&2; }

# gover, have_all, install_into, gomod_of, build_kubernetes.
. "$ROOT/hack/kubernetes.sh"

complete() { have_all "$1" "${BINARIES[@]}"; }

link_into_bin() {
	mkdir -p "$LOCALBIN/k8s"
	ln -sfn "$DEST" "$LOCALBIN/k8s/$PLATFORM"
	echo "$LOCALBIN/k8s/$PLATFORM"
}

if complete "$DEST"; then
	log "reusing $DEST"
	link_into_bin
	exit 0
fi

# 2. setup-envtest, pinned in go.mod as a tool. Offline it fails fast; give it a bound anyway.
if [ -z "${ENVTEST_NO_DOWNLOAD:-}" ]; then
	log "trying setup-envtest for Kubernetes $K8S_VERSION"
	if dir=$(cd "$ROOT" && timeout 120 go tool setup-envtest use "$K8S_VERSION" -p path 2>/dev/null) &&
		[ -n "$dir" ] && complete "$dir"; then
		mkdir -p "$(dirname "$DEST")"
		[ "$dir" = "$DEST" ] || cp -a "$dir/." "$DEST/"
		link_into_bin
		exit 0
	fi
	log "setup-envtest could not provide $K8S_VERSION; building from the Go module proxy"
fi

# 3. Build from source.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/outrigger-envtest.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/out"
mkdir -p "$STAGE"

K8S_GOMOD="$(gomod_of "k8s.io/kubernetes@v$K8S_VERSION")"
ETCD_VERSION="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$K8S_GOMOD")"
[ -n "$ETCD_VERSION" ] || { log "cannot read the etcd version from $K8S_GOMOD"; exit 1; }

log "building kube-apiserver and kubectl v$K8S_VERSION (cold: about 10 minutes on 2 cores)"
build_kubernetes "$K8S_VERSION" "$WORK/k8s" "$STAGE" kube-apiserver kubectl

log "building etcd $ETCD_VERSION"
mkdir -p "$WORK/etcd"
cat >"$WORK/etcd/go.mod" <<GOMOD
module outrigger.local/envtest-etcd

go $(gover)

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
(
	cd "$WORK/etcd"
	GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$STAGE/etcd" go.etcd.io/etcd/server/v3
)

complete "$STAGE" || { log "build did not produce ${BINARIES[*]}"; exit 1; }
install_into "$STAGE" "$DEST" "${BINARIES[@]}"
log "installed into $DEST"
link_into_bin
