package executor

import (
	"strconv"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// outcome is how one experiment run ended, before the verdict arithmetic.
type outcome struct {
	aborted        bool          // engineState stop, engine deleted, agent shutdown
	abortReason    string        //
	err            *litmus.Error // the failure that ended the run early, if any
	probes         []litmus.ProbeStatus
	passedProbes   int  // each probe counted at most once
	stoppedByProbe bool // a failed probe had stopOnFailure
}

// verdict is the result of the arithmetic of litmus-execution §7.2–§7.4.
type verdict struct {
	phase   litmus.ResultPhase
	verdict litmus.Verdict
	psp     string // probeSuccessPercentage
	probes  []litmus.ProbeStatus
	errOut  *litmus.ErrorOutput
}

// decide computes phase, verdict, probe success percentage and final probe statuses.
func decide(o outcome) verdict {
	v := verdict{phase: litmus.ResultPhaseCompleted, verdict: litmus.VerdictPass}
	switch {
	case o.aborted:
		v.phase, v.verdict = litmus.ResultPhaseStopped, litmus.VerdictStopped
	case o.err != nil && (o.err.Code.IsProbeFailure() || o.err.Code == litmus.ErrorCodeProbeTimeout):
		v.phase, v.verdict = litmus.ResultPhaseCompleted, litmus.VerdictFail
	case o.err != nil:
		v.phase, v.verdict = litmus.ResultPhaseError, litmus.VerdictError
		v.errOut = o.err.ErrorOutput()
	}
	anyFailed := false
	for _, p := range o.probes {
		if p.Status.Verdict == litmus.ProbeVerdictFailed {
			anyFailed = true
		}
	}
	if anyFailed {
		v.phase, v.verdict = litmus.ResultPhaseCompletedWithProbeFailure, litmus.VerdictFail
		if o.stoppedByProbe {
			v.phase, v.verdict = litmus.ResultPhaseStopped, litmus.VerdictStopped
		}
	}
	v.probes = make([]litmus.ProbeStatus, len(o.probes))
	copy(v.probes, o.probes)
	if v.verdict != litmus.VerdictPass {
		for i := range v.probes {
			if v.probes[i].Status.Verdict == litmus.ProbeVerdictAwaited || v.probes[i].Status.Verdict == "" {
				v.probes[i].Status.Verdict = litmus.ProbeVerdictNA
				v.probes[i].Status.Description = "Either probe is not executed or not evaluated"
			}
		}
	}
	switch v.verdict {
	case litmus.VerdictPass:
		v.psp = "100" // even without probes: ChaosCenter's score depends on it
	case litmus.VerdictError:
		v.psp = "0"
	default:
		v.psp = "0"
		if n := len(o.probes); n > 0 {
			v.psp = strconv.Itoa(o.passedProbes * 100 / n)
		}
	}
	return v
}

// count adds a run's verdict to the cumulative history counters (Error runs are not counted).
func count(h *litmus.ResultHistory, v litmus.Verdict) {
	switch v {
	case litmus.VerdictPass:
		h.PassedRuns++
	case litmus.VerdictFail:
		h.FailedRuns++
	case litmus.VerdictStopped:
		h.StoppedRuns++
	}
}
