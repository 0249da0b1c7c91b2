#!/usr/bin/env bash
# The e2e cluster: one real node on this machine, nothing pulled, nothing leaving it.
#
#   hack/cluster.sh up        start it (again: a no-op when it runs); kubeconfig path last
#   hack/cluster.sh down      stop everything it started, by PID, and remove its state
#   hack/cluster.sh status    0 when every component runs, 3 when none does, 1 otherwise
#   hack/cluster.sh import T  import OCI/docker image archives into its containerd
#   hack/cluster.sh env       print the cluster's facts as KEY=value lines
#
# What runs (binaries from hack/node-binaries.sh, images from test/e2e/images):
#   etcd                     http://127.0.0.1:12379 (peer 12380)
#   kube-apiserver           https://198.18.0.1:16443 (the node IP, so that pods reach it
#                            through the kubernetes Service), client-cert TLS, Node,RBAC, SA keys
#   kube-controller-manager  127.0.0.1:10257 (service accounts, Deployments, Jobs, ...)
#   kube-scheduler           127.0.0.1:10259
#   containerd               private: own config, root, state, socket under bin/cluster
#   kubelet                  node "outrigger-node", 198.18.0.1:10250, cgroup root /outrigger
#   kube-proxy               nftables mode: Service ClusterIPs for pods and the host
#                            (metrics 127.0.0.1:10249, healthz 127.0.0.1:10256)
#   registry                 go-containerregistry's (crane registry serve), plain HTTP on
#                            127.0.0.1:15000, blobs under bin/cluster/registry: where
#                            `make image-push` puts the operator's image and containerd
#                            pulls it from (bin/cluster/containerd/certs.d)
# Fixed ports below 32768, so envtest's random (ephemeral) ports never clash with them.
#
# Network, so that no packet leaves the machine: pods sit on bridge outr0 in
# 198.18.0.0/24 (host-local IPAM, isGateway false, ipMasq false): their routes are the
# pod subnet and the ClusterIPs (below), no default route. The host holds 198.18.0.1 on the bridge
# (node IP: the kubelet and the API server serve there, the kubelet probes pods from there)
# and an "unreachable" route for all of 198.18.0.0/15, so nothing in it ever follows the
# default route. Pods have one more route, 198.19.0.0/16 (ClusterIPs) via the node IP:
# kube-proxy's DNAT on the host turns a ClusterIP into a pod IP or the API server's node
# IP, so Service traffic ends on the host or on the bridge; a ClusterIP without
# endpoints is refused (the cluster DNS, 198.19.0.10, has none: there is no DNS server).
# IP forwarding is left as it is by up; hack/olm.sh (OLM dials catalog pods through their
# ClusterIP) turns it on, confined to the bridge, and down restores it.
#
# Everything lives under bin/cluster (CLUSTER_DIR): pki/, kubeconfig (admin), pids/,
# logs/ (kept after down), cluster.env (what `env` prints).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCALBIN="${LOCALBIN:-$ROOT/bin}"
DIR="${CLUSTER_DIR:-$LOCALBIN/cluster}"
K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"

NODE_NAME=outrigger-node
BRIDGE=outr0
POD_SUBNET=198.18.0.0/24
NODE_IP=198.18.0.1
POD_RANGE_START=198.18.0.10
POD_RANGE_END=198.18.0.254
CONTAINED=198.18.0.0/15 # nothing in here may follow the default route
SERVICE_CIDR=198.19.0.0/16
KUBERNETES_SERVICE_IP=198.19.0.1
CLUSTER_DNS=198.19.0.10
REGISTRY_PORT=15000
REGISTRY=127.0.0.1:$REGISTRY_PORT
KUBE_PROXY_METRICS_PORT=10249
KUBE_PROXY_HEALTHZ_PORT=10256
ETCD_PORT=12379
ETCD_PEER_PORT=12380
APISERVER_PORT=16443
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
KCM_PORT=10257
SCHEDULER_PORT=10259
CGROUP_ROOT=outrigger

PKI="$DIR/pki"
PIDS="$DIR/pids"
LOGS="$DIR/logs"
KUBECONFIG_PATH="$DIR/kubeconfig"
SOCK="$DIR/containerd/containerd.sock"
KUBELET_DIR="$DIR/kubelet"
HOST_STATE="$DIR/host-state"
ENV_FILE="$DIR/cluster.env"
SERVER="https://$NODE_IP:$APISERVER_PORT"

