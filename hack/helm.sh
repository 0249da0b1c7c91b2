#!/usr/bin/env bash
# helm, pinned in hack/helm/go.mod, built once per machine into
# ${OUTRIGGER_STORE:-${XDG_DATA_HOME:-~/.local/share}/outrigger}/helm/<version>-<os>-<arch>
# (the store hack/olm.sh renders OLM's chart with); prints its path last.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STORE="${OUTRIGGER_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/outrigger}"
v="$(sed -n 's#^[[:space:]]*helm.sh/helm/v3 \(v[^ ]*\).*#\1#p' "$ROOT/hack/helm/go.mod")"
dest="$STORE/helm/${v}-$(go env GOOS)-$(go env GOARCH)"
if [ ! -x "$dest/helm" ]; then
	echo "helm: building $v (about a minute cold)" >&2
	mkdir -p "$dest"
	(cd "$ROOT/hack/helm" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dest/.helm.tmp" helm.sh/helm/v3/cmd/helm)
	mv -f "$dest/.helm.tmp" "$dest/helm"
fi
echo "$dest/helm"
