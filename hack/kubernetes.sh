# Sourced by hack/envtest.sh (kube-apiserver, kubectl) and hack/node-binaries.sh
# (kubelet, kube-scheduler, kube-controller-manager, kube-proxy): the one build of
# Kubernetes binaries from the Go module proxy, and the helpers both scripts use to keep
# what they build. The caller defines log().

# gover: the Go language version of this toolchain (1.26), for a go.mod's go line.
gover() { go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/'; }

# have_all DIR BINARY...: whether DIR holds every BINARY, executable.
have_all() {
	local d="$1" b
	shift
	for b in "$@"; do
		[ -x "$d/$b" ] || return 1
	done
}

# install_into STAGE DEST BINARY...: copies each BINARY from STAGE into DEST, each
# atomically, so a concurrent reader never sees half a binary.
install_into() {
	local stage="$1" dest="$2" b
	shift 2
	mkdir -p "$dest"
	for b in "$@"; do
		cp "$stage/$b" "$dest/.$b.tmp" && mv -f "$dest/.$b.tmp" "$dest/$b"
	done
}

# gomod_of MODULE@VERSION: the path of that module's go.mod in the module cache
# (downloaded if needed).
gomod_of() {
	go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p'
}

# build_kubernetes VERSION WORK STAGE COMMAND...: builds k8s.io/kubernetes/cmd/COMMAND
# of Kubernetes VERSION (1.37.2) into STAGE, from the Go module proxy.
#
# k8s.io/kubernetes cannot be built as a dependency as it is: its go.mod replaces every
# k8s.io staging module with ./staging/src/k8s.io/x, which the module zip does not hold.
# A throw-away wrapper module in WORK requires it and replaces each of those with its
# published tag (v0.37.2 for 1.37.2). Every caller writes the same wrapper, so the build
# cache is shared: kube-apiserver's packages are kubelet's. The binaries carry their
# version (without it they say v0.0.0-master, and kubectl cannot parse that).
build_kubernetes() {
	local version="$1" work="$2" stage="$3" gomod staging minor ldflags cmd pkgs=()
	shift 3
	gomod="$(gomod_of "k8s.io/kubernetes@v$version")"
	[ -n "$gomod" ] || { log "cannot download k8s.io/kubernetes@v$version"; return 1; }
	staging="v0.${version#1.}"
	mkdir -p "$work" "$stage"
	{
		echo "module outrigger.local/kubernetes"
		echo
		echo "go $(gover)"
		echo
		echo "require k8s.io/kubernetes v$version"
		echo
		echo "replace ("
		sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#\1#p' "$gomod" |
			while read -r m; do echo "	$m => $m $staging"; done
		echo ")"
	} >"$work/go.mod"
	{
		echo "//go:build tools"
		echo
		echo "package tools"
		echo
		echo "import ("
		for cmd in "$@"; do
			echo "	_ \"k8s.io/kubernetes/cmd/$cmd\""
			pkgs+=("k8s.io/kubernetes/cmd/$cmd")
		done
		echo ")"
	} >"$work/tools.go"
	ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$version"
	ldflags+=" -X k8s.io/component-base/version.gitMajor=${version%%.*}"
	minor="${version#*.}"
	ldflags+=" -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
	ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=v$version"
	(
		cd "$work"
		GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
		GOFLAGS=-mod=mod CGO_ENABLED=0 go build -tags tools -trimpath -ldflags "$ldflags" -o "$stage/" "${pkgs[@]}"
	)
	have_all "$stage" "$@" || { log "the build did not produce $*"; return 1; }
}
