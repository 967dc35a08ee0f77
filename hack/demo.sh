#!/usr/bin/env bash
# hack/demo.sh — `make demo`: the seed tutorial's experiment on a real local cluster.
#
# A cartservice Deployment in namespace hce, a frontend STAND-IN whose /cart answers 200 only
# while cartservice has a Ready pod, and chaos-agent running as an in-cluster chaos operator
# execute the tutorial's fault twice — pod-delete on app=cartservice for 30 s every 10 s with the
# Continuous http-cartservice-probe — first with 1 replica, then with 2. Expected: 1 replica →
# the probe fails (resilience score 0); 2 replicas → it passes (score 100).
#
# (The control-plane path — ChaosCenter sending the tutorial's Argo Workflow — is exercised by
# the subscriber's integration tests; the demo drives the fault directly, as a GitOps user would.)
set -euo pipefail
cd "$(dirname "$0")/.."
export NETNS=${NETNS:-chaos-agent-demo}
export ARGO=0
NS=hce
t0=$SECONDS
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

[[ $(id -u) == 0 ]] || { echo "make demo needs root (the cluster runs in a network namespace)" >&2; exit 1; }
say "building the local cluster (cached after the first time) and chaos-agent"
hack/cluster.sh build
mkdir -p bin
go build -o bin/chaos-agent ./cmd/chaos-agent
go build -o bin/frontend-standin ./hack/frontend
hack/cluster.sh down >/dev/null 2>&1 || true

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	hack/cluster.sh down >/dev/null 2>&1 || true
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
---
apiVersion: litmuschaos.io/v1alpha1
kind: ChaosExperiment
metadata: {name: pod-delete, namespace: $NS, labels: {name: pod-delete}}
spec:
  definition:
    scope: Namespaced
    image: chaosnative/go-runner:3.0.0-saas
    command: [/bin/bash]
    args: [-c, ./experiments -name pod-delete]
    env:
    - {name: TOTAL_CHAOS_DURATION, value: "15"}
    - {name: RAMP_TIME, value: ""}
    - {name: FORCE, value: "true"}
    - {name: CHAOS_INTERVAL, value: "5"}
    - {name: PODS_AFFECTED_PERC, value: ""}
    - {name: TARGET_PODS, value: ""}
    - {name: DEFAULT_HEALTH_CHECK, value: "false"}
    - {name: NODE_LABEL, value: ""}
    - {name: SEQUENCE, value: parallel}
YAML
kc wait --for=condition=Available --timeout=60s deployment/cartservice -n "$NS" >/dev/null

say "starting the frontend STAND-IN (not a real frontend): http://127.0.0.1:8088/cart answers 200 only while cartservice has a Ready pod"
inns bin/frontend-standin --kubeconfig "$KUBECONFIG" --namespace "$NS" --addr 127.0.0.1:8088 >/tmp/chaos-agent-demo-frontend.log 2>&1 &
pids+=($!)

say "starting chaos-agent (serve: the in-cluster agent, here as a stand-alone chaos operator)"
inns bin/chaos-agent serve --kubeconfig "$KUBECONFIG" --namespace "$NS" --metrics-addr 127.0.0.1:8080 \
	--health-addr 127.0.0.1:8081 --log-format console --log-level warn >/tmp/chaos-agent-demo-agent.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do inns bash -c 'exec 3<>/dev/tcp/127.0.0.1/8081 && printf "GET /readyz HTTP/1.0\r\n\r\n" >&3 && grep -q "200 OK" <&3' 2>/dev/null && break; sleep 0.2; done
inns bash -c 'exec 3<>/dev/tcp/127.0.0.1/8088' || { echo "frontend stand-in did not start" >&2; exit 1; }

# Stream the fault's events as they happen.
kc get events -n "$NS" --watch-only -o custom-columns='TIME:.lastTimestamp,OBJECT:.involvedObject.name,REASON:.reason,MESSAGE:.message' --no-headers 2>/dev/null |
	sed -u 's/^/   event  /' &
pids+=($!)

engine() { # the tutorial's fault, verbatim but for the probe's URL (the stand-in)
	cat <<YAML
apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata: {name: $1, namespace: $NS, labels: {workflow_name: my-cart-pod-delete-experiment}}
spec:
  appinfo: {appns: $NS, applabel: app=cartservice, appkind: deployment}
  engineState: active
  chaosServiceAccount: litmus-admin
  experiments:
    - name: pod-delete
      spec:
        components:
          env:
            - {name: TOTAL_CHAOS_DURATION, value: "30"}
            - {name: CHAOS_INTERVAL, value: "10"}
            - {name: FORCE, value: "false"}
            - {name: PODS_AFFECTED_PERC, value: ""}
        probe:
          - name: http-cartservice-probe
            type: httpProbe
            mode: Continuous
            runProperties: {probeTimeout: 10, retry: 1, interval: 1, stopOnFailure: false}
            httpProbe/inputs:
              url: http://127.0.0.1:8088/cart
              method:
                get: {criteria: "==", responseCode: "200", responseTimeout: 15}
YAML
}

rows=()
for replicas in 1 2; do
	name=pod-delete-ji5-r$replicas
	say "run $replicas: cartservice with $replicas replica(s) — pod-delete 30 s every 10 s, Continuous http-cartservice-probe"
	kc scale deployment/cartservice -n "$NS" --replicas "$replicas" >/dev/null
	kc wait --for=condition=Available --timeout=60s deployment/cartservice -n "$NS" >/dev/null
	sleep 4 # let every replica pass its start-up delay
	engine "$name" | kc apply -f - >/dev/null
	for _ in $(seq 120); do
		v=$(kc get chaosresult "$name-pod-delete" -n "$NS" -o jsonpath='{.status.experimentStatus.verdict}' 2>/dev/null || true)
		[[ -n $v && $v != Awaited ]] && break
		sleep 1
	done
	psp=$(kc get chaosresult "$name-pod-delete" -n "$NS" -o jsonpath='{.status.experimentStatus.probeSuccessPercentage}')
	probe=$(kc get chaosresult "$name-pod-delete" -n "$NS" -o jsonpath='{.status.probeStatuses[0].status.verdict}')
	deleted=$(kc get chaosresult "$name-pod-delete" -n "$NS" -o jsonpath='{range .status.recoveries[*]}{.pod}{" "}{end}' | wc -w)
	ttr=$(kc get chaosresult "$name-pod-delete" -n "$NS" -o jsonpath='{range .status.recoveries[*]}{.seconds}{"s "}{end}')
	# one fault of weight 10: score = 10·PSP / 10
	rows+=("$(printf '%-9s %-8s %-9s %-6s %-5s %s' "$replicas" "$v" "$probe" "$psp" "$psp" "$deleted pod(s) deleted; ready again after: $ttr")")
done

say "result"
printf '%-9s %-8s %-9s %-6s %-5s %s\n' REPLICAS VERDICT PROBE PSP SCORE RECOVERY
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "Resilience score = Σ weight·probeSuccessPercentage / Σ weight (one fault, weight 10)."
echo "The tutorial's conclusion holds: one cartservice replica is not resilient to pod deletion; two are."
echo "Demo took $((SECONDS - t0)) s. Agent log: /tmp/chaos-agent-demo-agent.log"