START_ORDER=(etcd kube-apiserver kube-controller-manager kube-scheduler registry containerd kubelet kube-proxy)
# kube-proxy, the kubelet and containerd first, etcd last.
STOP_ORDER=(kube-proxy kubelet containerd registry kube-controller-manager kube-scheduler kube-apiserver etcd)
# What the kubelet (unless protectKernelDefaults) and kube-proxy change; restored on down.
# net.ipv4.ip_forward: hack/olm.sh turns it on for pod -> ClusterIP -> pod traffic (its
# own nftables table keeps forwarding to the pod bridge).
SYSCTLS=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes
	net.ipv4.conf.all.route_localnet net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established
	net.netfilter.nf_conntrack_tcp_timeout_close_wait net.netfilter.nf_conntrack_tcp_be_liberal)
# Host paths the kubelet or containerd may create despite their private directories
# (e.g. /var/lib/kubelet/device-plugins and /var/log/containers are fixed in the
# kubelet): removed on down when they did not exist before up.
HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /etc/cni /opt/cni /run/containerd
	/var/lib/containerd /opt/containerd /var/run/nri /run/nri /etc/kubernetes /var/run/kubernetes /run/netns /etc/cdi /var/run/cdi)

log() { echo "cluster: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# --- processes -------------------------------------------------------------------

# pid_of NAME: the PID of a running component, from its pid file, checking that the
# process is still that program (not a reused PID).
pid_of() {
	local f="$PIDS/$1.pid" pid argv0
	[ -f "$f" ] || return 1
	pid="$(<"$f")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	argv0="$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | head -n 1)" || return 1
	[ "$(basename "$argv0")" = "$1" ] || return 1
	echo "$pid"
}

# start NAME ARGS...: runs $BIN/NAME in its own session, logging to logs/NAME.log.
start() {
	local name="$1"
	shift
	start_as "$name" "$BIN/$name" "$@"
}

# start_as NAME BINARY ARGS...: start for a binary named otherwise (crane runs as the
# registry); its argv[0] is then NAME, which pid_of checks.
start_as() {
	local name="$1" binary="$2" argv0="$2"
	shift 2
	[ "$(basename "$binary")" = "$name" ] || argv0="$name"
	log "starting $name"
	rm -f "$PIDS/$name.pid"
	# shellcheck disable=SC2016 # expanded by the inner shell
	setsid bash -c 'echo $$ >"$0"; argv0="$1"; shift; exec -a "$argv0" "$@"' "$PIDS/$name.pid" "$argv0" "$binary" "$@" \
		</dev/null >"$LOGS/$name.log" 2>&1 &
	local i
	for i in $(seq 50); do
		pid_of "$name" >/dev/null && return 0
		sleep 0.1
	done
	die "$name did not start; see $LOGS/$name.log"
}

# stop NAME [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 15).
stop() {
	local name="$1" grace="${2:-15}" pid i
	if pid="$(pid_of "$name")"; then
		log "stopping $name (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq $((grace * 10))); do
			pid_of "$name" >/dev/null || break
			sleep 0.1
		done
		if pid_of "$name" >/dev/null; then
			log "$name did not stop in ${grace}s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			for i in $(seq 50); do
				pid_of "$name" >/dev/null || break
				sleep 0.1
			done
		fi
	fi
	rm -f "$PIDS/$name.pid"
}

# wait_for COMPONENT SECONDS COMMAND...: polls COMMAND until it succeeds; gives up at
# once when COMPONENT (a name in pids/, or -) has exited.
wait_for() {
	local component="$1" secs="$2" i
	shift 2
	for i in $(seq $((secs * 5))); do
		"$@" >/dev/null 2>&1 && return 0
		if [ "$component" != - ] && ! pid_of "$component" >/dev/null; then
			return 1
		fi
		sleep 0.2
	done
	return 1
}

# check_alive NAME: fails with the end of its log when the component has exited.
check_alive() {
	pid_of "$1" >/dev/null && return 0
	log "$1 exited; the end of $LOGS/$1.log:"
	tail -n 30 "$LOGS/$1.log" >&2 || true
	return 1
}

# --- certificates and kubeconfigs ------------------------------------------------

