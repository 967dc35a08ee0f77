#!/usr/bin/env bash
# hack/bench.sh — the benchmarks, with their figures printed: target selection over 10 000
# cached pods, pod-delete timing (duration overshoot, interval jitter) over 20 runs on the real
# local cluster, and the rest. Starts (and stops) the local cluster like hack/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export NETNS=${NETNS:-chaos-agent-bench}
export ARGO=${ARGO:-0}
BENCH=${BENCH:-.}
go mod download
hack/cluster.sh build
hack/cluster.sh down >/dev/null 2>&1 || true
trap 'hack/cluster.sh down' EXIT
hack/cluster.sh up
# shellcheck disable=SC1090
source "$(hack/cluster.sh envfile)"
CHAOS_AGENT_REQUIRE_CLUSTER=1 GOPROXY=off ip netns exec "$NETNS" \
	go test -run '^$' -bench "$BENCH" -benchmem -timeout 30m ./... | grep -vE '^(ok|PASS|\?)\s'
