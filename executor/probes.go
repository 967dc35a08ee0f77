package executor

import (
	"context"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// ProbeRunner evaluates an experiment's resilience probes (*probes.Runner implements it).
type ProbeRunner interface {
	// Start validates a run's probes and returns its session; invalid probes are reported as
	// a *litmus.Error before any chaos happens.
	Start(ctx context.Context, run litmus.ProbeRun) (litmus.ProbeSession, error)
}