# cert NAME SUBJECT EXTENSIONS: a P-256 key and a certificate signed by the cluster CA.
cert() {
	local name="$1" subj="$2" ext="$3"
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-keyout "$PKI/$name.key" -out "$PKI/$name.csr" -subj "$subj" 2>/dev/null
	printf '%b\n' "$ext" >"$PKI/$name.ext"
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
		-set_serial "0x$(openssl rand -hex 12)" -days 365 -extfile "$PKI/$name.ext" \
		-out "$PKI/$name.crt" 2>/dev/null
	rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

client_ext='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth'
server_ext='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth'

# kubeconfig FILE USER: a kubeconfig for USER's certificate (pki/USER.{crt,key}).
kubeconfig() {
	local file="$1" user="$2"
	cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: outrigger-e2e
  cluster:
    server: $SERVER
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$user.crt")
    client-key-data: $(base64 -w0 "$PKI/$user.key")
contexts:
- name: outrigger-e2e
  context:
    cluster: outrigger-e2e
    user: $user
current-context: outrigger-e2e
EOF
	chmod 600 "$file"
}

make_pki() {
	log "writing certificates and kubeconfigs"
	mkdir -p "$PKI" "$DIR/kubeconfigs"
	chmod 700 "$PKI"
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 -subj "/CN=outrigger-e2e-ca" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
	cert apiserver "/CN=kube-apiserver" "$server_ext\nsubjectAltName=DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:$NODE_IP,IP:$KUBERNETES_SERVICE_IP"
	cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client_ext"
	cert admin "/O=system:masters/CN=outrigger-admin" "$client_ext"
	cert controller-manager "/CN=system:kube-controller-manager" "$client_ext"
	cert scheduler "/CN=system:kube-scheduler" "$client_ext"
	cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$client_ext"
	cert kube-proxy "/CN=system:kube-proxy" "$client_ext"
	cert kubelet-serving "/O=system:nodes/CN=system:node:$NODE_NAME" "$server_ext\nsubjectAltName=DNS:$NODE_NAME,DNS:localhost,IP:$NODE_IP,IP:127.0.0.1"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
	openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	kubeconfig "$KUBECONFIG_PATH" admin
	kubeconfig "$DIR/kubeconfigs/controller-manager" controller-manager
	kubeconfig "$DIR/kubeconfigs/scheduler" scheduler
	kubeconfig "$DIR/kubeconfigs/kubelet" kubelet
	kubeconfig "$DIR/kubeconfigs/kube-proxy" kube-proxy
}

# --- configuration files ---------------------------------------------------------

write_configs() {
	mkdir -p "$DIR/containerd" "$DIR/cni/net.d" "$DIR/cni/ipam" "$DIR/pod-logs" "$KUBELET_DIR" \
		"$DIR/containerd/certs.d/$REGISTRY" "$DIR/containerd/certs.d/_default" "$DIR/registry"
	cat >"$DIR/containerd/config.toml" <<EOF
# containerd of the e2e cluster (hack/cluster.sh): nothing shared with a system containerd.
version = 4
root = '$DIR/containerd/root'
state = '$DIR/containerd/state'
imports = []
disabled_plugins = [
  'io.containerd.snapshotter.v1.blockfile', 'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper', 'io.containerd.snapshotter.v1.erofs',
  'io.containerd.snapshotter.v1.zfs', 'io.containerd.differ.v1.erofs',
  'io.containerd.nri.v1.nri', 'io.containerd.image-verifier.v1.bindir',
  'io.containerd.tracing.processor.v1.otlp', 'io.containerd.internal.v1.tracing',
]

[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = '$SOCK'

  [plugins.'io.containerd.server.v1.ttrpc']
    address = '$SOCK.ttrpc'

  [plugins.'io.containerd.internal.v1.opt']
    path = '$DIR/containerd/opt'

  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.registry]
      # Hosts by directory: the loopback registry (plain HTTP), and _default for all
      # others: a closed port on loopback.
      config_path = '$DIR/containerd/certs.d'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = 'outrigger.test/pause:3.10'

  [plugins.'io.containerd.cri.v1.runtime']
    # This VM lacks CAP_SYS_RESOURCE: never lower a process's oom_score_adj.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    cdi_spec_dirs = []
    enable_criu = false
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '$(command -v runc)'
          Root = '$DIR/containerd/state/runc'
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = '$DIR/cni/net.d'
      max_conf_num = 1

  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
EOF

	cat >"$DIR/containerd/certs.d/$REGISTRY/hosts.toml" <<EOF
# The cluster's registry (hack/cluster.sh): plain HTTP on loopback.
server = 'http://$REGISTRY'

[host.'http://$REGISTRY']
  capabilities = ['pull', 'resolve']
EOF
	# Any other registry (docker.io for an image named without one, ...): a pull fails at
	# once on a closed loopback port, with no DNS lookup and no packet off the machine.
	cat >"$DIR/containerd/certs.d/_default/hosts.toml" <<EOF
# Every registry but $REGISTRY (hack/cluster.sh): none is reachable from here.
[host.'http://127.0.0.1:1']
  capabilities = ['pull', 'resolve']
EOF

	# isGateway false: the bridge plugin gives the bridge no address and pods no default
	# route; one IPAM route: ClusterIPs via the node, where kube-proxy translates them.
	cat >"$DIR/cni/net.d/10-outrigger.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "outrigger-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": false,
      "isDefaultGateway": false,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET", "rangeStart": "$POD_RANGE_START", "rangeEnd": "$POD_RANGE_END"}]],
        "routes": [{"dst": "$SERVICE_CIDR", "gw": "$NODE_IP"}]
      }
    }
  ]
}
EOF

	# Pods' resolv.conf: only the (unreachable) cluster DNS, never the host's resolvers.
	printf 'nameserver %s\n' "$CLUSTER_DNS" >"$DIR/resolv.conf"

	cat >"$DIR/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# kubelet >= 1.35 refuses cgroup v1 unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
