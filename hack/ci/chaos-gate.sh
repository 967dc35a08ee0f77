#!/usr/bin/env bash
# chaos-gate.sh — launch a chaos experiment on a ChaosCenter control plane, wait for its run to end
# (polling, no fixed sleep), and fail unless the resilience score reaches a threshold.
#
#   CHAOS_URL=https://chaos.example.com/api/query CHAOS_TOKEN=<JWT> PROJECT_ID=... EXPERIMENT_ID=... \
#   MIN_SCORE=80 hack/ci/chaos-gate.sh
#
# Needs curl and jq. Every GraphQL call uses variables. Exit 0: passed; 1: score too low or the
# run failed; 2: bad configuration or the control plane refused the request.
set -euo pipefail
: "${CHAOS_URL:?}" "${CHAOS_TOKEN:?}" "${PROJECT_ID:?}" "${EXPERIMENT_ID:?}"
MIN_SCORE=${MIN_SCORE:-100}
POLL_SECONDS=${POLL_SECONDS:-10}
TIMEOUT_SECONDS=${TIMEOUT_SECONDS:-3600}

gql() { # gql QUERY VARIABLES_JSON
	local body
	body=$(jq -n --arg q "$1" --argjson v "$2" '{query: $q, variables: $v}')
	curl -sS --fail-with-body -H "Authorization: Bearer ${CHAOS_TOKEN}" -H 'Content-Type: application/json' \
		-d "$body" "$CHAOS_URL"
}

resp=$(gql 'mutation run($projectID: ID!, $experimentID: String!) { runChaosExperiment(projectID: $projectID, experimentID: $experimentID) { notifyID } }' \
	"$(jq -n --arg p "$PROJECT_ID" --arg e "$EXPERIMENT_ID" '{projectID: $p, experimentID: $e}')") || { echo "launch failed: $resp" >&2; exit 2; }
notify=$(jq -er '.data.runChaosExperiment.notifyID' <<<"$resp") || { echo "launch refused: $resp" >&2; exit 2; }
echo "launched experiment ${EXPERIMENT_ID}, notifyID ${notify}"

deadline=$((SECONDS + TIMEOUT_SECONDS))
while :; do
	resp=$(gql 'query run($projectID: ID!, $notifyID: ID) { getExperimentRun(projectID: $projectID, notifyID: $notifyID) { experimentRunID phase resiliencyScore faultsPassed faultsFailed totalFaults } }' \
		"$(jq -n --arg p "$PROJECT_ID" --arg n "$notify" '{projectID: $p, notifyID: $n}')") || true
	phase=$(jq -r '.data.getExperimentRun.phase // "Queued"' <<<"$resp" 2>/dev/null || echo Queued)
	case "$phase" in
	Completed | Completed_With_Probe_Failure | Completed_With_Error | Error | Stopped | Timeout | Terminated | Skipped) break ;;
	esac
	((SECONDS < deadline)) || { echo "run still ${phase} after ${TIMEOUT_SECONDS}s" >&2; exit 1; }
	echo "run ${notify}: ${phase}"
	sleep "$POLL_SECONDS" # the control plane offers no push API to CI clients: this is the poll period
done
score=$(jq -r '.data.getExperimentRun.resiliencyScore // 0' <<<"$resp")
echo "run ${notify}: ${phase}, resilience score ${score} (threshold ${MIN_SCORE})"
jq -r '.data.getExperimentRun | "faults passed \(.faultsPassed) / \(.totalFaults), failed \(.faultsFailed)"' <<<"$resp"
awk -v s="$score" -v m="$MIN_SCORE" 'BEGIN { exit !(s + 0 >= m + 0) }' || { echo "FAILED: resilience score ${score} < ${MIN_SCORE}"; exit 1; }
[[ $phase == Completed || $phase == Completed_With_Probe_Failure ]] || { echo "FAILED: run ended ${phase}"; exit 1; }
echo "PASSED"
