package executor

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/executor/target"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// Fault is one run of a fault (pod-delete, ...) for one experiment. The executor owns the
// generic lifecycle around it — variables, ramp time, when health checks run, probes, results
// and events — and calls, in order: CheckHealthy(PreChaos) when DEFAULT_HEALTH_CHECK is on,
// Inject, CheckHealthy(PostChaos) likewise; then Targets and Recoveries for the ChaosResult.
type Fault interface {
	// CheckHealthy checks the application under test before or after the chaos; it may poll
	// (every Params.StatusCheckDelay, for up to Params.StatusCheckTimeout). A failure is a
	// *litmus.Error (STATUS_CHECKS_ERROR, ...).
	CheckHealthy(ctx context.Context, phase litmus.ExperimentPhase) error
	// Inject runs the chaos until Params.Duration has passed or ctx ends (returning its cause).
	// With Params.DryRun it selects and reports its victims but changes nothing.
	Inject(ctx context.Context) error
	// Targets lists the workloads the fault targeted.
	Targets() []Workload
	// Recoveries lists what became of every victim (pod faults; nil for others).
	Recoveries() []Recovery
}

// FaultKind registers a fault with the executor: its name, as in the ChaosExperiment, its
// code defaults of the generic variables, and its constructor.
type FaultKind struct {
	Name string
	// Defaults of TOTAL_CHAOS_DURATION and CHAOS_INTERVAL when the experiment sets none; zero
	// values mean litmus.DefaultChaosDuration and litmus.DefaultChaosInterval.
	Defaults Defaults
	// New builds one run. p holds the generic variables, already parsed; New reads the
	// fault's own variables from env, recording invalid values there (env.Invalid) so that
	// the executor reports them all at once. An error returned ends the run at once.
	New func(d FaultDeps, p Params, env *litmus.Env) (Fault, error)
}

// Defaults are a fault's own defaults of the generic variables.
type Defaults struct {
	Duration time.Duration
	Interval time.Duration
}

// Registry is the set of faults an executor can run (Options.Faults). Build it in the
// program's wiring; package executor/faults has the built-in one.
type Registry struct{ kinds map[string]FaultKind }

// NewRegistry returns a registry of kinds. Two kinds with one name are a programming error.
func NewRegistry(kinds ...FaultKind) (*Registry, error) {
	r := &Registry{kinds: map[string]FaultKind{}}
	for _, k := range kinds {
		if k.Name == "" || k.New == nil {
			return nil, fmt.Errorf("fault kind %q: name and New are required", k.Name)
		}
		if _, dup := r.kinds[k.Name]; dup {
			return nil, fmt.Errorf("fault %q registered twice", k.Name)
		}
		r.kinds[k.Name] = k
	}
	return r, nil
}

// Lookup returns the fault registered under name.
func (r *Registry) Lookup(name string) (FaultKind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Names lists the registered faults, sorted.
func (r *Registry) Names() []string { return slices.Sorted(maps.Keys(r.kinds)) }

// FaultDeps is what a fault run is given; all is set by the executor but Log may be a no-op.
type FaultDeps struct {
	Client   kube.Interface // acts as the engine's chaosServiceAccount
	Selector Selector
	Entries  []target.Entry // the engine's targets
	// DefaultNamespace is where TARGET_PODS live when no entry names a namespace.
	DefaultNamespace string
	Clock            clock.WithTicker
	Rand             *rand.Rand // this run's random source
	Observer         Observer
	Log              *zap.Logger
}

// Selector finds targets in the executor's informer caches (target.NewSelector).
type Selector interface {
	Candidates(spec target.Spec) ([]*corev1.Pod, error)
	Select(spec target.Spec) ([]*corev1.Pod, error)
	Owner(p *corev1.Pod) (kind, name string)
	WorkloadPods(kind, namespace, name string) ([]*corev1.Pod, error)
}

// Observer hears about a fault's progress as it happens; the executor turns it into events
// and metrics. Its methods are called from the fault's goroutines and must not block.
type Observer interface {
	Iteration(n int, victims []*corev1.Pod)
	Injected(v Victim)
	Skipped(s Skip)
	Recovered(r Recovery)
}

// Workload identifies a victim's parent.
type Workload struct {
	Kind, Namespace, Name string
}

func (w Workload) String() string {
	if w.Kind == "" {
		return "none"
	}
	return w.Kind + "/" + w.Name
}

// Victim is a pod the chaos hit (or, in dry-run mode, would have hit).
type Victim struct {
	Namespace, Name string
	UID             types.UID
	Owner           Workload
	InjectedAt      time.Time
	DryRun          bool
}

// Skip is a selected pod that was deliberately spared.
type Skip struct {
	Namespace, Name string
	Reason          string
}

// Recovery is the fate of one victim: when a replacement became Ready.
type Recovery struct {
	Victim
	Replacement string
	ReadyAt     time.Time
	Recovered   bool
	Reason      string // why it did not recover, if it did not
}

// Seconds is the time from the injection to a Ready replacement.
func (r Recovery) Seconds() float64 { return r.ReadyAt.Sub(r.InjectedAt).Seconds() }

// NewFault parses env (the generic variables, then the fault's own) and builds one run of
// kind. Every invalid value is reported in one *litmus.Error (GENERIC_ERROR, phase PreChaos).
func NewFault(kind FaultKind, d FaultDeps, vars map[string]string) (Fault, Params, error) {
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	env := litmus.NewEnv(vars)
	p := ParseParams(env, kind.Defaults)
	f, err := kind.New(d, p, env)
	p.read = env.Read
	if perr := env.Err(kind.Name); perr != nil {
		return nil, p, perr
	}
	if err != nil {
		return nil, p, err
	}
	return f, p, nil
}

func notImplemented(name, experiment string, r *Registry) error {
	return litmus.NewError(litmus.ErrorCodeGeneric, "fault %q (ChaosExperiment %s) is not implemented by chaos-agent; it implements: %s",
		name, experiment, strings.Join(r.Names(), ", "))
}