cgroupsPerQOS: true
failSwapOn: false
containerRuntimeEndpoint: unix://$SOCK
podLogsDir: $DIR/pod-logs
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
clusterDomain: cluster.local
clusterDNS: [$CLUSTER_DNS]
resolvConf: $DIR/resolv.conf
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
rotateCertificates: false
serverTLSBootstrap: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI/ca.crt
authorization:
  mode: Webhook
# Images cannot be pulled again: never garbage-collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
serializeImagePulls: false
staticPodPath: ""
EOF

	cat >"$DIR/kube-proxy-config.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $DIR/kubeconfigs/kube-proxy
hostnameOverride: $NODE_NAME
mode: nftables
clusterCIDR: $POD_SUBNET
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:$KUBE_PROXY_METRICS_PORT
healthzBindAddress: 127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT
# NodePorts on the node IP only, never on the host's other interfaces.
nodePortAddresses: [$NODE_IP/32]
# Leave the host's conntrack settings alone (0: do not change them).
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
}

# --- host: network, cgroups, sysctls, host paths ---------------------------------

cgroup_hierarchies() { # every mounted cgroup hierarchy (v1, and the v2 one of hybrid hosts)
	awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/mounts
}

setup_host() {
	log "creating bridge $BRIDGE ($NODE_IP on $POD_SUBNET) and cgroup /$CGROUP_ROOT"
	: >"$HOST_STATE"
	local p s h
	for p in "${HOST_PATHS[@]}"; do
		[ -e "$p" ] || echo "created $p" >>"$HOST_STATE"
	done
	local v
	for s in "${SYSCTLS[@]}"; do
		# Only those this kernel has (the netfilter ones come with its conntrack).
		if v="$(sysctl -n "$s" 2>/dev/null)"; then echo "sysctl $s $v" >>"$HOST_STATE"; fi
	done

	ip link add "$BRIDGE" type bridge
	echo "bridge $BRIDGE" >>"$HOST_STATE"
	if [ -w "/proc/sys/net/ipv6/conf/$BRIDGE/disable_ipv6" ]; then
		echo 1 >"/proc/sys/net/ipv6/conf/$BRIDGE/disable_ipv6"
	fi
	ip addr add "$NODE_IP/${POD_SUBNET#*/}" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	ip route add unreachable "$CONTAINED"
	echo "route unreachable $CONTAINED" >>"$HOST_STATE"

	for h in $(cgroup_hierarchies); do
		mkdir -p "$h/$CGROUP_ROOT"
		if [ -f "$h/cpuset.cpus" ]; then
			cat "$h/cpuset.cpus" >"$h/$CGROUP_ROOT/cpuset.cpus"
			cat "$h/cpuset.mems" >"$h/$CGROUP_ROOT/cpuset.mems"
		fi
	done
	echo "cgroup $CGROUP_ROOT" >>"$HOST_STATE"
	# The kubelet makes iptables chains (KUBE-FIREWALL, canaries) wherever iptables is
	# installed; the tables that do not exist yet are the cluster's to remove on down.
	if command -v nft >/dev/null; then
		nft list tables 2>/dev/null | while read -r _ family table; do echo "nft-table $family $table"; done >>"$HOST_STATE"
	fi
}

