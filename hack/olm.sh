#!/usr/bin/env bash
# OLM (operator-lifecycle-manager) on the e2e node of hack/cluster.sh, built from the Go
# module proxy, and the catalog of the release path.
#
#   hack/olm.sh binaries           build OLM's binaries once per version; prints their directory last
#   hack/olm.sh images             binaries, then OLM's two images into bin/olm/images; prints their layouts
#   hack/olm.sh up                 on a running cluster: images, push, OLM's CRDs and deployments; waits for them
#   hack/olm.sh manifests          the files `up` applies (OLM's release manifests, adapted)
#   hack/olm.sh catalog DIR REF... render a file-based catalog of bundle images REF... into DIR,
#                                  and opm serve's cache of it into DIR.cache
#   hack/olm.sh logs               the end of the OLM pods' logs (for a failed install)
#
# What is built (versions from hack/olm/go.mod, a module of its own):
#   olm, catalog, copy-content, cpb   operator-lifecycle-manager: the olm-operator, the
#                                     catalog-operator, and the utilities their pods copy
#   opm, grpc_health_probe            operator-registry's opm (serves catalogs, unpacks
#                                     bundles) and the catalog pods' health probe
#   busybox (its cp)                  Debian's busybox-static: the bundle unpack Job runs
#                                     /bin/cp from the util image, as upstream's image has it
# into ${OUTRIGGER_STORE:-~/.local/share/outrigger}/olm/<olm>-<registry>-<os>-<arch>, reused
# by every clone on the machine; helm (hack/helm) and CoreDNS (hack/dns) likewise into
# .../helm/<version>-<os>-<arch> and .../coredns/<version>-<os>-<arch>.
#
# OLM needs a cluster DNS (its catalog operator dials <catalog>.<namespace>.svc), which
# the e2e node has not: `up` first installs CoreDNS behind the kubelet's clusterDNS
# address, answering cluster.local names only (dns_up).
#
# The images, assembled as the manager's is (hack/image: nothing pulled, reproducible):
#   olm  /bin/{olm,catalog,copy-content,cpb,busybox}, /bin/cp -> busybox   (upstream: quay.io/operator-framework/olm)
#   opm  /bin/{opm,grpc_health_probe}                                       (upstream: quay.io/operator-framework/opm)
# for the node's platform only (OLM's pods run on this node; the manager's image has two).
#
# The manifests are OLM's release manifests, made as its release makes them
# (scripts/package_release.sh): the module's deploy/chart rendered by helm (hack/helm)
# with deploy/upstream/values.yaml and the images set, into bin/olm/manifests. (The
# module's deploy/upstream/quickstart is older than the chart: its catalog operator's
# single-dash flags no longer parse.) The changes, and why:
#   - the images are ours, by digest (as the release sets its own): olm for both
#     deployments and the catalog operator's --util-image, opm for --opmImage;
#     (--configmapServerImage stays upstream's: it serves CatalogSources of sourceType
#     configmap only, which are not used here, and it is not built);
#   - the packageserver ClusterServiceVersion is left out: it serves the packagemanifests
#     API (kubectl get packagemanifests, the console), which no step of an install or an
#     upgrade needs, and its binary would be one more to build;
#   - the operatorhubio-catalog CatalogSource is left out: its image is on quay.io, which
#     this node cannot reach.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCALBIN="${LOCALBIN:-$ROOT/bin}"
OLM_DIR="$LOCALBIN/olm"
MOD="$ROOT/hack/olm"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
STORE="${OUTRIGGER_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/outrigger}"
modversion() { sed -n "s#^[[:space:]]*$1 \(v[^ ]*\).*#\1#p" "$MOD/go.mod"; }
OLM_VERSION="$(modversion github.com/operator-framework/operator-lifecycle-manager)"
REGISTRY_VERSION="$(modversion github.com/operator-framework/operator-registry)"
BIN_DEST="$STORE/olm/${OLM_VERSION}-${REGISTRY_VERSION}-${GOOS}-${GOARCH}"
BINARIES=(olm catalog copy-content cpb opm grpc_health_probe busybox)
OLM_NAMESPACE=olm
CRANE=(go tool -modfile="$ROOT/hack/image/go.mod" crane)

# Temporary files and directories, removed on exit.
CLEANUP=()
trap 'rm -rf "${CLEANUP[@]}"' EXIT

