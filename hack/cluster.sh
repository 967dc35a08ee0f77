#!/usr/bin/env bash
# cluster.sh — a real, local Kubernetes control plane for chaos-agent's tests and demo.
#
#   hack/cluster.sh build   build etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
#                           kubectl and kwok (and Argo's workflow-controller with ARGO=1) from the
#                           Go module proxy into $KROOT/bin; binaries already present are reused
#   hack/cluster.sh up      start the cluster on 127.0.0.1 (TLS, client certs, RBAC), fake kwok
#                           nodes, Argo + Litmus CRDs; writes $KROOT/run/env and a kubeconfig
#   hack/cluster.sh down    stop every process it started, by PID (--purge also removes state)
#   hack/cluster.sh status  show what runs
#   hack/cluster.sh env     print the environment for clients (source it)
#
# Environment:
#   CHAOS_AGENT_CLUSTER_DIR  cache/state directory (default ~/.cache/chaos-agent/cluster)
#   ARGO=1                   also build/start Argo's workflow-controller (requires NETNS)
#   NETNS=name               run the whole cluster inside a private network namespace
#   ARGO_NAMESPACE           namespace the workflow-controller manages (default hce)
#   ARGO_INSTANCE_ID         controller instanceID (default: none)
#   KWOK_NODES               number of fake nodes (default 2)
set -Eeuo pipefail

K8S_VERSION=v1.35.4
K8S_STAGING_VERSION=v0.35.4
ETCD_VERSION=v3.6.5
KWOK_VERSION=v0.7.0
ARGO_VERSION=v3.7.4

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KROOT=${CHAOS_AGENT_CLUSTER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chaos-agent/cluster}
BIN=$KROOT/bin
RUN=$KROOT/run-${NETNS:-host}  # one state directory per network namespace: clusters in different netns can coexist
PKI=$RUN/pki
LOGS=$RUN/logs
PIDS=$RUN/pids
ARGO=${ARGO:-0}
NETNS=${NETNS:-}
ARGO_NAMESPACE=${ARGO_NAMESPACE:-hce}
ARGO_INSTANCE_ID=${ARGO_INSTANCE_ID:-}
KWOK_NODES=${KWOK_NODES:-2}

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------

stamp_ok() { [[ -x $BIN/$1 && -f $BIN/.$1.version && "$(cat "$BIN/.$1.version")" == "$2" ]]; }
stamp() { echo "$2" >"$BIN/.$1.version"; }

