#!/usr/bin/env bash
# hack/demo.sh — `make demo`: the seed tutorial's experiment on a real local cluster.
#
# A cartservice Deployment in namespace hce, a frontend STAND-IN whose /cart answers 200 only
# while cartservice has a Ready pod, a development control plane (hack/devcp: the test control
# plane speaking ChaosCenter's agent protocol) and chaos-agent, which registers, confirms and
# subscribes. The control plane then sends the tutorial's exact Workflow (install, pod-delete on
# app=cartservice 30 s / 10 s with the Continuous http-cartservice-probe, cleanup) twice — with 1
# replica, then with 2; the agent runs it (native workflow engine: no Argo controller here) and
# streams the run events back. Expected: 1 replica → probe fails, score 0; 2 → passes, score 100.
set -euo pipefail
cd "$(dirname "$0")/.."
export NETNS=${NETNS:-chaos-agent-demo}
export ARGO=0
export REAL_NODE=0 # the demo runs on kwok nodes (the real node is one per machine)
NS=hce
t0=$SECONDS
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[[ $(id -u) == 0 ]] || { echo "make demo needs root (the cluster runs in a network namespace)" >&2; exit 1; }
say "building the local cluster (cached after the first time) and chaos-agent"
hack/cluster.sh build
mkdir -p bin
go build -o bin/chaos-agent ./cmd/chaos-agent
go build -o bin/frontend-standin ./hack/frontend
go build -o bin/devcp ./hack/devcp
go build -o bin/democtl ./hack/democtl
hack/cluster.sh down >/dev/null 2>&1 || true

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	# anything else still running in the demo's network namespace
	ip netns pids "$NETNS" 2>/dev/null | xargs -r kill 2>/dev/null || true
	hack/cluster.sh down >/dev/null 2>&1 || true
	wait 2>/dev/null || true
	echo "(everything the demo started is stopped)"
}
trap cleanup EXIT

say "starting a real Kubernetes control plane (kube-apiserver, etcd, controllers, kwok nodes)"
hack/cluster.sh up
# shellcheck disable=SC1090
source "$(hack/cluster.sh envfile)"
kc() { ip netns exec "$NETNS" "$CHAOS_AGENT_TEST_KUBECTL" "$@"; }
inns() { ip netns exec "$NETNS" "$@"; }

say "deploying the application: cartservice in namespace $NS"
kc create namespace "$NS" >/dev/null
kc apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: cartservice, namespace: $NS, labels: {app: cartservice}}
spec:
  replicas: 1
  selector: {matchLabels: {app: cartservice}}
  template:
    metadata:
      labels: {app: cartservice}
      annotations: {chaos-agent.io/ready-delay: 3s}   # the local cluster's kwok: 3 s to become Ready
    spec:
      terminationGracePeriodSeconds: 5
      containers: [{name: server, image: gcr.io/google-samples/microservices-demo/cartservice:v0.10.1}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: litmus-admin, namespace: $NS}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: litmus-admin, namespace: $NS}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list, delete]}
- {apiGroups: [""], resources: [pods/eviction], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: litmus-admin, namespace: $NS}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: litmus-admin}
subjects: [{kind: ServiceAccount, name: litmus-admin, namespace: $NS}]
YAML
kc wait --for=condition=Available --timeout=60s deployment/cartservice -n "$NS" >/dev/null

say "starting the frontend STAND-IN (not a real frontend): http://127.0.0.1:8088/cart answers 200 only while cartservice has a Ready pod"
ip netns exec "$NETNS" bin/frontend-standin --kubeconfig "$KUBECONFIG" --namespace "$NS" --addr 127.0.0.1:8088 >/tmp/chaos-agent-demo-frontend.log 2>&1 &
pids+=($!)