log() { echo "olm: $*" >&2; }
die() {
	log "$*"
	exit 1
}

complete() {
	local b
	for b in "${BINARIES[@]}"; do
		[ -x "$BIN_DEST/$b" ] || return 1
	done
}

# busybox: Debian's static build, downloaded with apt (no root needed) and unpacked.
fetch_busybox() {
	local stage="$1" deb
	(cd "$stage" && apt-get download -qq busybox-static >&2) ||
		die "apt-get download busybox-static failed (run apt-get update first?)"
	deb="$(ls "$stage"/busybox-static_*.deb)"
	dpkg-deb -x "$deb" "$stage/busybox-static"
	cp "$stage/busybox-static/bin/busybox" "$stage/busybox"
	"$stage/busybox" cp --help >/dev/null 2>&1 || die "$deb holds no working busybox cp"
}

cmd_binaries() {
	if complete; then
		log "OLM $OLM_VERSION, opm $REGISTRY_VERSION: reusing $BIN_DEST"
		echo "$BIN_DEST"
		return 0
	fi
	local stage start=$SECONDS
	stage="$(mktemp -d)"
	CLEANUP+=("$stage")
	log "building OLM $OLM_VERSION and opm $REGISTRY_VERSION from the module proxy (about 3.5 minutes cold on 2 cores)"
	# Static: the images have no libc. opm's tags are operator-registry's own (its
	# Makefile): sqlite's JSON functions, and containers/image's pure-Go OpenPGP instead of
	# gpgme (cgo). Without cgo, sqlite is a stub: OLM and opm use file-based catalogs only.
	(
		cd "$MOD"
		CGO_ENABLED=0 go build -tags json1,containers_image_openpgp -trimpath -ldflags "-s -w" -o "$stage/" \
			github.com/operator-framework/operator-lifecycle-manager/cmd/olm \
			github.com/operator-framework/operator-lifecycle-manager/cmd/catalog \
			github.com/operator-framework/operator-lifecycle-manager/cmd/copy-content \
			github.com/operator-framework/operator-lifecycle-manager/util/cpb \
			github.com/operator-framework/operator-registry/cmd/opm \
			github.com/grpc-ecosystem/grpc-health-probe
	)
	mv "$stage/grpc-health-probe" "$stage/grpc_health_probe"
	fetch_busybox "$stage"
	mkdir -p "$BIN_DEST"
	local b
	for b in "${BINARIES[@]}"; do
		cp "$stage/$b" "$BIN_DEST/.$b.tmp" && mv -f "$BIN_DEST/.$b.tmp" "$BIN_DEST/$b"
	done
	log "built in $((SECONDS - start))s into $BIN_DEST"
	echo "$BIN_DEST"
}

# image NAME VERSION ENTRYPOINT FILE...: an image of prebuilt binaries into bin/olm/images/NAME.
image() {
	local name="$1" version="$2" entrypoint="$3" args=() f
	shift 3
	for f in "$@"; do args+=(-file "$f"); done
	(cd "$ROOT/hack/image" && go run . files -out "$OLM_DIR/images/$name" -tag "$name:$version" \
		-platform "$GOOS/$GOARCH" -entrypoint "$entrypoint" "${args[@]}" "${IMAGE_ARGS[@]}" \
		-label org.opencontainers.image.version="$version" -label org.opencontainers.image.title="$name") >/dev/null
}

cmd_images() {
	local bin start=$SECONDS
	bin="$(cmd_binaries | tail -n 1)"
	mkdir -p "$OLM_DIR/images"
	IMAGE_ARGS=(-link /bin/cp=/bin/busybox)
	image olm "$OLM_VERSION" /bin/olm /bin/olm="$bin/olm" /bin/catalog="$bin/catalog" /bin/copy-content="$bin/copy-content" \
		/bin/cpb="$bin/cpb" /bin/busybox="$bin/busybox"
	IMAGE_ARGS=(-label org.opencontainers.image.source=https://github.com/operator-framework/operator-registry)
	image opm "$REGISTRY_VERSION" /bin/opm /bin/opm="$bin/opm" /bin/grpc_health_probe="$bin/grpc_health_probe"
	log "images olm, opm in $((SECONDS - start))s"
	echo "$OLM_DIR/images/olm"
	echo "$OLM_DIR/images/opm"
}

cluster_env() {
	local env
	env="$(ENVTEST_K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}" LOCALBIN="$LOCALBIN" "$ROOT/hack/cluster.sh" env 2>/dev/null)" ||
		die "the local cluster is not up; start it with make cluster-up (as root)"
	eval "$env"
	KC=("$OUTRIGGER_E2E_BIN/kubectl" --kubeconfig "$KUBECONFIG")
}

