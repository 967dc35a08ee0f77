#!/usr/bin/env bash
# hack/e2e.sh — `make e2e`: the seed tutorial end to end on real containers (e2e/seed_test.go).
#
# A local cluster with a real node (containerd, kubelet, kube-proxy, CoreDNS) in its own network
# namespace; chaos-agent installed from the cluster-scope infra.yaml `chaos-agent manifest`
# renders, linked to hack/devcp on the node's address; the application (cartservice and frontend,
# each behind a Service) in hce. The control plane sends the tutorial's Workflow with 1 and then 2
# cartservice replicas (scores 0 and 100) and stops a third run mid-fault — first through Argo's
# workflow-controller and argoexec step pods, then with --workflow-engine=native. Everything it
# starts is stopped at the end, also on failure.
#
#   NETNS   network namespace of the cluster (default chaos-agent-e2e)
set -euo pipefail
cd "$(dirname "$0")/.."
export NETNS=${NETNS:-chaos-agent-e2e}
export REAL_NODE=1
export ARGO=0 # no out-of-cluster controller: the install brings its own workflow-controller
t0=$SECONDS
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[[ $(id -u) == 0 ]] || { echo "make e2e needs root (the cluster runs in a network namespace, with a real node)" >&2; exit 1; }
say "building hack/devcp and the e2e test (the cluster's binaries are cached; up rebuilds the images of this tree)"
mkdir -p bin
go build -o bin/devcp ./hack/devcp
go test -c -o bin/e2e.test ./e2e
hack/cluster.sh down >/dev/null 2>&1 || true
trap 'say "stopping everything"; hack/cluster.sh down' EXIT

say "starting the cluster with a real node in network namespace $NETNS"
hack/cluster.sh up
# shellcheck disable=SC1090
source "$(hack/cluster.sh envfile)"

say "the seed tutorial (e2e/seed_test.go: TestSeedTutorial)"
rc=0
(cd e2e && CHAOS_AGENT_E2E_SEED=1 CHAOS_AGENT_E2E_DEVCP="$PWD/../bin/devcp" CHAOS_AGENT_REQUIRE_CLUSTER=1 \
	ip netns exec "$NETNS" ../bin/e2e.test -test.run '^TestSeedTutorial$' -test.v -test.count=1 -test.timeout 25m) || rc=$?
echo
echo "make e2e: $( ((rc == 0)) && echo PASS || echo FAIL) after $((SECONDS - t0)) s (cluster build/up included)"
exit $rc
