#!/usr/bin/env bash
# Provides kube-apiserver, etcd and kubectl for the integration tests.
#
# Order of preference:
#   1. binaries already in setup-envtest's store (second run: no work at all);
#   2. `setup-envtest use` downloading them (where the network allows it);
#   3. building them from the Go module proxy: kube-apiserver and kubectl from
#      k8s.io/kubernetes (through a wrapper module that pins every k8s.io staging
#      module to its published v0.x tag), etcd from go.etcd.io/etcd/server/v3.
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

complete() {
	local d="$1" b
	for b in "${BINARIES[@]}"; do
		[ -x "$d/$b" ] || return 1
	done
}

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

gomod_of() { # module@version -> path of its go.mod in the module cache
	go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p'
}

K8S_GOMOD="$(gomod_of "k8s.io/kubernetes@v$K8S_VERSION")"
STAGING_VERSION="v0.${K8S_VERSION#1.}"
ETCD_VERSION="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2; exit }' "$K8S_GOMOD")"
[ -n "$ETCD_VERSION" ] || { log "cannot read the etcd version from $K8S_GOMOD"; exit 1; }

log "building kube-apiserver and kubectl v$K8S_VERSION (cold: about 10 minutes on 2 cores)"
mkdir -p "$WORK/k8s"
{
	echo "module outrigger.local/envtest-k8s"
	echo
	echo "go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
	echo
	echo "require k8s.io/kubernetes v$K8S_VERSION"
	echo
	echo "replace ("
	# Every `k8s.io/x => ./staging/src/k8s.io/x` of k8s.io/kubernetes becomes the published tag.
	sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#\1#p' "$K8S_GOMOD" |
		while read -r m; do echo "	$m => $m $STAGING_VERSION"; done
	echo ")"
} >"$WORK/k8s/go.mod"
cat >"$WORK/k8s/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION"
LDFLAGS+=" -X k8s.io/component-base/version.gitMajor=${K8S_VERSION%%.*}"
minor="${K8S_VERSION#*.}"
LDFLAGS+=" -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
LDFLAGS+=" -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION"
(
	cd "$WORK/k8s"
	GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
	GOFLAGS=-mod=mod CGO_ENABLED=0 go build -tags tools -trimpath -ldflags "$LDFLAGS" \
		-o "$STAGE/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
)

log "building etcd $ETCD_VERSION"
mkdir -p "$WORK/etcd"
cat >"$WORK/etcd/go.mod" <<GOMOD
module outrigger.local/envtest-etcd

go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
(
	cd "$WORK/etcd"
	GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$STAGE/etcd" go.etcd.io/etcd/server/v3
)

complete "$STAGE" || { log "build did not produce ${BINARIES[*]}"; exit 1; }
mkdir -p "$DEST"
for b in "${BINARIES[@]}"; do
	# Install each file atomically so a concurrent reader never sees half a binary.
	cp "$STAGE/$b" "$DEST/.$b.tmp" && mv -f "$DEST/.$b.tmp" "$DEST/$b"
done
log "installed into $DEST"
link_into_bin