INFRA=4f1b0d5e-demo-4c1e-9d7a-chaosagent0001
KEY=demo-initial-access-key-0123456789 # what the control plane issued at registration
say "starting a development control plane (hack/devcp: ChaosCenter's agent protocol) on 127.0.0.1:9002"
ip netns exec "$NETNS" bin/devcp --addr 127.0.0.1:9002 --infra-id "$INFRA" --access-key "$KEY" --log-level warn >/tmp/chaos-agent-demo-devcp.log 2>&1 &
pids+=($!)

say "installing the infrastructure's registration (subscriber-config, subscriber-secret) and starting chaos-agent"
kc create configmap subscriber-config -n "$NS" --from-literal=IS_INFRA_CONFIRMED=false --from-literal=INFRA_SCOPE=namespace >/dev/null
kc create secret generic subscriber-secret -n "$NS" --from-literal=INFRA_ID="$INFRA" --from-literal=ACCESS_KEY="$KEY" >/dev/null
SERVER_ADDR=http://127.0.0.1:9002/query INFRA_ID="$INFRA" ACCESS_KEY="$KEY" ip netns exec "$NETNS" \
	bin/chaos-agent serve --kubeconfig "$KUBECONFIG" --namespace "$NS" --workflow-engine native \
	--metrics-addr 127.0.0.1:8080 --health-addr 127.0.0.1:8081 --log-format console --log-level warn >/tmp/chaos-agent-demo-agent.log 2>&1 &
pids+=($!)
inns bin/democtl --wait-connected --infra "$INFRA" --timeout 60s
inns bash -c 'exec 3<>/dev/tcp/127.0.0.1/8088' || { echo "frontend stand-in did not start" >&2; exit 1; }

# Stream the fault's Kubernetes events as they happen.
ip netns exec "$NETNS" "$CHAOS_AGENT_TEST_KUBECTL" get events -n "$NS" --watch-only --no-headers \
	-o custom-columns='TIME:.lastTimestamp,OBJECT:.involvedObject.name,REASON:.reason,MESSAGE:.message' 2>/dev/null \
	> >(grep --line-buffered -E 'ChaosInject|PreChaosCheck|PostChaosCheck|Summary|Awaited|Pass|Fail|SuccessfulCreate' | sed -u 's/^/   event  /') &
pids+=($!)

rows=()
declare -A scores
for replicas in 1 2; do
	say "run $replicas: cartservice with $replicas replica(s) — the control plane sends the tutorial's Workflow"
	kc scale deployment/cartservice -n "$NS" --replicas "$replicas" >/dev/null
	kc wait --for=condition=Available --timeout=60s deployment/cartservice -n "$NS" >/dev/null
	sleep 4 # let every replica pass its start-up delay
	out=$(inns bin/democtl --infra "$INFRA" --namespace "$NS" --manifest runner/testdata/seed-workflow.json \
		--frontend http://127.0.0.1:8088/cart --notify "demo-run-$replicas" --timeout 150s)
	read -r _ phase verdict probe psp score <<<"$(grep '^RESULT' <<<"$out")"
	scores[$replicas]=$score
	rows+=("$(printf '%-9s %-30s %-8s %-9s %-5s %s' "$replicas" "$phase" "$verdict" "$probe" "$psp" "$score")")
done

say "result"
printf '%-9s %-30s %-8s %-9s %-5s %s\n' REPLICAS 'RUN PHASE' VERDICT PROBE PSP 'RESILIENCE SCORE' 
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "Resilience score = Σ weight·probeSuccessPercentage / Σ weight (one fault, weight 10)."
if [[ ${scores[1]:-} != 0 || ${scores[2]:-} != 100 ]]; then
	echo "UNEXPECTED: scores ${scores[1]:-none} (1 replica) and ${scores[2]:-none} (2 replicas), want 0 and 100" >&2
	exit 1
fi
echo "The tutorial's conclusion holds: one cartservice replica is not resilient to pod deletion; two are."
echo "Demo took $((SECONDS - t0)) s. Logs: /tmp/chaos-agent-demo-agent.log, /tmp/chaos-agent-demo-devcp.log"
