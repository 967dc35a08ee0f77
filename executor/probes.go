package executor

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// ProbeRunner evaluates an experiment's resilience probes (package probes implements it).
type ProbeRunner interface {
	// Start validates a run's probes and returns its session; invalid probes are reported as a
	// *litmus.Error before any chaos happens.
	Start(ctx context.Context, run ProbeRun) (ProbeSession, error)
}

// ProbeRun describes the experiment run the probes belong to.
type ProbeRun struct {
	Probes        []litmus.Probe
	Namespace     string
	Engine        string
	EngineUID     types.UID
	Experiment    string
	RunID         string        // names probe pods <experiment>-probe-<runID>
	ChaosDuration time.Duration // the OnChaos window
	// StatusCheckDelay and StatusCheckTimeout bound waits for async probes and probe pods.
	StatusCheckDelay, StatusCheckTimeout time.Duration
	// Clients acting as the engine's chaos service account.
	Kube           kube.Interface
	Dynamic        dynamic.Interface
	RESTConfig     *rest.Config
	ServiceAccount string
	// Stop ends the run early (a Continuous/OnChaos probe with stopOnFailure failed).
	Stop func(reason string)
}

// ProbeSession runs one experiment's probes through its phases (litmus-execution §6.2).
type ProbeSession interface {
	PreChaos(ctx context.Context) error  // SOT and Edge (pre), then starts Continuous probes
	ChaosStarted(ctx context.Context)    // starts OnChaos probes
	PostChaos(ctx context.Context) error // ends and evaluates Continuous/OnChaos, then EOT and Edge (post)
	Result() ProbeResult                 // the statuses so far
	Close()                              // stops whatever still runs
}

// ProbeResult is the probes' contribution to the verdict.
type ProbeResult struct {
	Statuses       []litmus.ProbeStatus
	Passed         int  // probes that passed, each counted once
	StoppedByProbe bool // a probe with stopOnFailure failed
}