# kill_cgroup_processes: every process left in the node's cgroups (containers).
kill_cgroup_processes() {
	local h i pids=()
	for i in $(seq 20); do
		pids=()
		for h in $(cgroup_hierarchies); do
			[ -d "$h/$CGROUP_ROOT" ] || continue
			mapfile -t -O "${#pids[@]}" pids < <(find "$h/$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
		done
		[ ${#pids[@]} -eq 0 ] && return 0
		mapfile -t pids < <(printf '%s\n' "${pids[@]}" | sort -un)
		[ "$i" = 1 ] && log "killing leftover container processes: ${pids[*]}"
		kill -KILL "${pids[@]}" 2>/dev/null || true
		sleep 0.2
	done
	log "processes still in cgroup /$CGROUP_ROOT: ${pids[*]}"
}

remove_cgroups() {
	local h
	for h in $(cgroup_hierarchies); do
		[ -d "$h/$CGROUP_ROOT" ] || continue
		find "$h/$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[ -d "$h/$CGROUP_ROOT" ] && log "could not remove cgroup $h/$CGROUP_ROOT"
	done
	return 0
}

# unmount_all: everything mounted under the cluster directory, deepest first.
unmount_all() {
	local i mounts m
	for i in $(seq 5); do
		mounts="$(awk -v d="$DIR/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)"
		[ -z "$mounts" ] && return 0
		for m in $mounts; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
	done
	log "still mounted: $mounts"
}

# remove_nft_tables: kube-proxy's nftables tables (it leaves them when it stops), and
# the iptables(-nft) tables the kubelet created for its chains, when they did not exist
# before up and hold nothing but KUBE-* chains and jumps to them.
remove_nft_tables() {
	command -v nft >/dev/null || return 0
	local family table
	for family in ip ip6; do
		for table in kube-proxy outrigger-forward; do
			if nft list table "$family" "$table" >/dev/null 2>&1; then
				log "deleting nftables table $family $table"
				nft delete table "$family" "$table" || true
			fi
		done
	done
	[ -f "$HOST_STATE" ] || return 0
	for family in ip ip6; do
		for table in filter nat mangle; do
			grep -qx "nft-table $family $table" "$HOST_STATE" && continue
			nft list table "$family" "$table" >/dev/null 2>&1 || continue
			# Any line but the table's frame, base chain headers, KUBE-* chains, jumps to
			# them and KUBE-FIREWALL's rule (drop DNATed traffic to 127/8) is someone else's.
			if nft list table "$family" "$table" 2>/dev/null | sed -E 's/^[[:space:]]+//' |
				grep -vE '^$|^table |^}$|^#|^type [a-z]+ hook |^chain (KUBE-[A-Z-]+|INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) \{$|jump KUBE-[A-Z-]+$|^ip6? saddr != .* ct status dnat counter packets [0-9]+ bytes [0-9]+ drop$' |
				grep -q .; then
				log "leaving nftables table $family $table: it holds more than the kubelet's chains"
				continue
			fi
			log "deleting nftables table $family $table (the kubelet's chains)"
			nft delete table "$family" "$table" || true
		done
	done
}

teardown_network() {
	local link
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		# Pods' veths go with their network namespaces; drop any left on the bridge.
		for link in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
			ip link del "$link" 2>/dev/null || true
		done
		log "deleting bridge $BRIDGE"
		ip link del "$BRIDGE"
	fi
	ip route del unreachable "$CONTAINED" 2>/dev/null || true
}

restore_host() {
	[ -f "$HOST_STATE" ] || return 0
	local kind a b
	while read -r kind a b; do
		case "$kind" in
		sysctl) [ "$(sysctl -n "$a" 2>/dev/null)" = "$b" ] || sysctl -qw "$a=$b" || true ;;
		created)
			# Never a directory a system containerd or kubelet has started using since.
			if [ -e "$a" ] && [ ! -S "$a/containerd.sock" ] && [ ! -S "$a/kubelet.sock" ]; then
				log "removing $a (created by the cluster)"
				rm -rf --one-file-system "$a"
			fi
			;;
		esac
	done <"$HOST_STATE"
	# Pre-existing directories: drop our entries only (log links, CNI result cache).
	if [ -d /var/log/containers ]; then
		find /var/log/containers -maxdepth 1 -type l -lname "$DIR/*" -delete 2>/dev/null || true
	fi
	rm -f /var/lib/cni/results/outrigger-e2e-* 2>/dev/null || true
	rm -f "$HOST_STATE"
}