# push NAME VERSION: the image of bin/olm/images/NAME into the cluster's registry;
# prints its reference by digest.
push() {
	"${CRANE[@]}" push "$OLM_DIR/images/$1" "$OUTRIGGER_E2E_REGISTRY/$1:$2" --image-refs "$OLM_DIR/images/$1.pushed" \
		>"$OLM_DIR/images/$1.push.log" 2>&1 || { cat "$OLM_DIR/images/$1.push.log" >&2; die "pushing $1 failed"; }
	cat "$OLM_DIR/images/$1.pushed"
}

# coredns_bin: CoreDNS with the plugins of hack/dns, built once per version; prints the
# version and the binary.
coredns_bin() {
	local v dest
	v="$(sed -n 's#^require github.com/coredns/coredns \(v[^ ]*\)$#\1#p' "$ROOT/hack/dns/go.mod")"
	# Keyed by the plugin list too (hack/dns/main.go).
	dest="$STORE/coredns/${v}-$(sha256sum "$ROOT/hack/dns/main.go" | cut -c1-12)-${GOOS}-${GOARCH}"
	if [ ! -x "$dest/coredns" ]; then
		log "building CoreDNS $v (about a minute cold)"
		mkdir -p "$dest"
		(cd "$ROOT/hack/dns" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dest/.coredns.tmp" .)
		mv -f "$dest/.coredns.tmp" "$dest/coredns"
	fi
	echo "$v $dest/coredns"
}

# pod_to_service: lets a pod reach another pod through a ClusterIP, as OLM's catalog
# operator reaches a catalog pod. kube-proxy translates the ClusterIP on the host, which
# must then forward the packet back onto the bridge: IP forwarding on, and a table of
# ours (removed by cluster.sh down, which restores ip_forward) that forwards only from
# the pod bridge to the pod bridge, so nothing is routed off the machine.
pod_to_service() {
	local bridge=outr0
	nft -f - <<EOF
table ip outrigger-forward
delete table ip outrigger-forward
table ip outrigger-forward {
	chain forward {
		type filter hook forward priority filter - 10; policy drop;
		iifname "$bridge" oifname "$bridge" accept
	}
}
EOF
	sysctl -qw net.ipv4.ip_forward=1
}

# dns_up: the cluster DNS the e2e node lacks, which OLM needs: the catalog operator dials
# a catalog at <service>.<namespace>.svc. CoreDNS (hack/dns) as kube-system/coredns,
# behind Service kube-dns on the kubelet's clusterDNS address; it answers cluster.local
# names only and forwards nothing. It runs on the host's network, bound to the node IP:
# a pod reaches a ClusterIP through kube-proxy on the host, and a reply from another pod
# would cross the bridge straight back, past the host's connection tracking (the node
# does not forward or masquerade), while a reply from the host is translated back as the
# kubernetes Service's is.
dns_up() {
	local v bin ip ref node_ip="$OUTRIGGER_E2E_NODE_IP"
	read -r v bin < <(coredns_bin | tail -n 1)
	ip="$(sed -n 's/^clusterDNS: \[\(.*\)\]$/\1/p' "$LOCALBIN/cluster/kubelet-config.yaml")"
	[ -n "$ip" ] || die "no clusterDNS in $LOCALBIN/cluster/kubelet-config.yaml"
	IMAGE_ARGS=(-label org.opencontainers.image.source=https://github.com/coredns/coredns)
	image coredns "$v" /coredns /coredns="$bin"
	ref="$(push coredns "$v")"
	mkdir -p "$OLM_DIR/manifests"
	cat >"$OLM_DIR/manifests/dns.yaml" <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: system:coredns}
rules:
- apiGroups: [""]
  resources: [services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: system:coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:coredns}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:1053 {
        bind $node_ip
        errors
        health $node_ip:18080
        ready $node_ip:18181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
        }
        cache 30
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      hostNetwork: true
      dnsPolicy: Default
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: coredns
        image: $ref
        args: [-conf, /etc/coredns/Corefile]
        # The host cannot reach ClusterIPs (only pods can, through kube-proxy): the API
        # server at its node address.
        env:
        - {name: KUBERNETES_SERVICE_HOST, value: "$node_ip"}
        - {name: KUBERNETES_SERVICE_PORT, value: "${OUTRIGGER_E2E_API_SERVER##*:}"}
        ports:
        - {name: dns, containerPort: 1053, protocol: UDP}
        - {name: dns-tcp, containerPort: 1053, protocol: TCP}
        readinessProbe: {httpGet: {path: /ready, port: 18181}, periodSeconds: 2}
        livenessProbe: {httpGet: {path: /health, port: 18080}}
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: config, mountPath: /etc/coredns, readOnly: true}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  selector: {k8s-app: kube-dns}
  clusterIP: $ip
  ports:
  - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
  - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
EOF
	"${KC[@]}" apply --server-side -f "$OLM_DIR/manifests/dns.yaml" >/dev/null
	"${KC[@]}" -n kube-system rollout status deployment/coredns --timeout=2m >&2 || die "the cluster DNS did not become ready"
	log "cluster DNS on $ip ($ref)"
}

