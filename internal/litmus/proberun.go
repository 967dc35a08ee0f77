package litmus

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/chaos-agent/chaos-agent/internal/kube"
)

// ProbeRun describes the experiment run a set of resilience probes belongs to: what the
// executor hands the probe runner (package probes) when an experiment starts.
type ProbeRun struct {
	Probes []Probe
	// Namespace is CHAOS_NAMESPACE: where cmdProbe source pods are created, and the default
	// namespace of a k8sProbe create whose inputs and manifest name none (for namespaced
	// resources).
	Namespace  string
	Engine     string
	EngineUID  types.UID
	Experiment string
	// RunID (6 characters) names the cmdProbe source pods: <experiment>-probe-<runID>.
	RunID string
	// ChaosDuration is the OnChaos window, measured from ChaosStarted.
	ChaosDuration time.Duration
	// StatusCheckDelay is the polling interval while waiting for source pods;
	// StatusCheckTimeout bounds that wait, the deletion wait, and how long PostChaos waits
	// for the Continuous/OnChaos loops to end. Zero means DefaultStatusCheckDelay and
	// DefaultStatusCheckTimeout.
	StatusCheckDelay, StatusCheckTimeout time.Duration
	// Kube and Dynamic act as the engine's chaos service account (source pods, k8sProbe).
	Kube    kube.Interface
	Dynamic dynamic.Interface
	// RESTConfig is the configuration behind Kube, needed to exec into source pods.
	RESTConfig *rest.Config
	// ServiceAccount runs the cmdProbe source pods.
	ServiceAccount string
	// Stop is called once when a Continuous/OnChaos probe with stopOnFailure fails.
	Stop func(reason string)
}

// ProbeSession runs one experiment's probes through its phases (litmus-execution §6.2). Its
// methods are called in order: PreChaos, ChaosStarted, PostChaos, then Close (always, also
// after an error). Result may be called at any time, concurrently.
type ProbeSession interface {
	PreChaos(ctx context.Context) error  // SOT and Edge (pre), then starts Continuous probes
	ChaosStarted(ctx context.Context)    // starts OnChaos probes
	PostChaos(ctx context.Context) error // ends and evaluates Continuous/OnChaos, then EOT and Edge (post)
	Result() ProbeResult                 // the statuses so far
	Close()                              // stops whatever still runs
}

// ProbeResult is the probes' contribution to the verdict.
type ProbeResult struct {
	// Statuses are the probe statuses in engine order.
	Statuses []ProbeStatus
	// Passed counts the probes that passed, each at most once (Edge only at PostChaos and
	// only if its PreChaos evaluation did not fail).
	Passed int
	// StoppedByProbe is set when a probe with stopOnFailure failed.
	StoppedByProbe bool
}