# --- containerd ------------------------------------------------------------------

# ctr_ ARGS...: ctr on the cluster's containerd, without its cgroup v1 deprecation notice.
ctr_() { "$BIN/ctr" -a "$SOCK" -n k8s.io "$@" 2> >(grep -v 'support for cgroup v1 is deprecated' >&2); }

kill_containers() {
	pid_of containerd >/dev/null || return 0
	local ids
	ids="$(ctr_ tasks ls -q 2>/dev/null || true)"
	[ -n "$ids" ] || return 0
	log "killing $(echo "$ids" | wc -l) container(s)"
	# shellcheck disable=SC2086 # one ID per word
	timeout 60 "$BIN/ctr" -a "$SOCK" -n k8s.io tasks rm -f $ids >/dev/null 2>&1 || true
}

# kill_shims: containerd-shim-runc-v2 processes of this containerd (found by socket).
kill_shims() {
	local p cmd pids=()
	for p in /proc/[0-9]*; do
		cmd="$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")" || continue
		case "$cmd" in
		*containerd-shim*"-address $SOCK"*) pids+=("${p#/proc/}") ;;
		esac
	done
	[ ${#pids[@]} -eq 0 ] && return 0
	log "killing leftover shims: ${pids[*]}"
	kill -KILL "${pids[@]}" 2>/dev/null || true
	sleep 0.2
}

import_images() {
	local t
	for t in "$@"; do
		ctr_ images import "$t" >/dev/null || die "importing $t failed"
	done
	log "imported: $(ctr_ images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
}

# --- commands --------------------------------------------------------------------

need_root() { [ "$(id -u)" = 0 ] || die "must run as root (it runs a kubelet and containerd)"; }

node_bin() {
	BIN="$(ENVTEST_K8S_VERSION="$K8S_VERSION" LOCALBIN="$LOCALBIN" "$ROOT/hack/node-binaries.sh" | tail -n 1)"
	[ -x "$BIN/kubelet" ] || die "hack/node-binaries.sh did not provide the binaries"
}

# Where the binaries are without building anything (down, status, import).
known_bin() {
	BIN="$LOCALBIN/node/${K8S_VERSION}-$(go env GOOS 2>/dev/null || echo linux)-$(go env GOARCH 2>/dev/null || echo amd64)"
	if [ -f "$ENV_FILE" ]; then
		local b
		b="$(sed -n 's/^OUTRIGGER_E2E_BIN=//p' "$ENV_FILE")"
		[ -n "$b" ] && BIN="$b"
	fi
}

all_running() {
	local c
	for c in "${START_ORDER[@]}"; do
		pid_of "$c" >/dev/null || return 1
	done
}

any_trace() {
	local c
	for c in "${START_ORDER[@]}"; do
		pid_of "$c" >/dev/null && return 0
	done
	[ -f "$HOST_STATE" ] || ip link show "$BRIDGE" >/dev/null 2>&1 ||
		awk -v d="$DIR/" 'index($5, d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo
}

check_ports() {
	local p busy=""
	for p in $ETCD_PORT $ETCD_PEER_PORT $APISERVER_PORT $KUBELET_PORT $KUBELET_HEALTHZ_PORT $KCM_PORT $SCHEDULER_PORT \
		$REGISTRY_PORT $KUBE_PROXY_METRICS_PORT $KUBE_PROXY_HEALTHZ_PORT; do
		[ -n "$(ss -Hltn "sport = :$p")" ] && busy+=" $p"
	done
	[ -z "$busy" ] || die "ports in use:$busy (see ss -ltnp); is another cluster running?"
}

cmd_up() {
	need_root
	if all_running && [ -f "$KUBECONFIG_PATH" ]; then
		log "already running"
		echo "$KUBECONFIG_PATH"
		return 0
	fi
	if any_trace; then
		log "a previous cluster left traces; cleaning up first"
		cmd_down
	fi
	# Socket paths (containerd, the kubelet's) must fit in 108 bytes.
	[ "${#DIR}" -le 60 ] || die "CLUSTER_DIR $DIR is too long for unix sockets; set CLUSTER_DIR to a path of at most 60 characters"
	local t0=$SECONDS
	node_bin
	log "building the test images"
	mapfile -t tarballs < <(cd "$ROOT" && go run ./test/e2e/images/build -out "$LOCALBIN/e2e-images" | awk '{ print $2 }')
	[ ${#tarballs[@]} -gt 0 ] || die "building the test images failed"
	check_ports

	rm -rf --one-file-system "$DIR/etcd" "$DIR/containerd" "$KUBELET_DIR" "$DIR/pod-logs" "$DIR/cni" "$PKI" "$DIR/kubeconfigs" "$LOGS" "$DIR/registry"
	mkdir -p "$DIR" "$PIDS" "$LOGS"
	UP_DONE=""
	trap up_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	make_pki
	write_configs
	setup_host

	start etcd --name=outrigger-e2e --data-dir="$DIR/etcd" \
		--listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster="outrigger-e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
		--unsafe-no-fsync=true --log-level=warn
	wait_for etcd 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health" || { check_alive etcd || true; die "etcd not healthy"; }

	# On the node IP: pods reach it there through the kubernetes Service (kube-proxy), as
	# the lease endpoint reconciler advertises it; the host's clients use it too.
	start kube-apiserver --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port="$APISERVER_PORT" \
		--etcd-servers="http://127.0.0.1:$ETCD_PORT" --cert-dir="$PKI/generated" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/ca.crt" \
		--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --allow-privileged=true \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" --enable-aggregator-routing=true \
		--endpoint-reconciler-type=lease \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
		--profiling=false --v=1
	wait_for kube-apiserver 90 curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$SERVER/readyz" ||
		{ check_alive kube-apiserver || true; die "kube-apiserver not ready"; }

	start kube-controller-manager --kubeconfig="$DIR/kubeconfigs/controller-manager" \
		--authentication-kubeconfig="$DIR/kubeconfigs/controller-manager" --authorization-kubeconfig="$DIR/kubeconfigs/controller-manager" \
		--bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
		--use-service-account-credentials=true --service-account-private-key-file="$PKI/sa.key" \
		--root-ca-file="$PKI/ca.crt" --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
		--cluster-name=outrigger-e2e --profiling=false --v=1
	start kube-scheduler --kubeconfig="$DIR/kubeconfigs/scheduler" \
		--authentication-kubeconfig="$DIR/kubeconfigs/scheduler" --authorization-kubeconfig="$DIR/kubeconfigs/scheduler" \
		--bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --leader-elect=false --profiling=false --v=1

	# The registry keeps manifests in memory: a new cluster starts with an empty one.
	start_as registry "$BIN/crane" registry serve --address="$REGISTRY" --disk="$DIR/registry"
	wait_for registry 30 curl -sf "http://$REGISTRY/v2/" || { check_alive registry || true; die "registry not answering on $REGISTRY"; }

	start containerd --config="$DIR/containerd/config.toml" --log-level=info
	wait_for containerd 30 ctr_ version || { check_alive containerd || true; die "containerd not answering on $SOCK"; }
	import_images "${tarballs[@]}"

	start kubelet --config="$DIR/kubelet-config.yaml" --kubeconfig="$DIR/kubeconfigs/kubelet" \
		--root-dir="$KUBELET_DIR" --cert-dir="$KUBELET_DIR/pki" \
		--hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1

	local kc=("$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH")
	log "waiting for node $NODE_NAME to be Ready"
	node_ready() { [ "$("${kc[@]}" get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }
	wait_for kubelet 120 node_ready || {
		check_alive kubelet || true
		check_alive containerd || true
		die "node $NODE_NAME not Ready after 120s; see $LOGS/kubelet.log"
	}
	start kube-proxy --config="$DIR/kube-proxy-config.yaml" --v=1
	wait_for kube-proxy 60 curl -sf "http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz" ||
		{ check_alive kube-proxy || true; die "kube-proxy not healthy; see $LOGS/kube-proxy.log"; }
	for c in kube-controller-manager kube-scheduler; do check_alive "$c" || die "$c exited"; done
	wait_for kube-controller-manager 60 "${kc[@]}" get serviceaccount default -n default ||
		die "no default service account; see $LOGS/kube-controller-manager.log"
	wait_for kube-controller-manager 60 "${kc[@]}" get configmap kube-root-ca.crt -n default ||
		die "no kube-root-ca.crt config map; see $LOGS/kube-controller-manager.log"
	UP_DONE=1

	cat >"$ENV_FILE" <<EOF
KUBECONFIG=$KUBECONFIG_PATH
OUTRIGGER_E2E_BIN=$BIN
OUTRIGGER_E2E_NODE=$NODE_NAME
OUTRIGGER_E2E_NODE_IP=$NODE_IP
OUTRIGGER_E2E_POD_SUBNET=$POD_SUBNET
OUTRIGGER_E2E_SERVICE_CIDR=$SERVICE_CIDR
OUTRIGGER_E2E_CONTAINERD_SOCK=$SOCK
OUTRIGGER_E2E_API_SERVER=$SERVER
OUTRIGGER_E2E_LOGS=$LOGS
OUTRIGGER_E2E_REGISTRY=$REGISTRY
EOF
	log "up in $((SECONDS - t0))s: node $NODE_NAME Ready; kubectl is $BIN/kubectl"
	echo "$KUBECONFIG_PATH"
}

# up_exit: when up fails half-way, stop what it started.
up_exit() {
	[ -n "${UP_DONE:-}" ] && return 0
	if [ -n "${KEEP_ON_FAILURE:-}" ]; then
		log "up failed; KEEP_ON_FAILURE is set: leaving it running (logs in $LOGS)"
		return 0
	fi
	log "up failed; stopping what it started (logs stay in $LOGS)"
	cmd_down || true
}

cmd_down() {
	need_root
	known_bin
	local c
	stop kube-proxy
	stop kubelet 30
	remove_nft_tables
	kill_containers
	stop containerd 15
	stop registry
	kill_shims
	kill_cgroup_processes
	remove_cgroups
	stop kube-controller-manager
	stop kube-scheduler
	stop kube-apiserver 30
	stop etcd
	# Anything still in the pid files (an older cluster's layout) goes too.
	for c in "${STOP_ORDER[@]}"; do stop "$c" 5; done
	unmount_all
	teardown_network
	restore_host
	if [ -d "$DIR" ]; then
		rm -rf --one-file-system "$DIR/etcd" "$DIR/containerd" "$KUBELET_DIR" "$DIR/pod-logs" "$DIR/cni" \
			"$PKI" "$DIR/kubeconfigs" "$KUBECONFIG_PATH" "$ENV_FILE" "$PIDS" "$DIR/resolv.conf" "$DIR/kubelet-config.yaml" \
			"$DIR/kube-proxy-config.yaml" "$DIR/registry"
	fi
	log "down"
}

cmd_status() {
	local c pid running=0 total=0
	for c in "${START_ORDER[@]}"; do
		total=$((total + 1))
		if pid="$(pid_of "$c")"; then
			running=$((running + 1))
			printf '%-24s running (pid %s)\n' "$c" "$pid"
		else
			printf '%-24s stopped\n' "$c"
		fi
	done
	if [ "$running" -gt 0 ] && pid_of kube-apiserver >/dev/null; then
		known_bin
		"$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" get nodes -o wide 2>/dev/null || true
	fi
	[ "$running" = "$total" ] && return 0
	[ "$running" = 0 ] && ! any_trace && return 3
	return 1
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
import)
	shift
	need_root
	known_bin
	pid_of containerd >/dev/null || die "containerd is not running; hack/cluster.sh up first"
	import_images "$@"
	;;
env) cat "$ENV_FILE" ;;
*)
	echo "usage: $0 up|down|status|import IMAGE.tar...|env" >&2
	exit 2
	;;
esac
