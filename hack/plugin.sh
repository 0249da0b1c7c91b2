#!/usr/bin/env bash
# Builds the release archives of kubectl-outrigger and writes the krew manifest for them.
#
# For each of PLUGIN_PLATFORMS (os/arch), a static binary (-trimpath, no VCS stamp, so the
# same source and Go toolchain give the same bytes) and the LICENSE, archived without
# times or owners, go to OUT/kubectl-outrigger_vVERSION_OS_ARCH.tar.gz. plugins/outrigger.yaml
# gets their sha256 and their release URL, and is checked with krew's own validator
# (sigs.k8s.io/krew v0.4.3, pinned in hack/krew/go.mod; its install check needs krew and
# the published archives, so it is skipped here).
set -euo pipefail
: "${VERSION:?}" "${OUT:?}" "${PLUGIN_PLATFORMS:?}"
root="$(cd "$(dirname "$0")/.." && pwd)"
repo="${PLUGIN_REPOSITORY:-https://github.com/outrigger-dev/outrigger}"
manifest="$root/plugins/outrigger.yaml"
mkdir -p "$OUT" "$root/plugins"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

platforms=""
for platform in $PLUGIN_PLATFORMS; do
	os="${platform%/*}" arch="${platform#*/}"
	bin=kubectl-outrigger
	[ "$os" = windows ] && bin=kubectl-outrigger.exe
	dir="$work/$os-$arch"
	mkdir -p "$dir"
	(cd "$root" && CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build -trimpath -buildvcs=false -ldflags "-s -w" \
		-o "$dir/$bin" ./cmd/kubectl-outrigger)
	cp "$root/LICENSE" "$dir/LICENSE"
	touch -d @0 "$dir/$bin" "$dir/LICENSE"
	archive="kubectl-outrigger_v${VERSION}_${os}_${arch}.tar.gz"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -cf - -C "$dir" "$bin" LICENSE |
		gzip -9 -n >"$OUT/$archive"
	sum="$(sha256sum "$OUT/$archive" | cut -d' ' -f1)"
	echo "plugin: $OUT/$archive $sum"
	platforms+="  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $repo/releases/download/v$VERSION/$archive
    sha256: $sum
    bin: $bin
    files:
    - from: $bin
      to: .
    - from: LICENSE
      to: .
"
done

cat >"$manifest" <<MANIFEST
# The krew manifest of kubectl-outrigger, written by make plugin-release (hack/plugin.sh)
# for the archives it builds; do not edit by hand. Install from a local build with
#   kubectl krew install --manifest=plugins/outrigger.yaml --archive=bin/plugin/kubectl-outrigger_v${VERSION}_linux_amd64.tar.gz
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: outrigger
spec:
  version: v$VERSION
  homepage: $repo
  shortDescription: Preview, explain and drive Outrigger SidecarSet rollouts
  description: |
    Works with Outrigger's SidecarSets beside kubectl:
    inject prints manifests as the sidecar webhook would inject them (with no
    cluster at all if the SidecarSets come from files), why says for every
    SidecarSet whether it injects a pod and why not, status shows where each pod
    stands in the rollouts (failed pods with the kubelet's reason), and rollout
    status|pause|resume|undo|history drives a SidecarSet as kubectl rollout
    drives a Deployment.
  platforms:
$platforms
MANIFEST
cp "$manifest" "$OUT/outrigger.yaml"
(cd "$root" && go tool -modfile=hack/krew/go.mod validate-krew-manifest -manifest "$manifest" -skip-install)
echo "plugin: $manifest validates"
