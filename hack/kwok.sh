#!/usr/bin/env bash
# Provides the kwok binary (sigs.k8s.io/kwok, simulated nodes) for `make bench-scale`:
# built once from the Go module proxy with kwok's own go.mod (so it cannot move this
# project's dependencies) into bin/kwok/<version>/, and reused after that.
#
# The last line of output is the path of the binary.
set -euo pipefail

KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCALBIN="${LOCALBIN:-$ROOT/bin}"
DEST="$LOCALBIN/kwok/$KWOK_VERSION"

if [ -x "$DEST/kwok" ]; then
	echo "kwok: reusing $DEST/kwok" >&2
	echo "$DEST/kwok"
	exit 0
fi
echo "kwok: building sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION (about two minutes on 2 cores)" >&2
WORK="$(mktemp -d "${TMPDIR:-/tmp}/outrigger-kwok.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# Outside this module, so `go install pkg@version` uses kwok's go.mod as released.
(cd "$WORK" && GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$WORK" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
mkdir -p "$DEST"
cp "$WORK/kwok" "$DEST/.kwok.tmp" && mv -f "$DEST/.kwok.tmp" "$DEST/kwok"
echo "kwok: installed $DEST/kwok" >&2
echo "$DEST/kwok"
