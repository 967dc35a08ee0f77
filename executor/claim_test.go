package executor

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// TestClaimedElsewhere: a live claim of another executor protects an engine until its lease
// expires; a claim of this pod's previous process (same pod identity, another instance) protects
// nothing, since that process is gone — but only where the identity is a pod's.
func TestClaimedElsewhere(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	fresh := now.Add(-5 * time.Second).Format(time.RFC3339)
	old := now.Add(-time.Minute).Format(time.RFC3339)
	tests := []struct {
		name          string
		identityIsPod bool
		owner, at     string
		wantLive      bool
	}{
		{name: "unclaimed", owner: "", at: fresh},
		{name: "own claim", owner: "agent-0/self", at: fresh},
		{name: "another agent, fresh", owner: "agent-1/x", at: fresh, wantLive: true},
		{name: "another agent, expired", owner: "agent-1/x", at: old},
		{name: "unreadable time", owner: "agent-1/x", at: "yesterday"},
		{name: "same pod, previous process", identityIsPod: true, owner: "agent-0/dead", at: fresh},
		{name: "same identity, not a pod", owner: "agent-0/other", at: fresh, wantLive: true},
		{name: "pod name prefix only", identityIsPod: true, owner: "agent-01/x", at: fresh, wantLive: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &Executor{instance: "self", o: Options{Identity: "agent-0", IdentityIsPod: tc.identityIsPod,
				ClaimLease: defaultClaimLease, Clock: clocktesting.NewFakeClock(now)}}
			en := &litmus.ChaosEngine{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{
				annotationClaimedBy: tc.owner, annotationClaimRenewed: tc.at}}}
			if _, live := e.claimedElsewhere(en); live != tc.wantLive {
				t.Errorf("live = %v, want %v", live, tc.wantLive)
			}
		})
	}
}
