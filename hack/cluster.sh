#!/usr/bin/env bash
# cluster.sh — a real, local Kubernetes control plane for chaos-agent's tests and demo.
#
#   hack/cluster.sh build   build etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
#                           kubectl and kwok (and Argo's workflow-controller with ARGO=1; the real
#                           node's binaries and images with REAL_NODE=1) from the Go module proxy
#                           into $KROOT/bin; binaries already present are reused
#   hack/cluster.sh images  build the image archives (docker-archive tars) into $KROOT/images:
#                           chaos-agent (from this working tree, every time), the e2e app, pause,
#                           CoreDNS, Argo's workflow-controller and argoexec, the Argo step images
#   hack/cluster.sh up      start the cluster (TLS, client certs, RBAC), fake kwok nodes, Argo +
#                           Litmus CRDs; with REAL_NODE=1 also a real node (containerd, kubelet,
#                           CNI bridge, kube-proxy, CoreDNS) with the images imported
#   hack/cluster.sh down    stop every process it started, by PID, and clean up after the real
#                           node (containers, mounts, cgroups, network namespaces); --purge also
#                           removes the state
#   hack/cluster.sh status  show what runs
#   hack/cluster.sh env     print export lines for clients: eval "$(hack/cluster.sh env)"
#   hack/cluster.sh envfile print the path of the same lines as a file (source it)
#
# Environment:
#   CHAOS_AGENT_CLUSTER_DIR  cache/state directory (default ~/.cache/chaos-agent/cluster)
#   ARGO=1                   also build/start Argo's workflow-controller (requires NETNS)
#   REAL_NODE=1              also build/start a real node (requires NETNS and root; one per machine)
#   NETNS=name               run the whole cluster inside a private network namespace; env, down
#                            and status find the one running cluster when NETNS is unset
#   ARGO_NAMESPACE           namespace the workflow-controller manages (default hce)
#   ARGO_INSTANCE_ID         controller instanceID (default: none)
#   KWOK_NODES               number of fake nodes (default 2)
#   REAL_NODE_NAME           the real node's name (default real-node)
#   REAL_NODE_CGROUP_ROOT    cgroup (v1) under which the real node's pods run (default /chaos-agent-$NETNS)
set -Eeuo pipefail

K8S_VERSION=v1.35.4
K8S_STAGING_VERSION=v0.35.4
ETCD_VERSION=v3.6.5
KWOK_VERSION=v0.7.0
ARGO_VERSION=v3.7.18
CNI_VERSION=v1.10.0
COREDNS_VERSION=v1.14.7
PAUSE_IMAGE=registry.k8s.io/pause:3.10.1
# Bump when the layout of a cached image changes: its archive is rebuilt.
IMAGES_REV=1

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KROOT=${CHAOS_AGENT_CLUSTER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/chaos-agent/cluster}
BIN=$KROOT/bin
IMAGES=$KROOT/images
ARGO=${ARGO:-0}
REAL_NODE=${REAL_NODE:-0}
NETNS=${NETNS:-}
ARGO_NAMESPACE=${ARGO_NAMESPACE:-hce}
ARGO_INSTANCE_ID=${ARGO_INSTANCE_ID:-}
KWOK_NODES=${KWOK_NODES:-2}

# The real node's network, all inside the private network namespace (no route out of it).
NODE_NAME=${REAL_NODE_NAME:-real-node}
NODE_IP=192.168.123.1 # on a veth pair whose both ends are in the namespace
POD_CIDR=10.85.0.0/24 # the node's CNI bridge; kwok's invented pod IPs are 10.244.0.0/16
SERVICE_CIDR=10.0.0.0/24
DNS_IP=10.0.0.10
REAL_NODE_LOCK=/run/chaos-agent-real-node

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# set_run — the state paths of the cluster in $NETNS (one state directory per network namespace:
# clusters in different namespaces can coexist).
set_run() {
	RUN=$KROOT/run-${NETNS:-host}
	PKI=$RUN/pki
	LOGS=$RUN/logs
	PIDS=$RUN/pids
	NODE=$RUN/node                 # the real node's configuration and state
	SOCK=$NODE/containerd.sock     # our own containerd: never the machine's
	CGROUP_ROOT=${REAL_NODE_CGROUP_ROOT:-/chaos-agent-${NETNS:-host}}
	CNI_NET=chaos-agent-${NETNS:-host}
}
set_run