# helm: renders OLM's chart, as OLM's release does; pinned in hack/helm/go.mod (a module
# of its own, so that it moves none of OLM's dependencies).
helm_bin() {
	local v dest
	v="$(sed -n 's#^[[:space:]]*helm.sh/helm/v3 \(v[^ ]*\).*#\1#p' "$ROOT/hack/helm/go.mod")"
	dest="$STORE/helm/${v}-${GOOS}-${GOARCH}"
	if [ ! -x "$dest/helm" ]; then
		log "building helm $v (about a minute cold)"
		mkdir -p "$dest"
		(cd "$ROOT/hack/helm" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dest/.helm.tmp" helm.sh/helm/v3/cmd/helm)
		mv -f "$dest/.helm.tmp" "$dest/helm"
	fi
	echo "$dest/helm"
}

# write_manifests OLM_REF OPM_REF: OLM's release manifests, rendered from the module's
# chart as scripts/package_release.sh does, with the changes listed at the top.
write_manifests() {
	local olm_ref="$1" opm_ref="$2" src helm dir="$OLM_DIR/manifests" out
	src="$(cd "$MOD" && go mod download -json "github.com/operator-framework/operator-lifecycle-manager@$OLM_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/deploy"
	[ -f "$src/upstream/values.yaml" ] || die "no $src/upstream/values.yaml in the OLM module"
	helm="$(helm_bin | tail -n 1)"
	rm -rf "$dir"
	mkdir -p "$dir/crds" "$dir/olm"
	out="$(mktemp -d)"
	CLEANUP+=("$out")
	cp -R "$src/chart" "$out/chart"
	chmod -R u+w "$out/chart"
	# package_release.sh's edits of deploy/upstream/values.yaml: the images.
	HELM_CACHE_HOME="$out/cache" HELM_CONFIG_HOME="$out/config" HELM_DATA_HOME="$out/data" \
		"$helm" template -n "$OLM_NAMESPACE" -f "$src/upstream/values.yaml" \
		--set olm.image.ref="$olm_ref" --set catalog.image.ref="$olm_ref" --set package.image.ref="$olm_ref" \
		--set catalog.opmImageArgs="--opmImage=$opm_ref" \
		--include-crds --output-dir "$out/rendered" "$out/chart" >/dev/null
	cp "$out/rendered/olm/crds/"*.yaml "$dir/crds/"
	local f
	for f in "$out/rendered/olm/templates/"*.yaml; do
		case "$(basename "$f")" in
		*packageserver.clusterserviceversion.yaml | *upstream-operators.catalogsource.yaml) continue ;;
		esac
		cp "$f" "$dir/olm/"
	done
	# The one upstream image left is --configmapServerImage's: only CatalogSources of
	# sourceType configmap run it, and none is made here.
	if grep -r "quay.io/" "$dir" | grep -v -- "--configmapServerImage=" >&2; then
		die "an image of quay.io is left in $dir (above)"
	fi
}