build_k8s() {
	local want="$K8S_VERSION" cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl) missing=()
	for c in "${cmds[@]}"; do stamp_ok "$c" "$want" || missing+=("$c"); done
	((${#missing[@]})) || return 0
	log "building ${missing[*]} $K8S_VERSION (cold: ~8 min on 2 cores)"
	local w=$KROOT/src/k8sbins
	mkdir -p "$w"
	local gomod
	gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | awk -F'"' '/"GoMod"/{print $4}')
	[[ -f $gomod ]] || die "cannot download k8s.io/kubernetes@$K8S_VERSION"
	{
		echo "module local/k8sbins"
		echo
		echo "go 1.25.0"
		echo
		echo "godebug default=go1.25"
		echo
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo
		echo "replace ("
		awk -v v="$K8S_STAGING_VERSION" '/^replace \(/{f=1;next} f&&/^\)/{f=0} f&&/=> \.\/staging/{print "\t" $1 " => " $1 " " v}' "$gomod"
		echo ")"
	} >"$w/go.mod"
	echo 'package tools' >"$w/tools.go"
	(
		cd "$w"
		for c in "${missing[@]}"; do go get "k8s.io/kubernetes/cmd/$c@$K8S_VERSION"; done
		local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
		local ld="-s -w"
		for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
			ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
		done
		local pkgs=()
		for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
		CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$BIN/" "${pkgs[@]}"
	)
	for c in "${missing[@]}"; do stamp "$c" "$want"; done
}

build_etcd() {
	stamp_ok etcd "$ETCD_VERSION" && return 0
	log "building etcd $ETCD_VERSION"
	local w=$KROOT/src/etcdbin
	mkdir -p "$w"
	printf 'module local/etcdbin\n\ngo 1.24\n' >"$w/go.mod"
	(cd "$w" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" &&
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
	stamp etcd "$ETCD_VERSION"
}

build_kwok() {
	stamp_ok kwok "$KWOK_VERSION" && return 0
	log "building kwok $KWOK_VERSION"
	CGO_ENABLED=0 GOBIN=$BIN go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
	stamp kwok "$KWOK_VERSION"
}

argo_dir() { go mod download -json "github.com/argoproj/argo-workflows/v3@$ARGO_VERSION" | awk -F'"' '/"Dir"/{print $4}'; }

build_argo() {
	stamp_ok workflow-controller "$ARGO_VERSION" && return 0
	log "building Argo workflow-controller $ARGO_VERSION"
	local w=$KROOT/src/argobins dir
	dir=$(argo_dir)
	mkdir -p "$w"
	{
		printf 'module local/argobins\n\ngo 1.24\n\nrequire github.com/argoproj/argo-workflows/v3 %s\n\n' "$ARGO_VERSION"
		# carry the upstream module's own replace lines over (go install ignores them)
		awk '/^replace \(/{f=1;next} f&&/^\)/{f=0;next} f{print "replace " $0} /^replace [^(]/{print}' "$dir/go.mod"
	} >"$w/go.mod"
	echo 'package tools' >"$w/tools.go"
	(cd "$w" && go get "github.com/argoproj/argo-workflows/v3/cmd/workflow-controller@$ARGO_VERSION" &&
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/workflow-controller" github.com/argoproj/argo-workflows/v3/cmd/workflow-controller)
	stamp workflow-controller "$ARGO_VERSION"
}

cmd_build() {
	command -v go >/dev/null || die "go is required"
	mkdir -p "$BIN"
	local t0=$SECONDS
	build_etcd
	build_kwok
	build_k8s
	[[ $ARGO == 1 ]] && build_argo
	log "build done in $((SECONDS - t0))s; binaries in $BIN"
}


# ---------------------------------------------------------------------------------------------
# up / down
# ---------------------------------------------------------------------------------------------

APISERVER_PORT=${APISERVER_PORT:-6443}
ETCD_PORT=${ETCD_PORT:-2379}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
KCM_PORT=${KCM_PORT:-10257}
SCHEDULER_PORT=${SCHEDULER_PORT:-10259}
KWOK_PORT=${KWOK_PORT:-10247}

in_ns() { if [[ -n $NETNS ]]; then ip netns exec "$NETNS" "$@"; else "$@"; fi; }
kc() { in_ns "$BIN/kubectl" --kubeconfig "$PKI/admin.kubeconfig" "$@"; }

# start NAME CMD... — start a process in the background and record the PID of the real process
start() {
	local name=$1
	shift
	log "starting $name"
	if [[ -n $NETNS ]]; then
		# ip netns exec execs the command after entering the namespace: $! is the process itself
		nohup ip netns exec "$NETNS" "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
	else
		nohup "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
	fi
	echo "$!" >"$PIDS/$name"
	echo "$name" >>"$PIDS/.order"
}

# mkcert NAME CN ORG EKU [SAN]
mkcert() {
	local name=$1 cn=$2 org=$3 eku=$4 san=${5:-}
	local subj="/CN=$cn"
	[[ -n $org ]] && subj="/O=$org/CN=$cn"
	openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
	openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$eku"
		[[ -n $san ]] && echo "subjectAltName=$san"
	} >"$PKI/$name.ext"
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 3650 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
	rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}

# kubeconfig NAME USER — a kubeconfig with embedded CA and client certificate
kubeconfig() {
	local name=$1 user=$2
	cat >"$PKI/$name.kubeconfig" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$name.crt")
    client-key-data: $(base64 -w0 <"$PKI/$name.key")
contexts:
- name: local
  context: {cluster: local, user: $user}
current-context: local
KCFG
	chmod 600 "$PKI/$name.kubeconfig"
}

make_pki() {
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
	openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=chaos-agent-local-ca" -days 3650 -out "$PKI/ca.crt" 2>/dev/null
	mkcert apiserver kube-apiserver "" serverAuth \
		"IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	mkcert admin admin system:masters clientAuth
	mkcert controller-manager system:kube-controller-manager "" clientAuth
	mkcert scheduler system:kube-scheduler "" clientAuth
	openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
	openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	kubeconfig admin admin
	kubeconfig controller-manager system:kube-controller-manager
	kubeconfig scheduler system:kube-scheduler
}

running() { [[ -f $PIDS/$1 ]] && kill -0 "$(cat "$PIDS/$1")" 2>/dev/null; }

wait_for() { # wait_for DESCRIPTION SECONDS CMD...
	local what=$1 limit=$2 t0=$SECONDS
	shift 2
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS - t0 >= limit)); then
			log "timed out after ${limit}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

dump_logs() {
	for f in "$LOGS"/*.log; do
		[[ -f $f ]] || continue
		echo "----- $(basename "$f") (last 30 lines) -----" >&2
		tail -n 30 "$f" >&2
	done
}

cmd_up() {
	for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
		[[ -x $BIN/$b ]] || die "$BIN/$b is missing: run '$0 build' first"
	done
	if [[ $ARGO == 1 ]]; then
		[[ -x $BIN/workflow-controller ]] || die "$BIN/workflow-controller is missing: run 'ARGO=1 $0 build'"
		[[ -n $NETNS ]] || die "ARGO=1 needs NETNS=<name>: the workflow-controller listens on *:6060"
	fi
	if [[ -f $PIDS/.order ]]; then
		local alive=0
		while read -r n; do running "$n" && alive=1; done <"$PIDS/.order"
		((alive)) && die "a cluster is already running (state in $RUN): '$0 down' first"
	fi
	local t0=$SECONDS
	rm -rf "$RUN"
	mkdir -p "$RUN" "$LOGS" "$PIDS" "$RUN/kwok"
	: >"$PIDS/.order"
	if [[ -n $NETNS ]]; then
		ip netns del "$NETNS" 2>/dev/null || true
		ip netns add "$NETNS"
		ip netns exec "$NETNS" ip link set lo up
		echo "$NETNS" >"$RUN/netns"
	fi
	# Fail loudly and clean up whatever was started if anything below goes wrong.
	trap 'log "cluster failed to start; logs follow"; dump_logs; cmd_down; exit 1' ERR

	make_pki

	start etcd "$BIN/etcd" --name local --data-dir "$RUN/etcd" --unsafe-no-fsync \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "local=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" --log-level warn

	start kube-apiserver "$BIN/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
		--endpoint-reconciler-type none \
		--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
		--client-ca-file "$PKI/ca.crt" \
		--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--authorization-mode Node,RBAC \
		--service-cluster-ip-range 10.0.0.0/24 \
		--allow-privileged=true --profiling=false

	wait_for "kube-apiserver /readyz" 60 kc get --raw /readyz

	start kube-controller-manager "$BIN/kube-controller-manager" \
		--kubeconfig "$PKI/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$PKI/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$PKI/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
		--service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
		--use-service-account-credentials=true --leader-elect=false \
		--controllers '*,-nodeipam,-cloud-node-lifecycle' --profiling=false

	start kube-scheduler "$BIN/kube-scheduler" \
		--kubeconfig "$PKI/scheduler.kubeconfig" \
		--authentication-kubeconfig "$PKI/scheduler.kubeconfig" \
		--authorization-kubeconfig "$PKI/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false --profiling=false

	# kwok: fake nodes; our pod stages (hack/kwok) replace kwok's defaults.
	install -m 644 "$REPO"/hack/kwok/*.yaml "$RUN/kwok/"
	local cfgs=()
	for f in "$RUN"/kwok/*.yaml; do cfgs+=(-c "$f"); done
	start kwok "$BIN/kwok" --kubeconfig "$PKI/admin.kubeconfig" \
		--manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--cidr 10.244.0.0/16 --node-ip 127.0.0.1 --server-address "127.0.0.1:$KWOK_PORT" "${cfgs[@]}" \
		--node-lease-duration-seconds 40
	# Without a lease duration, kwok v0.7.0 neither renews node Leases nor posts node status more
	# often than every 10 minutes, so the node lifecycle controller marks the nodes NotReady
	# every ~50 s and flips every pod's Ready condition to False.

	local i zones=(zone-a zone-b zone-c)
	for ((i = 0; i < KWOK_NODES; i++)); do
		kc apply -f - >/dev/null <<NODE
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    topology.kubernetes.io/zone: ${zones[i % 3]}
    chaos-agent.io/node-index: "$i"
NODE
	done

	# CRDs: Argo Workflows from the pinned module, Litmus from our manifests.
	local ad
	ad=$(argo_dir)
	kc apply --server-side -k "$ad/manifests/base/crds/${ARGO_CRDS:-full}" >/dev/null
	kc apply --server-side -f "$REPO/manifests/crds/litmus/" >/dev/null
	wait_for "CRDs Established" 60 kc wait --for condition=established --timeout 5s crd --all
	wait_for "kwok nodes Ready" 60 kc wait --for condition=Ready --timeout 1s node --all
	wait_for "default ServiceAccount" 60 kc get serviceaccount default -n default

	if [[ $ARGO == 1 ]]; then
		kc create namespace "$ARGO_NAMESPACE" --dry-run=client -o yaml | kc apply -f - >/dev/null
		kc apply -f - >/dev/null <<CM
apiVersion: v1
kind: ConfigMap
metadata:
  name: workflow-controller-configmap
  namespace: $ARGO_NAMESPACE
data:
  metricsConfig: "{enabled: false}"
  telemetryConfig: "{enabled: false}"
  # No registry is reachable: tell Argo's emissary the entrypoints of the ChaosHub step images.
  images: |
    chaosnative/litmus-checker:2.11.0: {cmd: [/litmus-checker]}
    docker.io/chaosnative/litmus-checker:2.11.0: {cmd: [/litmus-checker]}
    litmuschaos/litmus-checker:latest: {cmd: [/litmus-checker]}
    chaosnative/k8s:2.11.0: {cmd: [/bin/sh]}
    litmuschaos/k8s:latest: {cmd: [/bin/sh]}
${ARGO_INSTANCE_ID:+  instanceID: "$ARGO_INSTANCE_ID"}
CM
		start workflow-controller env LEADER_ELECTION_DISABLE=true DEFAULT_REQUEUE_TIME=1s \
			"$BIN/workflow-controller" --kubeconfig "$PKI/admin.kubeconfig" \
			--namespaced --namespace "$ARGO_NAMESPACE" --managed-namespace "$ARGO_NAMESPACE" \
			--executor-image argoexec:local --configmap workflow-controller-configmap
		wait_for "workflow-controller /healthz" 60 in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/6060'
	fi
	trap - ERR

	cat >"$RUN/env" <<ENV
export KUBECONFIG=$PKI/admin.kubeconfig
export CHAOS_AGENT_TEST_KUBECONFIG=$PKI/admin.kubeconfig
export CHAOS_AGENT_TEST_NETNS=$NETNS
export CHAOS_AGENT_TEST_ARGO=$ARGO
export CHAOS_AGENT_TEST_ARGO_NAMESPACE=$ARGO_NAMESPACE
export CHAOS_AGENT_TEST_ARGO_INSTANCE_ID=$ARGO_INSTANCE_ID
export CHAOS_AGENT_TEST_KUBECTL=$BIN/kubectl
ENV
	log "cluster up in $((SECONDS - t0))s (netns: ${NETNS:-none}, argo: $ARGO)"
	log "use it with: source $RUN/env${NETNS:+ and run clients with: ip netns exec $NETNS ...}"
}

# stop NAME — SIGTERM, wait up to 5 s, then SIGKILL
stop() {
	local name=$1 pid
	[[ -f $PIDS/$name ]] || return 0
	pid=$(cat "$PIDS/$name")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		local i
		for ((i = 0; i < 50; i++)); do
			# a zombie counts as stopped
			if ! kill -0 "$pid" 2>/dev/null || [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" == Z ]]; then
				break
			fi
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]; then
			log "$name ($pid) did not stop in 5s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$PIDS/$name"
}

cmd_down() {
	local purge=0
	[[ ${1:-} == --purge ]] && purge=1
	if [[ -f $PIDS/.order ]]; then
		local names
		mapfile -t names < <(tac "$PIDS/.order")
		for n in "${names[@]}"; do stop "$n"; done
		rm -f "$PIDS/.order"
	fi
	if [[ -f $RUN/netns ]]; then
		ip netns del "$(cat "$RUN/netns")" 2>/dev/null || true
		rm -f "$RUN/netns"
	fi
	((purge)) && rm -rf "$RUN"
	log "cluster stopped"
}

cmd_status() {
	[[ -f $PIDS/.order ]] || { echo "not running"; return 1; }
	local rc=0
	while read -r n; do
		if running "$n"; then echo "$n: running (pid $(cat "$PIDS/$n"))"; else echo "$n: STOPPED"; rc=1; fi
	done <"$PIDS/.order"
	return $rc
}

case "${1:-}" in
build) cmd_build ;;
up) cmd_up ;;
down) shift; cmd_down "$@" ;;
status) cmd_status ;;
env) cat "$RUN/env" ;;
envfile) echo "$RUN/env" ;;
*) sed -n '2,20p' "$0"; exit 2 ;;
esac