# pick_cluster — with NETNS unset and no cluster in the host namespace, use the only running
# cluster (env, status and down then work in a fresh shell after `NETNS=x cluster.sh up`).
pick_cluster() {
	[[ -n $NETNS || -f $KROOT/run-host/pids/.order ]] && return 0
	local f n found=()
	for f in "$KROOT"/run-*/netns; do
		[[ -f $f ]] || continue
		n=$(cat "$f")
		[[ -e /run/netns/$n ]] && found+=("$n")
	done
	if ((${#found[@]} == 1)); then
		NETNS=${found[0]}
		set_run
		log "using the cluster in network namespace $NETNS (set NETNS to choose another)"
	elif ((${#found[@]} > 1)); then
		die "clusters run in several network namespaces (${found[*]}): set NETNS"
	fi
}

# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------

stamp_ok() { [[ -x $BIN/$1 && -f $BIN/.$1.version && "$(cat "$BIN/.$1.version")" == "$2" ]]; }
stamp() { echo "$2" >"$BIN/.$1.version"; }

# ensure_packages — the Debian packages the real node needs, installed when missing.
ensure_packages() {
	local need=()
	command -v containerd >/dev/null || need+=(containerd)
	command -v ctr >/dev/null || need+=(containerd)
	command -v runc >/dev/null || need+=(runc)
	command -v iptables >/dev/null || need+=(iptables)
	command -v nsenter >/dev/null || need+=(util-linux)
	# a static busybox: the images have no libc (ldd fails on a static binary)
	[[ -x /bin/busybox ]] && /bin/busybox --list >/dev/null 2>&1 && ! ldd /bin/busybox >/dev/null 2>&1 || need+=(busybox-static)
	[[ -f /etc/ssl/certs/ca-certificates.crt ]] || need+=(ca-certificates)
	[[ -d /usr/share/zoneinfo ]] || need+=(tzdata)
	((${#need[@]})) || return 0
	[[ $(id -u) == 0 ]] || die "the real node needs these Debian packages: ${need[*]} (run as root to install them)"
	log "installing Debian packages: ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

build_k8s() {
	local want="$K8S_VERSION" cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl) missing=()
	[[ $REAL_NODE == 1 ]] && cmds+=(kubelet kube-proxy)
	for c in "${cmds[@]}"; do stamp_ok "$c" "$want" || missing+=("$c"); done
	((${#missing[@]})) || return 0
	log "building ${missing[*]} $K8S_VERSION (cold: ~8 min on 2 cores, +2 min for kubelet and kube-proxy)"
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

# build_argo — workflow-controller (ARGO=1) and argoexec (REAL_NODE=1: the executor image).
# argoexec does not build from the module cache: upstream's
# workflow/executor/osspecific/signal_linux.go is a symlink to signal_darwin.go, and module zips
# drop symlinks. So both build from a writable copy of the module with that file restored.
build_argo() {
	local cmds=() missing=()
	[[ $ARGO == 1 ]] && cmds+=(workflow-controller)
	[[ $REAL_NODE == 1 ]] && cmds+=(workflow-controller argoexec)
	for c in $(printf '%s\n' "${cmds[@]}" | sort -u); do stamp_ok "$c" "$ARGO_VERSION" || missing+=("$c"); done
	((${#missing[@]})) || return 0
	log "building Argo ${missing[*]} $ARGO_VERSION (cold: ~3 min for the controller, ~7 min for argoexec)"
	local dir w=$KROOT/src/argobins src=$KROOT/src/argo-workflows-$ARGO_VERSION
	dir=$(argo_dir)
	[[ -d $dir ]] || die "cannot download github.com/argoproj/argo-workflows/v3@$ARGO_VERSION"
	if [[ ! -f $src/.complete ]]; then
		rm -rf "$src"
		mkdir -p "$src"
		(cd "$dir" && tar --exclude=./sdks --exclude=./docs --exclude=./ui -cf - .) | tar -C "$src" -xf -
		chmod -R u+w "$src"
		local osdir=$src/workflow/executor/osspecific
		[[ -f $osdir/signal_linux.go ]] || cp "$osdir/signal_darwin.go" "$osdir/signal_linux.go"
		touch "$src/.complete"
	fi
	mkdir -p "$w"
	{
		printf 'module local/argobins\n\ngo 1.24\n\nrequire github.com/argoproj/argo-workflows/v3 %s\n\n' "$ARGO_VERSION"
		printf 'replace github.com/argoproj/argo-workflows/v3 => %s\n' "$src"
		# carry the upstream module's own replace lines over (a dependency's replaces are ignored)
		awk '/^replace \(/{f=1;next} f&&/^\)/{f=0;next} f{print "replace " $0} /^replace [^(]/{print}' "$dir/go.mod"
	} >"$w/go.mod"
	echo 'package tools' >"$w/tools.go"
	(
		cd "$w"
		local pkgs=()
		for c in "${missing[@]}"; do pkgs+=("github.com/argoproj/argo-workflows/v3/cmd/$c"); done
		local c
		for c in "${missing[@]}"; do go get "github.com/argoproj/argo-workflows/v3/cmd/$c@$ARGO_VERSION"; done
		local ld="-s -w -X github.com/argoproj/argo-workflows/v3.version=$ARGO_VERSION -X github.com/argoproj/argo-workflows/v3.gitTreeState=clean"
		CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$BIN/" "${pkgs[@]}"
	)
	for c in "${missing[@]}"; do stamp "$c" "$ARGO_VERSION"; done
}

build_cni() {
	local plugins=(main/bridge ipam/host-local main/loopback meta/portmap) p ok=1
	for p in "${plugins[@]}"; do [[ -x $BIN/cni/${p#*/} ]] || ok=0; done
	[[ $ok == 1 && -f $BIN/cni/.version && "$(cat "$BIN/cni/.version")" == "$CNI_VERSION" ]] && return 0
	log "building the CNI plugins $CNI_VERSION"
	mkdir -p "$BIN/cni"
	local pkgs=()
	for p in "${plugins[@]}"; do pkgs+=("github.com/containernetworking/plugins/plugins/$p@$CNI_VERSION"); done
	CGO_ENABLED=0 GOBIN=$BIN/cni go install -trimpath -ldflags "-s -w" "${pkgs[@]}"
	echo "$CNI_VERSION" >"$BIN/cni/.version"
}

# build_coredns — CoreDNS with only the plugins the cluster's Corefile uses.
build_coredns() {
	stamp_ok coredns "$COREDNS_VERSION" && return 0
	log "building CoreDNS $COREDNS_VERSION (minimal plugin set)"
	local w=$KROOT/src/coredns
	mkdir -p "$w"
	printf 'module local/coredns\n\ngo 1.25.0\n' >"$w/go.mod"
	cat >"$w/main.go" <<'GO'
// CoreDNS for the local cluster: only the plugins its Corefile uses.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }
GO
	(cd "$w" && go get "github.com/coredns/coredns@$COREDNS_VERSION" && go mod tidy &&
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/coredns" .)
	stamp coredns "$COREDNS_VERSION"
}

# src_hash FILES... — a short content hash (stamps of the tools built from this repository)
src_hash() { cat "$@" | sha256sum | cut -c1-16; }

build_tools() {
	local h
	h=$(src_hash "$REPO"/hack/mkimage/go.mod "$REPO"/hack/mkimage/go.sum "$REPO"/hack/mkimage/*.go)
	if ! stamp_ok mkimage "$h"; then
		log "building hack/mkimage (go-containerregistry, a module of its own)"
		(cd "$REPO/hack/mkimage" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/mkimage" .)
		stamp mkimage "$h"
	fi
	h=$(src_hash "$REPO"/hack/pause/*.go)
	if ! stamp_ok pause "$h"; then
		(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/pause" ./hack/pause)
		stamp pause "$h"
	fi
}

cmd_build() {
	command -v go >/dev/null || die "go is required"
	mkdir -p "$BIN"
	local t0=$SECONDS
	[[ $REAL_NODE == 1 ]] && ensure_packages
	build_etcd
	build_kwok
	build_k8s
	[[ $ARGO == 1 || $REAL_NODE == 1 ]] && build_argo
	if [[ $REAL_NODE == 1 ]]; then
		build_cni
		build_coredns
		build_tools
		build_images
	fi
	log "build done in $((SECONDS - t0))s; binaries in $BIN"
}

# ---------------------------------------------------------------------------------------------
# images (docker-archive tars built with hack/mkimage; imported into the real node's containerd)
# ---------------------------------------------------------------------------------------------

AGENT_VERSION=${VERSION:-$(git -C "$REPO" describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)}
AGENT_COMMIT=${COMMIT:-$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)}
CHAOS_AGENT_IMAGE=${CHAOS_AGENT_IMAGE:-ghcr.io/chaos-agent/chaos-agent:$AGENT_VERSION}
E2E_APP_IMAGE=chaos-agent.local/e2e-app:$AGENT_VERSION
COREDNS_IMAGE=chaos-agent.local/coredns:$COREDNS_VERSION
ARGO_CONTROLLER_IMAGE=quay.io/argoproj/workflow-controller:$ARGO_VERSION
ARGOEXEC_IMAGE=quay.io/argoproj/argoexec:$ARGO_VERSION
# The Argo step images of ChaosHub / ChaosCenter Workflows, under the names those Workflows use.
K8S_STEP_IMAGES=(chaos-agent.local/k8s:$K8S_VERSION chaosnative/k8s:2.11.0 litmuschaos/k8s:latest litmuschaos/k8s:3.31.0)
CHECKER_IMAGES=(chaos-agent.local/litmus-checker:$AGENT_VERSION chaosnative/litmus-checker:2.11.0 litmuschaos/litmus-checker:latest litmuschaos/litmus-checker:3.31.0)
DEFAULT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# passwd_files DIR USER UID HOME — /etc/passwd and /etc/group with root, nobody and USER
passwd_files() {
	local d=$1 user=$2 uid=$3 home=$4
	mkdir -p "$d"
	{
		echo "root:x:0:0:root:/root:/sbin/nologin"
		echo "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin"
		[[ $user == root ]] || echo "$user:x:$uid:$uid:$user:$home:/sbin/nologin"
	} >"$d/passwd"
	{
		echo "root:x:0:"
		echo "nobody:x:65534:"
		[[ $user == root ]] || echo "$user:x:$uid:"
	} >"$d/group"
	printf 'hosts: files dns\n' >"$d/nsswitch.conf"
}

# BUSYBOX: mkimage arguments for /bin/busybox and a symlink per applet
busybox_args() {
	BUSYBOX=(-file /bin/busybox:/bin/busybox:0755)
	local a
	for a in $(/bin/busybox --list); do
		[[ $a == busybox ]] || BUSYBOX+=(-symlink "/bin/$a:busybox")
	done
}

# image NAME KEY MKIMAGE-ARGS... — build $IMAGES/NAME.tar unless its stamp says KEY
image() {
	local name=$1 key="rev=$IMAGES_REV $2"
	shift 2
	if [[ -f $IMAGES/$name.tar && -f $IMAGES/.$name.version && "$(cat "$IMAGES/.$name.version")" == "$key" ]]; then
		return 0
	fi
	"$BIN/mkimage" -o "$IMAGES/$name.tar" "$@"
	echo "$key" >"$IMAGES/.$name.version"
	log "image $name: $(du -h "$IMAGES/$name.tar" | cut -f1)"
}

build_images() {
	local b
	for b in mkimage pause kubectl workflow-controller argoexec coredns; do
		[[ -x $BIN/$b ]] || die "$BIN/$b is missing: run 'REAL_NODE=1 $0 build' first"
	done
	mkdir -p "$IMAGES"
	local w=$IMAGES/work t0=$SECONDS
	rm -rf "$w"
	mkdir -p "$w"
	busybox_args

	image pause "pause=$(cat "$BIN/.pause.version")" -tag "$PAUSE_IMAGE" \
		-file "$BIN/pause:/pause:0755" -entrypoint '["/pause"]' -user 65535:65535

	passwd_files "$w/argo" argo 8737 /home/argo
	local argo_common=(-file "$w/argo/passwd:/etc/passwd:0644" -file "$w/argo/group:/etc/group:0644"
		-file /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:0644
		-dir /tmp:1777 -dir /home/argo:0755:8737:8737 -user 8737 -workdir /home/argo -env "PATH=$DEFAULT_PATH")
	image workflow-controller "argo=$ARGO_VERSION" -tag "$ARGO_CONTROLLER_IMAGE" "${argo_common[@]}" \
		-file "$BIN/workflow-controller:/bin/workflow-controller:0755" -entrypoint '["workflow-controller"]'
	# argoexec: its init container copies /bin/argoexec into the pod; emissary and script steps need a shell.
	image argoexec "argo=$ARGO_VERSION busybox=$(/bin/busybox | head -1 | awk '{print $2}')" -tag "$ARGOEXEC_IMAGE" \
		"${argo_common[@]}" "${BUSYBOX[@]}" -file "$BIN/argoexec:/bin/argoexec:0755" -entrypoint '["argoexec"]'

	passwd_files "$w/nonroot" nonroot 65532 /home/nonroot
	image coredns "coredns=$COREDNS_VERSION" -tag "$COREDNS_IMAGE" \
		-file "$BIN/coredns:/coredns:0755" -file "$w/nonroot/passwd:/etc/passwd:0644" -file "$w/nonroot/group:/etc/group:0644" \
		-user 65532:65532 -entrypoint '["/coredns"]'

	# The install/cleanup step image: kubectl and a shell. Steps run as any user (the seed
	# Workflow uses 1000): HOME=/tmp gives kubectl a writable cache directory.
	local tags=() t
	for t in "${K8S_STEP_IMAGES[@]}"; do tags+=(-tag "$t"); done
	image k8s-step "kubectl=$K8S_VERSION busybox=$(/bin/busybox | head -1 | awk '{print $2}')" "${tags[@]}" \
		"${BUSYBOX[@]}" -file "$BIN/kubectl:/usr/local/bin/kubectl:0755" -file "$w/nonroot/passwd:/etc/passwd:0644" \
		-file "$w/nonroot/group:/etc/group:0644" -file /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:0644 \
		-dir /tmp:1777 -env "PATH=$DEFAULT_PATH" -env HOME=/tmp -entrypoint '["/bin/sh"]'

	# From this working tree, every time: chaos-agent (the Dockerfile's content, see
	# hack/images/dockerfile_test.go), the fault-step image (chaos-agent check, litmus-checker's
	# drop-in) and the e2e app.
	log "building chaos-agent $AGENT_VERSION and the e2e app"
	local ld="-s -w -X github.com/chaos-agent/chaos-agent/internal/version.version=$AGENT_VERSION -X github.com/chaos-agent/chaos-agent/internal/version.commit=$AGENT_COMMIT"
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$w/chaos-agent" ./cmd/chaos-agent &&
		CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$w/e2eapp" ./hack/e2eapp)
	local agent_files=(-file "$w/chaos-agent:/usr/local/bin/chaos-agent:0755"
		-file "$w/nonroot/passwd:/etc/passwd:0644" -file "$w/nonroot/group:/etc/group:0644" -file "$w/nonroot/nsswitch.conf:/etc/nsswitch.conf:0644"
		-file /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:0644 -tree /usr/share/zoneinfo:/usr/share/zoneinfo
		-dir /tmp:1777 -dir /home/nonroot:0700:65532:65532 -dir /root:0700
		-env "PATH=$DEFAULT_PATH" -env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt -workdir /home/nonroot)
	rm -f "$IMAGES"/.chaos-agent.version "$IMAGES"/.litmus-checker.version "$IMAGES"/.e2e-app.version
	image chaos-agent "agent=$AGENT_VERSION" -tag "$CHAOS_AGENT_IMAGE" "${agent_files[@]}" -user 65532:65532 \
		-entrypoint '["/usr/local/bin/chaos-agent"]' -cmd '["serve"]' \
		-label org.opencontainers.image.title=chaos-agent \
		-label org.opencontainers.image.source=https://github.com/chaos-agent/chaos-agent \
		-label "org.opencontainers.image.version=$AGENT_VERSION" -label "org.opencontainers.image.revision=$AGENT_COMMIT"
	tags=()
	for t in "${CHECKER_IMAGES[@]}"; do tags+=(-tag "$t"); done
	image litmus-checker "agent=$AGENT_VERSION" "${tags[@]}" "${agent_files[@]}" -user 65532:65532 \
		-entrypoint '["/usr/local/bin/chaos-agent","check"]'
	image e2e-app "agent=$AGENT_VERSION" -tag "$E2E_APP_IMAGE" -file "$w/e2eapp:/e2eapp:0755" \
		-file "$w/nonroot/passwd:/etc/passwd:0644" -file "$w/nonroot/group:/etc/group:0644" -dir /tmp:1777 \
		-user 65532:65532 -entrypoint '["/e2eapp"]'
	cp "$w/chaos-agent" "$IMAGES/chaos-agent.bin"
	rm -rf "$w"
	log "images ready in $((SECONDS - t0))s in $IMAGES"
}

cmd_images() {
	command -v go >/dev/null || die "go is required"
	REAL_NODE=1
	ARGO=1
	cmd_build
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
node_ctr() { ctr -a "$SOCK" -n k8s.io "$@"; }

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

# start_node NAME CMD... — like start, for the real node's daemons: they enter only the network
# namespace (nsenter --net). `ip netns exec` would also give them a private mount namespace with
# a fresh /sys, without the cgroup mounts kubelet needs, and would hide the kubelet's volume
# mounts from containerd. nsenter execs the command: $! is the daemon itself.
start_node() {
	local name=$1
	shift
	log "starting $name"
	nohup nsenter "--net=/run/netns/$NETNS" -- "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
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
	local san="IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	[[ $REAL_NODE == 1 ]] && san+=",IP:$NODE_IP"
	mkcert apiserver kube-apiserver "" serverAuth "$san"
	mkcert admin admin system:masters clientAuth
	mkcert controller-manager system:kube-controller-manager "" clientAuth
	mkcert scheduler system:kube-scheduler "" clientAuth
	openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
	openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	kubeconfig admin admin
	kubeconfig controller-manager system:kube-controller-manager
	kubeconfig scheduler system:kube-scheduler
	if [[ $REAL_NODE == 1 ]]; then
		mkcert kubelet "system:node:$NODE_NAME" system:nodes clientAuth
		mkcert kubelet-serving "system:node:$NODE_NAME" system:nodes serverAuth "DNS:$NODE_NAME,IP:$NODE_IP"
		mkcert kube-proxy system:kube-proxy "" clientAuth
		mkcert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters clientAuth
		kubeconfig kubelet "system:node:$NODE_NAME"
		kubeconfig kube-proxy system:kube-proxy
	fi
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

# ---------------------------------------------------------------------------------------------
# the real node
# ---------------------------------------------------------------------------------------------

# Paths outside the state directory that containerd 1.6 and the kubelet use whatever they are
# told. `down` removes what we put there, and each directory if it did not exist before our
# first real node on this machine (recorded in $KROOT/real-node-preexisting).
GLOBAL_DIRS=(/run/containerd /run/containerd/s /var/lib/cni /var/lib/cni/results /var/log/containers
	/var/lib/kubelet /var/lib/kubelet/device-plugins)

node_preflight() {
	[[ $(id -u) == 0 ]] || die "REAL_NODE=1 needs root (network namespaces, mounts, cgroups, iptables)"
	[[ -n $NETNS ]] || die "REAL_NODE=1 needs NETNS=<name>: the real node runs only inside a private network namespace"
	for b in kubelet kube-proxy coredns; do
		[[ -x $BIN/$b ]] || die "$BIN/$b is missing: run 'REAL_NODE=1 $0 build' first"
	done
	[[ -x $BIN/cni/bridge ]] || die "the CNI plugins are missing: run 'REAL_NODE=1 $0 build' first"
	for b in containerd ctr runc iptables nsenter; do
		command -v "$b" >/dev/null || die "$b is missing: run 'REAL_NODE=1 $0 build' (it installs the Debian packages)"
	done
	((${#SOCK} < 100)) || die "containerd's socket path $SOCK is too long for a unix socket: use a shorter CHAOS_AGENT_CLUSTER_DIR"
	[[ -d /sys/fs/cgroup/cpu || -d /sys/fs/cgroup/cpu,cpuacct ]] || die "the real node needs cgroup v1 controllers under /sys/fs/cgroup (kubelet runs with cgroupfs, failCgroupV1=false)"
	if [[ -f $REAL_NODE_LOCK ]]; then
		local other
		other=$(cat "$REAL_NODE_LOCK")
		if [[ $other != "$NETNS" && -e /run/netns/$other ]]; then
			die "a real node already runs in network namespace $other (one per machine): 'NETNS=$other $0 down' first"
		fi
	fi
}

# cgroup_dirs — the real node's cgroup directory in every mounted hierarchy (v1 and v2)
cgroup_dirs() {
	awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts | while read -r m; do
		echo "$m$CGROUP_ROOT"
	done
}

node_network() {
	# A veth pair stands in for the node's NIC (the kernel may lack the dummy driver); both ends
	# stay in the namespace, which has no default route and no link to the machine.
	ip -n "$NETNS" link add node0 type veth peer name node0p
	ip -n "$NETNS" addr add "$NODE_IP/24" dev node0
	ip -n "$NETNS" link set node0 up
	ip -n "$NETNS" link set node0p up
	# Processes in the namespace itself (tests, kubectl port-forward) reach ClusterIPs:
	# kube-proxy's DNAT runs in OUTPUT, after the route lookup, which needs a route.
	ip -n "$NETNS" route add 10.0.0.0/16 dev node0
	ip netns exec "$NETNS" sysctl -qw net.ipv4.ip_forward=1
	[[ -e /proc/sys/net/bridge ]] || modprobe br_netfilter 2>/dev/null || true
	if [[ -e /proc/sys/net/bridge ]]; then
		ip netns exec "$NETNS" sysctl -qw net.bridge.bridge-nf-call-iptables=1
	else
		log "warning: br_netfilter is unavailable: pod-to-Service traffic between pods on the bridge may bypass kube-proxy"
	fi
}

node_config() {
	mkdir -p "$NODE/cni/net.d" "$NODE/kubelet" "$RUN/pod-logs"
	cat >"$NODE/containerd.toml" <<TOML
version = 2
root = "$NODE/containerd"
state = "$NODE/containerd-state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # CRI clamps every oom_score_adj to >= containerd's own (0): no negative value reaches runc,
  # which this machine's missing CAP_SYS_RESOURCE would refuse.
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$BIN/cni"
    conf_dir = "$NODE/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$NODE/runc"
TOML
	cat >"$NODE/cni/net.d/10-$CNI_NET.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NET",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$NODE/cni-ipam",
              "ranges": [[{"subnet": "$POD_CIDR", "gateway": "${POD_CIDR%.*}.1"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
	cat >"$NODE/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
failCgroupV1: false
failSwapOn: false
clusterDNS: [$DNS_IP]
clusterDomain: cluster.local
resolvConf: ""
podLogsDir: $RUN/pod-logs
volumePluginDir: $NODE/volume-plugins
# The images cannot be pulled again (there is no registry): never garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
serializeImagePulls: false
shutdownGracePeriod: 0s
YAML
	cat >"$NODE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables: {masqueradeAll: false, syncPeriod: 10s, minSyncPeriod: 0s}
# zeros: leave the machine-wide conntrack sysctls alone
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
}

node_images() {
	local f t0=$SECONDS
	for f in "$IMAGES"/*.tar; do
		node_ctr images import "$f" >/dev/null 2>"$LOGS/ctr-import.log" ||
			{ cat "$LOGS/ctr-import.log" >&2; die "importing $f into containerd failed"; }
	done
	log "images imported in $((SECONDS - t0))s"
}

# node_runtime_up — the node's network, cgroups, containerd and its images.
node_runtime_up() {
	# The record of what existed before: taken once per machine, before our first real node.
	if [[ ! -f $KROOT/real-node-preexisting ]]; then
		local d
		for d in "${GLOBAL_DIRS[@]}"; do [[ -e $d ]] && echo "$d"; done >"$KROOT/real-node-preexisting"
	fi
	echo "$NETNS" >"$REAL_NODE_LOCK"
	touch "$RUN/real-node"
	node_network
	node_config
	local d
	for d in $(cgroup_dirs); do
		mkdir -p "$d"
		# cpuset children start empty: give ours the parent's CPUs and memory nodes
		if [[ -f $d/cpuset.cpus && -z $(cat "$d/cpuset.cpus") ]]; then
			cat "$(dirname "$d")/cpuset.cpus" >"$d/cpuset.cpus"
			cat "$(dirname "$d")/cpuset.mems" >"$d/cpuset.mems"
		fi
	done
	start_node containerd containerd --config "$NODE/containerd.toml"
	wait_for "containerd" 30 node_ctr version
	node_images
}

# node_kubelet_up — kubelet and kube-proxy (they need the API server).
node_kubelet_up() {
	start_node kubelet "$BIN/kubelet" --config "$NODE/kubelet.yaml" --kubeconfig "$PKI/kubelet.kubeconfig" \
		--hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --root-dir "$NODE/kubelet" \
		--node-labels "chaos-agent.io/real-node=true"
	start_node kube-proxy "$BIN/kube-proxy" --config "$NODE/kube-proxy.yaml"
}

# coredns_up — CoreDNS as the cluster's DNS (Service kube-dns, 10.0.0.10), on the real node.
coredns_up() {
	kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "chaos-agent-local:coredns"}
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "chaos-agent-local:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "chaos-agent-local:coredns"}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  # Nothing exists upstream (no route out): no forward plugin; other names are refused.
  Corefile: |
    .:1053 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 30
        loadbalance
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
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      nodeSelector: {chaos-agent.io/real-node: "true"}
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532}
      containers:
        - name: coredns
          image: $COREDNS_IMAGE
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          ports:
            - {name: dns, containerPort: 1053, protocol: UDP}
            - {name: dns-tcp, containerPort: 1053, protocol: TCP}
          readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
          livenessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 10}
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
          volumeMounts: [{name: config, mountPath: /etc/coredns}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  selector: {k8s-app: kube-dns}
  ports:
    - {name: dns, port: 53, targetPort: 1053, protocol: UDP}
    - {name: dns-tcp, port: 53, targetPort: 1053, protocol: TCP}
YAML
}

# kwok_namespace NAME — pods in NAME go to the kwok nodes (the test harness's fake-image
# workloads): the PodNodeSelector and PodTolerationRestriction admission plugins add the
# selector and the toleration of the kwok nodes' taint to every pod of the namespace.
kwok_namespace() {
	kc annotate --overwrite namespace "$1" \
		'scheduler.alpha.kubernetes.io/node-selector=type=kwok' \
		'scheduler.alpha.kubernetes.io/defaultTolerations=[{"key":"kwok.x-k8s.io/node","operator":"Exists","effect":"NoSchedule"}]' >/dev/null
}

# node_pod_netns — the pod network namespaces named in our containers' specs
node_pod_netns() {
	grep -rahoE '/var/run/netns/cni-[0-9a-f-]{36}' "$NODE/containerd" "$NODE/containerd-state" 2>/dev/null | sort -u || true
}

# node_kill_containers — kill and delete every container of our containerd (while it still
# runs), recording their IDs and pod network namespaces for the cleanup that follows.
node_kill_containers() {
	[[ -S $SOCK ]] && running containerd || return 0
	local ids id
	ids=$(node_ctr containers ls -q 2>/dev/null || true)
	[[ -n $ids ]] || return 0
	echo "$ids" >>"$NODE/containers"
	node_pod_netns >>"$NODE/pod-netns" # before the containers' metadata goes
	log "killing $(wc -w <<<"$ids") containers"
	for id in $ids; do node_ctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
	for id in $ids; do
		node_ctr tasks delete -f "$id" >/dev/null 2>&1 || true
		node_ctr containers delete "$id" >/dev/null 2>&1 || true
	done
}

# node_down — after the daemons stopped: leftover processes, mounts, pod network namespaces,
# cgroups and the files outside the state directory that belong to this node.
node_down() {
	local f pid id ns
	# Shims still alive (containerd died before it could stop them): the processes working in one
	# of our task bundles and serving our containerd's socket. Then anything left in our cgroups.
	local p cwd
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
		[[ $cwd == "$NODE/containerd-state/"* ]] || continue
		grep -qsF -- "$SOCK" "$p/cmdline" && kill -KILL "${p#/proc/}" 2>/dev/null || true
	done
	local d tries
	for tries in 1 2 3 4 5; do
		local alive=0
		for d in $(cgroup_dirs); do
			[[ -d $d ]] || continue
			while read -r pid; do
				[[ -n $pid ]] || continue
				kill -KILL "$pid" 2>/dev/null && alive=1
			done < <(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
		done
		((alive)) || break
		sleep 0.2
	done
	# Container IDs and pod netns paths: from the record, the task bundles and containerd's metadata.
	local ids=() netns=()
	[[ -f $NODE/containers ]] && mapfile -t ids < <(sort -u "$NODE/containers")
	for d in "$NODE"/containerd-state/io.containerd.runtime.v2.task/k8s.io/*/; do
		[[ -d $d ]] && ids+=("$(basename "$d")")
	done
	mapfile -t netns < <({ node_pod_netns; cat "$NODE/pod-netns" 2>/dev/null; } | sort -u)
	# Mounts under the state directory, deepest first (kubelet's root dir is itself a bind mount;
	# a path can be mounted more than once).
	local m pass
	for pass in 1 2 3 4 5; do
		mapfile -t m < <(awk -v p="$RUN/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -ru)
		((${#m[@]})) || break
		for f in "${m[@]}"; do umount "$f" 2>/dev/null || umount -l "$f" 2>/dev/null || true; done
	done
	for ns in "${netns[@]}"; do
		ns=${ns##*/}
		[[ -e /run/netns/$ns ]] && { ip netns del "$ns" 2>/dev/null || { umount -l "/run/netns/$ns" 2>/dev/null; rm -f "/run/netns/$ns"; }; }
	done
	for d in $(cgroup_dirs); do
		[[ -d $d ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
		[[ -d $d ]] && log "warning: cgroup $d is still there"
	done
	# Outside the state directory: exactly what belongs to this node.
	for f in /var/log/containers/*.log; do
		[[ -L $f && "$(readlink "$f")" == "$RUN/"* ]] && rm -f "$f"
	done
	rm -f /var/lib/cni/results/"$CNI_NET"-*
	for id in "${ids[@]}"; do
		[[ -n $id ]] || continue
		rm -f /var/lib/cni/results/cni-loopback-"$id"-*
		# containerd 1.6 names a shim's socket by sha256(<containerd address>/<namespace>/<id>)
		rm -f "/run/containerd/s/$(printf '%s' "$SOCK/k8s.io/$id" | sha256sum | cut -d' ' -f1)"
	done
	rm -f /var/lib/kubelet/device-plugins/kubelet.sock
	local pre=()
	[[ -f $KROOT/real-node-preexisting ]] && mapfile -t pre <"$KROOT/real-node-preexisting"
	for ((i = ${#GLOBAL_DIRS[@]} - 1; i >= 0; i--)); do
		d=${GLOBAL_DIRS[i]}
		printf '%s\n' "${pre[@]}" | grep -qx -- "$d" && continue
		[[ -d $d ]] && rmdir "$d" 2>/dev/null || true
	done
	rm -f "$NODE/containers" "$NODE/pod-netns" "$RUN/real-node"
	[[ -f $REAL_NODE_LOCK && "$(cat "$REAL_NODE_LOCK")" == "$NETNS" ]] && rm -f "$REAL_NODE_LOCK"
	return 0
}

# wrappers — $RUN/bin/kubectl (and chaos-agent, with a real node) run inside the cluster's
# network namespace when called from outside it: after eval "$(hack/cluster.sh env)", plain
# `kubectl` reaches the cluster.
wrappers() {
	mkdir -p "$RUN/bin"
	local name target
	for name in kubectl chaos-agent; do
		case $name in
		kubectl) target=$BIN/kubectl ;;
		chaos-agent) target=$IMAGES/chaos-agent.bin ;;
		esac
		[[ -x $target ]] || continue
		cat >"$RUN/bin/$name" <<SH
#!/bin/sh
# Generated by hack/cluster.sh: $target inside network namespace $NETNS.
if [ "\$(stat -L -c %i /proc/self/ns/net)" != "\$(stat -L -c %i /run/netns/$NETNS 2>/dev/null)" ]; then
	exec nsenter --net=/run/netns/$NETNS -- "$target" "\$@"
fi
exec "$target" "\$@"
SH
		chmod 755 "$RUN/bin/$name"
	done
}

cmd_up() {
	[[ $ARGO == 1 && -z $NETNS ]] && die "ARGO=1 needs NETNS=<name>: the workflow-controller listens on *:6060"
	[[ $REAL_NODE == 1 && -z $NETNS ]] && die "REAL_NODE=1 needs NETNS=<name>: the real node runs only inside a private network namespace"
	# On a fresh machine, build first (what is cached is reused).
	local need=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok) b missing=()
	[[ $ARGO == 1 ]] && need+=(workflow-controller)
	[[ $REAL_NODE == 1 ]] && need+=(kubelet kube-proxy coredns argoexec workflow-controller mkimage pause cni/bridge)
	for b in "${need[@]}"; do [[ -x $BIN/$b ]] || missing+=("$b"); done
	if ((${#missing[@]})); then
		log "not built yet: ${missing[*]}; building first (cold: about 25 min on 2 cores, then cached)"
		cmd_build
	fi
	[[ $REAL_NODE == 1 ]] && node_preflight
	if [[ -f $PIDS/.order ]]; then
		local alive=0
		while read -r n; do running "$n" && alive=1; done <"$PIDS/.order"
		((alive)) && die "a cluster is already running (state in $RUN): '$0 down' first"
	fi
	[[ -f $RUN/real-node ]] && node_down # leftovers of a real node that was not taken down
	local t0=$SECONDS
	if [[ $REAL_NODE == 1 ]]; then
		build_tools
		build_images # chaos-agent and the e2e app from this working tree; the rest is cached
	fi
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

	# kwok only: the API server is on 127.0.0.1 and the `kubernetes` Service has no endpoints (no
	# pod would use it). With a real node it also serves on the node's address, which the
	# `kubernetes` Service points at, and admits pods with node selectors/tolerations per namespace.
	local net=(--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --endpoint-reconciler-type none
		--service-cluster-ip-range "$SERVICE_CIDR")
	if [[ $REAL_NODE == 1 ]]; then
		net=(--bind-address 0.0.0.0 --advertise-address "$NODE_IP" --service-cluster-ip-range "$SERVICE_CIDR"
			--kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key"
			--kubelet-certificate-authority "$PKI/ca.crt" --kubelet-preferred-address-types InternalIP
			--enable-admission-plugins NodeRestriction,PodNodeSelector,PodTolerationRestriction)
	fi
	start kube-apiserver "$BIN/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--secure-port "$APISERVER_PORT" "${net[@]}" \
		--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
		--client-ca-file "$PKI/ca.crt" \
		--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--authorization-mode Node,RBAC \
		--allow-privileged=true --profiling=false

	# containerd and the image import need no API server: they overlap its start.
	[[ $REAL_NODE == 1 ]] && node_runtime_up
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

	# With a real node, the kwok nodes are tainted: workloads land on them only where a namespace
	# asks for it (kwok_namespace), so `kubectl apply` of an unmodified manifest runs for real.
	local taints=""
	[[ $REAL_NODE == 1 ]] && taints="
spec:
  taints:
  - {key: kwok.x-k8s.io/node, value: fake, effect: NoSchedule}"
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
    chaos-agent.io/node-index: "$i"$taints
NODE
	done

	if [[ $REAL_NODE == 1 ]]; then
		node_kubelet_up
		wait_for "node $NODE_NAME Ready" 60 kc wait --for condition=Ready --timeout 1s "node/$NODE_NAME"
		log "node $NODE_NAME Ready after $((SECONDS - t0))s"
		wait_for "kube-system ServiceAccount" 30 kc get serviceaccount default -n kube-system
		coredns_up
	fi

	# CRDs: Argo Workflows from the pinned module, Litmus from our manifests.
	local ad
	ad=$(argo_dir)
	kc apply --server-side -k "$ad/manifests/base/crds/${ARGO_CRDS:-full}" >/dev/null
	kc apply --server-side -f "$REPO/manifests/crds/litmus/" >/dev/null
	wait_for "CRDs Established" 180 kc wait --for condition=established --timeout 5s crd --all
	wait_for "kwok nodes Ready" 120 kc wait --for condition=Ready --timeout 1s node -l type=kwok
	wait_for "default ServiceAccount" 60 kc get serviceaccount default -n default

	if [[ $ARGO == 1 ]]; then
		kc create namespace "$ARGO_NAMESPACE" --dry-run=client -o yaml | kc apply -f - >/dev/null
		# The out-of-cluster controller's step pods are the tests' kwok pods (fake executor image).
		[[ $REAL_NODE == 1 ]] && kwok_namespace "$ARGO_NAMESPACE"
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
    chaosnative/litmus-checker:2.11.0: {entrypoint: [/usr/local/bin/chaos-agent, check]}
    docker.io/chaosnative/litmus-checker:2.11.0: {entrypoint: [/usr/local/bin/chaos-agent, check]}
    litmuschaos/litmus-checker:latest: {entrypoint: [/usr/local/bin/chaos-agent, check]}
    chaosnative/k8s:2.11.0: {entrypoint: [/bin/sh]}
    litmuschaos/k8s:latest: {entrypoint: [/bin/sh]}
${ARGO_INSTANCE_ID:+  instanceID: "$ARGO_INSTANCE_ID"}
CM
		start workflow-controller env LEADER_ELECTION_DISABLE=true DEFAULT_REQUEUE_TIME=1s \
			"$BIN/workflow-controller" --kubeconfig "$PKI/admin.kubeconfig" \
			--namespaced --namespace "$ARGO_NAMESPACE" --managed-namespace "$ARGO_NAMESPACE" \
			--executor-image argoexec:local --configmap workflow-controller-configmap
		wait_for "workflow-controller /healthz" 60 in_ns bash -c 'exec 3<>/dev/tcp/127.0.0.1/6060'
	fi
	if [[ $REAL_NODE == 1 ]]; then
		wait_for "CoreDNS Ready" 90 kc -n kube-system rollout status deployment/coredns --timeout 2s
	fi
	trap - ERR

	[[ -n $NETNS ]] && wrappers
	{
		echo "export KUBECONFIG=$PKI/admin.kubeconfig"
		echo "export CHAOS_AGENT_TEST_KUBECONFIG=$PKI/admin.kubeconfig"
		echo "export CHAOS_AGENT_TEST_NETNS=$NETNS"
		echo "export CHAOS_AGENT_TEST_ARGO=$ARGO"
		echo "export CHAOS_AGENT_TEST_ARGO_NAMESPACE=$ARGO_NAMESPACE"
		echo "export CHAOS_AGENT_TEST_ARGO_INSTANCE_ID=$ARGO_INSTANCE_ID"
		echo "export CHAOS_AGENT_TEST_KUBECTL=$BIN/kubectl"
		echo "export CHAOS_AGENT_TEST_REAL_NODE=$REAL_NODE"
		if [[ $REAL_NODE == 1 ]]; then
			echo "export CHAOS_AGENT_TEST_NODE_NAME=$NODE_NAME"
			echo "export CHAOS_AGENT_IMAGE=$CHAOS_AGENT_IMAGE"
			echo "export CHAOS_AGENT_IMAGE_ARCHIVE=$IMAGES/chaos-agent.tar"
			echo "export E2E_APP_IMAGE=$E2E_APP_IMAGE"
			echo "export CHAOS_AGENT_TEST_CONTAINERD=$SOCK"
			echo "export CHAOS_AGENT_BIN=$IMAGES/chaos-agent.bin"
			echo "export CHAOS_AGENT_TEST_NODE_IP=$NODE_IP"
			echo "export CHAOS_AGENT_TEST_ARGO_IMAGE=$ARGO_CONTROLLER_IMAGE"
			echo "export CHAOS_AGENT_TEST_ARGOEXEC_IMAGE=$ARGOEXEC_IMAGE"
			echo "export CHAOS_AGENT_TEST_STEP_IMAGE=${K8S_STEP_IMAGES[0]}"
		fi
		if [[ -n $NETNS ]]; then
			echo "export NETNS=$NETNS"
			echo "export PATH=$RUN/bin:\$PATH"
		fi
	} >"$RUN/env"
	log "cluster up in $((SECONDS - t0))s (netns: ${NETNS:-none}, argo: $ARGO, real node: $REAL_NODE)"
	log "use it with: eval \"\$($0 env)\"${NETNS:+ (kubectl then runs inside $NETNS)}"
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
	local purge=0 t0=$SECONDS
	[[ ${1:-} == --purge ]] && purge=1
	if [[ -f $PIDS/.order ]]; then
		local names
		mapfile -t names < <(tac "$PIDS/.order")
		for n in "${names[@]}"; do
			# containers go while containerd can still kill them; the kubelet is already stopped
			[[ $n == containerd ]] && node_kill_containers
			stop "$n"
		done
		rm -f "$PIDS/.order"
	fi
	[[ -f $RUN/real-node ]] && node_down
	if [[ -f $RUN/netns ]]; then
		ip netns del "$(cat "$RUN/netns")" 2>/dev/null || true
		rm -f "$RUN/netns"
	fi
	((purge)) && rm -rf "$RUN"
	log "cluster stopped in $((SECONDS - t0))s"
}

cmd_status() {
	[[ -f $PIDS/.order ]] || { echo "not running"; return 1; }
	local rc=0
	while read -r n; do
		if running "$n"; then echo "$n: running (pid $(cat "$PIDS/$n"))"; else echo "$n: STOPPED"; rc=1; fi
	done <"$PIDS/.order"
	return $rc
}

cmd_env() {
	[[ -f $RUN/env ]] || die "no cluster in ${NETNS:-the host network namespace} (no $RUN/env): start one with hack/cluster.sh up"
	cat "$RUN/env"
}

case "${1:-}" in
build) cmd_build ;;
images) cmd_images ;;
up) cmd_up ;;
down) shift; pick_cluster; cmd_down "$@" ;;
status) pick_cluster; cmd_status ;;
env) pick_cluster; cmd_env ;;
envfile) pick_cluster; echo "$RUN/env" ;;
*) sed -n '2,31p' "$0"; exit 2 ;;
esac
