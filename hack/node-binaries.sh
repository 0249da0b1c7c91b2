#!/usr/bin/env bash
# Provides everything a single-node e2e cluster needs (see hack/cluster.sh):
#
#   kube-apiserver, etcd, kubectl          from hack/envtest.sh (setup-envtest's store)
#   kubelet, kube-scheduler,
#   kube-controller-manager, kube-proxy    built from k8s.io/kubernetes by hack/kubernetes.sh,
#                                          as hack/envtest.sh builds kube-apiserver (one
#                                          wrapper module, one build cache)
#   containerd, containerd-shim-runc-v2,
#   ctr                                    built from github.com/containerd/containerd/v2
#   crane (the cluster's registry)         built from go-containerregistry, the version
#                                          hack/image/go.mod pins
#   runc, CNI plugins (/usr/lib/cni),
#   nft (kube-proxy's nftables mode)       Debian packages, installed with apt when absent
#
# Builds land in versioned stores shared by every clone on the machine and are reused:
#   ${OUTRIGGER_STORE:-${XDG_DATA_HOME:-~/.local/share}/outrigger}/node/<k8s>-<os>-<arch>
#   ${OUTRIGGER_STORE:-...}/containerd/<containerd>-<os>-<arch>
#   ${OUTRIGGER_STORE:-...}/crane/<go-containerregistry>-<os>-<arch>
# bin/node/<k8s>-<os>-<arch> is a directory of links to all eleven binaries.
#
# The last line of output is that directory.
set -euo pipefail

K8S_VERSION="${NODE_K8S_VERSION:-${ENVTEST_K8S_VERSION:-1.37.2}}"
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCALBIN="${LOCALBIN:-$ROOT/bin}"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
PLATFORM="${K8S_VERSION}-${GOOS}-${GOARCH}"
STORE="${OUTRIGGER_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/outrigger}"
K8S_DEST="$STORE/node/$PLATFORM"
CTRD_DEST="$STORE/containerd/${CONTAINERD_VERSION}-${GOOS}-${GOARCH}"
K8S_BINARIES=(kubelet kube-scheduler kube-controller-manager kube-proxy)
CTRD_BINARIES=(containerd containerd-shim-runc-v2 ctr)
GGCR_VERSION="$(sed -n 's#^[[:space:]]*github.com/google/go-containerregistry \(v[^ ]*\).*#\1#p' "$ROOT/hack/image/go.mod")"
CRANE_DEST="$STORE/crane/${GGCR_VERSION}-${GOOS}-${GOARCH}"

log() { echo "node-binaries: $*" >&2; }

# gover, have_all, install_into, gomod_of, build_kubernetes: the build of Kubernetes
# binaries hack/envtest.sh uses too.
. "$ROOT/hack/kubernetes.sh"

# --- Debian packages -------------------------------------------------------------
apt_packages() {
	local missing=()
	command -v runc >/dev/null || missing+=(runc)
	[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
		missing+=(containernetworking-plugins)
	command -v ip >/dev/null || missing+=(iproute2)
	command -v nft >/dev/null || missing+=(nftables)
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || { log "missing ${missing[*]}: install them as root (apt-get install ${missing[*]})"; exit 1; }
	log "apt-get install ${missing[*]}"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# --- kubelet, kube-scheduler, kube-controller-manager ----------------------------
build_k8s() {
	local work="$1" start=$SECONDS
	log "building ${K8S_BINARIES[*]} v$K8S_VERSION (about 3 minutes with kube-apiserver's build cache warm)"
	build_kubernetes "$K8S_VERSION" "$work/k8s" "$work/out" "${K8S_BINARIES[@]}"
	install_into "$work/out" "$K8S_DEST" "${K8S_BINARIES[@]}"
	log "installed ${K8S_BINARIES[*]} into $K8S_DEST in $((SECONDS - start))s"
}

# --- containerd ------------------------------------------------------------------
build_containerd() {
	local work="$1" stage="$1/out" start=$SECONDS pkg="github.com/containerd/containerd/v2"
	mkdir -p "$stage"
	log "building containerd $CONTAINERD_VERSION (about 3 minutes cold)"
	# containerd's go.mod has no replace directive: `go install pkg@version` builds exactly
	# its own module graph. no_btrfs drops the only cgo dependency.
	GOFLAGS='' GOBIN="$stage" CGO_ENABLED=0 go install -trimpath -tags no_btrfs \
		-ldflags "-s -w -X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg" \
		"$pkg/cmd/containerd@$CONTAINERD_VERSION" \
		"$pkg/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
		"$pkg/cmd/ctr@$CONTAINERD_VERSION"
	have_all "$stage" "${CTRD_BINARIES[@]}" || { log "build did not produce ${CTRD_BINARIES[*]}"; exit 1; }
	install_into "$stage" "$CTRD_DEST" "${CTRD_BINARIES[@]}"
	log "installed ${CTRD_BINARIES[*]} into $CTRD_DEST in $((SECONDS - start))s"
}

# --- crane -----------------------------------------------------------------------
build_crane() {
	local work="$1" start=$SECONDS
	mkdir -p "$work"
	log "building crane $GGCR_VERSION (under a minute)"
	# From hack/image's module, so its go.sum pins it.
	(cd "$ROOT/hack/image" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/crane" github.com/google/go-containerregistry/cmd/crane)
	install_into "$work" "$CRANE_DEST" crane
	log "installed crane into $CRANE_DEST in $((SECONDS - start))s"
}

apt_packages

# kube-apiserver, etcd, kubectl: hack/envtest.sh's contract (last line is their folder).
ENVTEST_DIR="$(ENVTEST_K8S_VERSION="$K8S_VERSION" LOCALBIN="$LOCALBIN" "$ROOT/hack/envtest.sh" | tail -n 1)"
ENVTEST_DIR="$(readlink -f "$ENVTEST_DIR")"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/outrigger-node.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
if have_all "$K8S_DEST" "${K8S_BINARIES[@]}"; then
	log "reusing $K8S_DEST"
else
	build_k8s "$WORK/k8s-build"
fi
if have_all "$CTRD_DEST" "${CTRD_BINARIES[@]}"; then
	log "reusing $CTRD_DEST"
else
	build_containerd "$WORK/containerd-build"
fi

if have_all "$CRANE_DEST" crane; then
	log "reusing $CRANE_DEST"
else
	build_crane "$WORK/crane-build"
fi

OUT="$LOCALBIN/node/$PLATFORM"
mkdir -p "$OUT"
for b in kube-apiserver etcd kubectl; do ln -sfn "$ENVTEST_DIR/$b" "$OUT/$b"; done
for b in "${K8S_BINARIES[@]}"; do ln -sfn "$K8S_DEST/$b" "$OUT/$b"; done
for b in "${CTRD_BINARIES[@]}"; do ln -sfn "$CTRD_DEST/$b" "$OUT/$b"; done
ln -sfn "$CRANE_DEST/crane" "$OUT/crane"
echo "$OUT"
