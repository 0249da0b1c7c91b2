#!/usr/bin/env bash
# Prometheus' prometheus and promtool, built from the Go module proxy at the version
# hack/prometheus/go.mod pins (a module of its own: its dependencies stay out of the
# project's), once per machine into
#   ${OUTRIGGER_STORE:-${XDG_DATA_HOME:-~/.local/share}/outrigger}/prometheus/<version>-<os>-<arch>
# and reused by every clone. Without the builtinassets tag the web UI is not embedded;
# the HTTP API, the rule manager and promtool's rule tests are all there.
#
#   hack/prometheus.sh           build what is missing; prints the directory last
#
# About 6 minutes cold on 2 cores (both binaries share one build cache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
STORE="${OUTRIGGER_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/outrigger}"
VERSION="$(sed -n 's#^[[:space:]]*github.com/prometheus/prometheus \(v[^ ]*\).*#\1#p' "$ROOT/hack/prometheus/go.mod")"
DEST="$STORE/prometheus/${VERSION}-${GOOS}-${GOARCH}"

for bin in promtool prometheus; do
	[ -x "$DEST/$bin" ] && continue
	echo "prometheus: building $bin $VERSION into $DEST" >&2
	mkdir -p "$DEST"
	(cd "$ROOT/hack/prometheus" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
		-o "$DEST/.$bin.tmp" "github.com/prometheus/prometheus/cmd/$bin")
	mv -f "$DEST/.$bin.tmp" "$DEST/$bin"
done
echo "$DEST"
