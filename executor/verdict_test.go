package executor

import (
	"testing"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

func probe(name string, v litmus.ProbeVerdict) litmus.ProbeStatus {
	return litmus.ProbeStatus{Name: name, Status: litmus.ProbeStatusDetail{Verdict: v}}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name      string
		o         outcome
		phase     litmus.ResultPhase
		verdict   litmus.Verdict
		psp       string
		errOut    bool
		probeWant []litmus.ProbeVerdict
	}{
		{name: "pass without probes", phase: litmus.ResultPhaseCompleted, verdict: litmus.VerdictPass, psp: "100"},
		{name: "pass with probes", o: outcome{probes: []litmus.ProbeStatus{probe("a", litmus.ProbeVerdictPassed)}, passedProbes: 1},
			phase: litmus.ResultPhaseCompleted, verdict: litmus.VerdictPass, psp: "100", probeWant: []litmus.ProbeVerdict{litmus.ProbeVerdictPassed}},
		{name: "probe failed", o: outcome{probes: []litmus.ProbeStatus{probe("a", litmus.ProbeVerdictPassed), probe("b", litmus.ProbeVerdictFailed), probe("c", litmus.ProbeVerdictPassed)}, passedProbes: 2},
			phase: litmus.ResultPhaseCompletedWithProbeFailure, verdict: litmus.VerdictFail, psp: "66"},
		{name: "probe failed with stopOnFailure", o: outcome{probes: []litmus.ProbeStatus{probe("a", litmus.ProbeVerdictFailed), probe("b", litmus.ProbeVerdictAwaited)}, stoppedByProbe: true, aborted: true},
			phase: litmus.ResultPhaseStopped, verdict: litmus.VerdictStopped, psp: "0", probeWant: []litmus.ProbeVerdict{litmus.ProbeVerdictFailed, litmus.ProbeVerdictNA}},
		{name: "error", o: outcome{err: &litmus.Error{Code: litmus.ErrorCodeStatusChecks, Reason: "x"}, probes: []litmus.ProbeStatus{probe("a", litmus.ProbeVerdictPassed)}, passedProbes: 1},
			phase: litmus.ResultPhaseError, verdict: litmus.VerdictError, psp: "0", errOut: true},
		{name: "probe failure error code is a Fail", o: outcome{err: &litmus.Error{Code: litmus.ErrorCodeHTTPProbeFailure, Reason: "x"}},
			phase: litmus.ResultPhaseCompleted, verdict: litmus.VerdictFail, psp: "0"},
		{name: "aborted", o: outcome{aborted: true, probes: []litmus.ProbeStatus{probe("a", litmus.ProbeVerdictPassed), probe("b", litmus.ProbeVerdictAwaited)}, passedProbes: 1},
			phase: litmus.ResultPhaseStopped, verdict: litmus.VerdictStopped, psp: "50", probeWant: []litmus.ProbeVerdict{litmus.ProbeVerdictPassed, litmus.ProbeVerdictNA}},
		{name: "aborted after a probe failed", o: outcome{aborted: true, probes: []litmus.ProbeStatus{probe("a", litmus.ProbeVerdictFailed)}},
			phase: litmus.ResultPhaseCompletedWithProbeFailure, verdict: litmus.VerdictFail, psp: "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := decide(tc.o)
			if v.phase != tc.phase || v.verdict != tc.verdict || v.psp != tc.psp {
				t.Errorf("got %s/%s/%s, want %s/%s/%s", v.phase, v.verdict, v.psp, tc.phase, tc.verdict, tc.psp)
			}
			if (v.errOut != nil) != tc.errOut {
				t.Errorf("errorOutput %v, want present=%v", v.errOut, tc.errOut)
			}
			for i, want := range tc.probeWant {
				if v.probes[i].Status.Verdict != want {
					t.Errorf("probe %d verdict %s, want %s", i, v.probes[i].Status.Verdict, want)
				}
			}
		})
	}
}