cmd_up() {
	cluster_env
	local start=$SECONDS olm_ref opm_ref
	cmd_images >/dev/null
	olm_ref="$(push olm "$OLM_VERSION")"
	opm_ref="$(push opm "$REGISTRY_VERSION")"
	log "pushed $olm_ref, $opm_ref"
	write_manifests "$olm_ref" "$opm_ref"
	local t0=$SECONDS
	pod_to_service
	dns_up
	"${KC[@]}" apply --server-side -f "$OLM_DIR/manifests/crds" >/dev/null
	"${KC[@]}" wait --for=condition=Established --timeout=60s -f "$OLM_DIR/manifests/crds" >/dev/null
	"${KC[@]}" apply --server-side -f "$OLM_DIR/manifests/olm" >/dev/null
	local d
	for d in olm-operator catalog-operator; do
		"${KC[@]}" -n "$OLM_NAMESPACE" rollout status "deployment/$d" --timeout=3m >&2 || {
			cmd_logs
			die "deployment $d did not become ready"
		}
	done
	log "up in $((SECONDS - start))s (OLM's images and push $((t0 - start))s, the cluster DNS and OLM until Ready $((SECONDS - t0))s)"
}

cmd_manifests() {
	[ -d "$OLM_DIR/manifests/olm" ] || die "no manifests yet: hack/olm.sh up writes them"
	ls "$OLM_DIR/manifests/crds/"* "$OLM_DIR/manifests/olm/"*
}

# catalog DIR REF...: the file-based catalog of package outrigger, channel alpha, whose
# entries are the bundles REF... in order, each replacing the one before: opm renders
# each bundle image (from the plain-HTTP registry) and the basic template into DIR.
cmd_catalog() {
	local dir="$1" bin tmpl opmhome name prev="" ref
	shift
	[ $# -gt 0 ] || die "usage: hack/olm.sh catalog DIR BUNDLE_REF..."
	bin="$(cmd_binaries | tail -n 1)"
	tmpl="$(mktemp)"
	opmhome="$(mktemp -d)"
	CLEANUP+=("$tmpl" "$opmhome")
	# opm pulls with containers/image, which wants a signature policy in
	# ~/.config/containers or /etc/containers: the one operator-registry's own opm image
	# ships (the bundles here are not signed), under a HOME of opm's own.
	mkdir -p "$opmhome/.config/containers"
	echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$opmhome/.config/containers/policy.json"
	opm() { HOME="$opmhome" "$bin/opm" "$@"; }
	{
		echo "schema: olm.template.basic"
		echo "entries:"
		echo "- schema: olm.package"
		echo "  name: outrigger"
		echo "  defaultChannel: alpha"
		echo "- schema: olm.channel"
		echo "  package: outrigger"
		echo "  name: alpha"
		echo "  entries:"
		for ref in "$@"; do
			name="$(opm render --use-http -o yaml "$ref" | sed -n 's/^name: //p' | head -n 1)"
			[ -n "$name" ] || die "opm render $ref: no bundle name"
			echo "  - name: $name"
			[ -z "$prev" ] || echo "    replaces: $prev"
			prev="$name"
		done
		for ref in "$@"; do
			echo "- schema: olm.bundle"
			echo "  image: $ref"
		done
	} >"$tmpl"
	rm -rf "$dir"
	mkdir -p "$dir/outrigger"
	opm alpha render-template --use-http -o yaml "$tmpl" >"$dir/outrigger/catalog.yaml"
	opm validate "$dir" >&2
	# The serve cache the catalog image carries (opm generate dockerfile's RUN step).
	rm -rf "$dir.cache"
	opm serve "$dir" --cache-dir "$dir.cache" --cache-only >&2
	log "catalog $dir: channel alpha = ${*}"
}

cmd_logs() {
	cluster_env
	local p
	for p in $("${KC[@]}" -n "$OLM_NAMESPACE" get pods -o name 2>/dev/null); do
		echo "--- $p" >&2
		"${KC[@]}" -n "$OLM_NAMESPACE" logs --all-containers --tail=40 "$p" >&2 || true
	done
}

case "${1:-}" in
binaries) cmd_binaries ;;
images) cmd_images ;;
up) cmd_up ;;
manifests) cmd_manifests ;;
catalog)
	shift
	cmd_catalog "$@"
	;;
logs) cmd_logs ;;
*)
	echo "usage: $0 binaries|images|up|manifests|catalog DIR BUNDLE_REF...|logs" >&2
	exit 2
	;;
esac
