#!/usr/bin/env bash
# hack/test.sh — the whole test suite: static checks, unit tests with the race detector, and the
# integration tests against a real local Kubernetes control plane (hack/cluster.sh) that this
# script builds (cached), starts and stops. A cluster that cannot start fails the run.
#
#   TEST_PKGS   packages to test (default ./...)
#   TEST_RUN    -run filter (default: all)
#   NETNS       network namespace for the cluster and the tests (default chaos-agent-test)
#   REAL_NODE   1 (default): the cluster has a real node (containerd, kubelet) next to kwok's
set -euo pipefail
cd "$(dirname "$0")/.."

export NETNS=${NETNS:-chaos-agent-test}
export ARGO=${ARGO:-1}
export REAL_NODE=${REAL_NODE:-1}
# The workflow-controller is namespaced to hce with instanceID = the tests' infra ID, as installs are.
export ARGO_NAMESPACE=${ARGO_NAMESPACE:-hce}
export ARGO_INSTANCE_ID=${ARGO_INSTANCE_ID:-chaos-agent-test-infra}
TEST_PKGS=${TEST_PKGS:-./...}
TEST_RUN=${TEST_RUN:-}

step() { printf '\n== %s\n' "$*"; }

[[ $(id -u) == 0 ]] || { echo "hack/test.sh: needs root (network namespaces for the local cluster)" >&2; exit 1; }
command -v ip >/dev/null || { echo "hack/test.sh: needs iproute2 (apt-get install iproute2)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "hack/test.sh: needs openssl" >&2; exit 1; }
[[ -x ${CHAOS_AGENT_TEST_PROMETHEUS:-/usr/bin/prometheus} ]] || { echo "hack/test.sh: needs a Prometheus server for promProbe tests (apt-get install prometheus)" >&2; exit 1; }

step "modules"
go mod download
go mod verify >/dev/null

step "static checks (make lint: gofmt, go vet, golangci-lint with .golangci.yml, both modules)"
go build ./...
make --no-print-directory lint

step "local cluster (build is cached in ${CHAOS_AGENT_CLUSTER_DIR:-~/.cache/chaos-agent/cluster})"
hack/cluster.sh build
hack/cluster.sh down >/dev/null 2>&1 || true
trap 'hack/cluster.sh down' EXIT
hack/cluster.sh up
# shellcheck disable=SC1090
source "$(hack/cluster.sh envfile)"

step "go test -race (unit + integration against the real cluster)"
# The tests run inside the cluster's network namespace; modules are already downloaded. Packages
# run one at a time (-p 1): they share one cluster, and a cluster-scoped executor in one package's
# test would otherwise also act on the engines of another package's tests.
run_args=()
[[ -n $TEST_RUN ]] && run_args=(-run "$TEST_RUN")
CHAOS_AGENT_REQUIRE_CLUSTER=1 GOPROXY=off GOFLAGS=-mod=readonly \
	ip netns exec "$NETNS" go test -race -count=1 -p 1 -timeout 30m "${run_args[@]}" $TEST_PKGS

step "the seed tutorial on real containers (make e2e): Argo and native engines, scores 0 and 100, stop"
# The real node is one per machine: the test cluster gives it up first. hack/e2e.sh starts its
# own cluster (hce is the install's namespace there) and stops it, also on failure.
hack/cluster.sh down
NETNS=chaos-agent-e2e hack/e2e.sh

step "the demo (make demo), which must end with scores 0 and 100"
NETNS=chaos-agent-demo REAL_NODE=0 hack/demo.sh

step "fuzzing (a short run of every fuzz target, from the checked-in seed corpus)"
# Budgets are counts of executions, not durations: Go 1.26's fuzzing coordinator can report a
# spurious "context deadline exceeded" failure when a -fuzztime duration ends while a worker is
# busy (minimizing, or starved on a loaded machine), with no failing input (golang/go#75804,
# fixed in Go 1.27). A count has no deadline to race. 10-20 s per target on 2 cores.
FUZZTIME=${FUZZTIME:-10000x}
for target in subscriber:FuzzDecodeFrame subscriber:FuzzParseManifest subscriber:FuzzRequestType subscriber:FuzzHandleAction probes:FuzzComparator; do
	pkg=./${target%%:*}
	fn=${target##*:}
	GOPROXY=off go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 200x "$pkg"
done
