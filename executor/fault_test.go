package executor_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/internal/clockutil"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// sleep is the smallest fault there is: it injects nothing and only waits out
// TOTAL_CHAOS_DURATION. It shows that adding a fault is one implementation of executor.Fault
// and one FaultKind handed to the registry, and it lets the tests below watch the executor's
// generic lifecycle (variables, ramp time, health checks, results) from inside a fault.
type sleep struct {
	d     executor.FaultDeps
	p     executor.Params
	fail  string // SLEEP_UNHEALTHY: the phase whose health check fails
	calls *calls
}

// calls records what the executor asked of the sleep faults, in order.
type calls struct {
	mu  sync.Mutex
	log []string
	p   executor.Params
	at  []time.Time
}

func (c *calls) add(what string, p executor.Params) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log, c.p, c.at = append(c.log, what), p, append(c.at, time.Now())
}

func (c *calls) snapshot() ([]string, executor.Params, []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log), c.p, slices.Clone(c.at)
}

func sleepKind(c *calls) executor.FaultKind {
	return executor.FaultKind{
		Name:     "sleep",
		Defaults: executor.Defaults{Duration: 3 * time.Second},
		New: func(d executor.FaultDeps, p executor.Params, env *litmus.Env) (executor.Fault, error) {
			f := &sleep{d: d, p: p, calls: c}
			if v, ok := env.Get("SLEEP_UNHEALTHY"); ok {
				if v != string(litmus.ExperimentPhasePreChaos) && v != string(litmus.ExperimentPhasePostChaos) {
					env.Invalid("SLEEP_UNHEALTHY", v, errors.New("want PreChaos or PostChaos"))
				}
				f.fail = v
			}
			return f, nil
		},
	}
}

func (s *sleep) CheckHealthy(_ context.Context, phase litmus.ExperimentPhase) error {
	s.calls.add("check "+string(phase), s.p)
	if string(phase) == s.fail {
		return &litmus.Error{Code: litmus.ErrorCodeStatusChecks, Phase: phase, Reason: "the sleeper is unwell"}
	}
	return nil
}

func (s *sleep) Inject(ctx context.Context) error {
	s.calls.add("inject", s.p)
	if s.p.DryRun {
		return nil
	}
	return clockutil.Sleep(ctx, s.d.Clock, s.p.Duration)
}

func (s *sleep) Targets() []executor.Workload    { return nil }
func (s *sleep) Recoveries() []executor.Recovery { return nil }

// TestNewFaultReportsEveryInvalidValue: generic and fault variables are reported together, in
// one GENERIC_ERROR naming the fault; no cluster needed.
func TestNewFaultReportsEveryInvalidValue(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string
		check   func(t *testing.T, p executor.Params)
	}{
		{name: "fault defaults", check: func(t *testing.T, p executor.Params) {
			if p.Duration != 3*time.Second || p.Interval.Min != litmus.DefaultChaosInterval || !p.HealthCheck ||
				p.StatusCheckDelay != litmus.DefaultStatusCheckDelay || p.StatusCheckTimeout != litmus.DefaultStatusCheckTimeout {
				t.Errorf("params %+v", p)
			}
		}},
		{name: "generic variables", env: map[string]string{"TOTAL_CHAOS_DURATION": "1m", "RAMP_TIME": "2", "DRY_RUN": "true", "DEFAULT_HEALTH_CHECK": "false"},
			check: func(t *testing.T, p executor.Params) {
				if p.Duration != time.Minute || p.RampTime != 2*time.Second || !p.DryRun || p.HealthCheck {
					t.Errorf("params %+v", p)
				}
			}},
		{name: "generic and own errors together", env: map[string]string{"TOTAL_CHAOS_DURATION": "long", "SLEEP_UNHEALTHY": "always"},
			wantErr: []string{"invalid sleep parameters", "TOTAL_CHAOS_DURATION", "SLEEP_UNHEALTHY"}},
		{name: "timeout shorter than delay", env: map[string]string{"STATUS_CHECK_DELAY": "10", "STATUS_CHECK_TIMEOUT": "5"},
			wantErr: []string{"STATUS_CHECK_TIMEOUT", "shorter"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, p, err := executor.NewFault(sleepKind(&calls{}), executor.FaultDeps{}, tc.env)
			if len(tc.wantErr) == 0 {
				if err != nil || f == nil {
					t.Fatalf("NewFault: %v", err)
				}
				tc.check(t, p)
				return
			}
			var le *litmus.Error
			if !errors.As(err, &le) || le.Code != litmus.ErrorCodeGeneric || le.Phase != litmus.ExperimentPhasePreChaos {
				t.Fatalf("error %v, want a GENERIC_ERROR in PreChaos", err)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(le.Reason, w) {
					t.Errorf("reason %q does not mention %q", le.Reason, w)
				}
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	if _, err := executor.NewRegistry(sleepKind(&calls{}), sleepKind(&calls{})); err == nil {
		t.Error("a fault registered twice was accepted")
	}
	if _, err := executor.NewRegistry(executor.FaultKind{Name: "nameless-constructor"}); err == nil {
		t.Error("a fault without New was accepted")
	}
	r, err := executor.NewRegistry(sleepKind(&calls{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Lookup("sleep"); !ok || !slices.Equal(r.Names(), []string{"sleep"}) {
		t.Errorf("registry names %v", r.Names())
	}
}

func sleepExperiment(ns string) *litmus.ChaosExperiment {
	return &litmus.ChaosExperiment{
		ObjectMeta: metav1.ObjectMeta{Name: "nap", Namespace: ns},
		Spec: litmus.ChaosExperimentSpec{Definition: litmus.ExperimentDefinition{
			Image: "example/sleep", Command: []string{"/bin/sh"}, Args: []string{"-c", "./experiments -name sleep"},
			Env: []corev1.EnvVar{{Name: "TOTAL_CHAOS_DURATION", Value: "2"}, {Name: "RAMP_TIME", Value: "1"}},
		}},
	}
}

func (e *env) sleepEngine(name string, vars map[string]string) *litmus.ChaosEngine {
	en := e.engine(name, "", "", vars)
	en.Spec.AppInfo = litmus.AppInfo{}
	en.Spec.Experiments[0].Name = "nap"
	return en
}

// resultOf waits for the result of an engine's experiment to reach a final verdict.
func (e *env) resultOf(engine, experiment string, timeout time.Duration) *litmus.ChaosResult {
	e.t.Helper()
	var res litmus.ChaosResult
	testcluster.Eventually(e.t, timeout, "final verdict of "+engine, func(ctx context.Context) (bool, error) {
		u, err := e.c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(e.ns).Get(ctx, litmus.ResultName(engine, experiment, ""), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if err := litmus.FromUnstructured(u, &res); err != nil {
			return false, err
		}
		v := res.Status.ExperimentStatus.Verdict
		return v != "" && v != litmus.VerdictAwaited, nil
	})
	return &res
}

// TestSleepFaultLifecycle runs the second fault through a real executor on the test cluster:
// the executor resolves it by the ChaosExperiment's -name, parses the generic variables (the
// experiment's, overridden by the engine's), ramps, runs the health checks around Inject only
// when DEFAULT_HEALTH_CHECK is on, and turns a failed check into the verdict.
func TestSleepFaultLifecycle(t *testing.T) {
	tests := []struct {
		name        string
		vars        map[string]string
		wantCalls   []string
		wantVerdict litmus.Verdict
		wantCode    litmus.ErrorCode
	}{
		{name: "pass", vars: map[string]string{"DEFAULT_HEALTH_CHECK": "true"},
			wantCalls: []string{"check PreChaos", "inject", "check PostChaos"}, wantVerdict: litmus.VerdictPass},
		{name: "no health check", vars: map[string]string{"DEFAULT_HEALTH_CHECK": "false"},
			wantCalls: []string{"inject"}, wantVerdict: litmus.VerdictPass},
		{name: "unhealthy after", vars: map[string]string{"DEFAULT_HEALTH_CHECK": "true", "SLEEP_UNHEALTHY": "PostChaos"},
			wantCalls: []string{"check PreChaos", "inject", "check PostChaos"}, wantVerdict: litmus.VerdictError, wantCode: litmus.ErrorCodeStatusChecks},
		{name: "invalid variable", vars: map[string]string{"SLEEP_UNHEALTHY": "sometimes"},
			wantVerdict: litmus.VerdictError, wantCode: litmus.ErrorCodeGeneric},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &calls{}
			e := setup(t, false, sleepKind(c))
			e.create(litmus.ChaosExperimentGVR().Resource, sleepExperiment(e.ns))
			start := time.Now()
			e.create("chaosengines", e.sleepEngine("nap-chaos", tc.vars))
			res := e.resultOf("nap-chaos", "nap", 60*time.Second)
			took := time.Since(start)
			st := res.Status.ExperimentStatus
			if st.Verdict != tc.wantVerdict {
				t.Errorf("verdict %s, want %s (%+v)", st.Verdict, tc.wantVerdict, st)
			}
			if tc.wantCode != "" && (st.ErrorOutput == nil || st.ErrorOutput.ErrorCode != tc.wantCode) {
				t.Errorf("error output %+v, want %s", st.ErrorOutput, tc.wantCode)
			}
			got, p, at := c.snapshot()
			if !slices.Equal(got, tc.wantCalls) {
				t.Errorf("calls %v, want %v", got, tc.wantCalls)
			}
			if len(tc.wantCalls) == 0 {
				return
			}
			if p.Duration != 2*time.Second || p.RampTime != time.Second {
				t.Errorf("params %+v: want the experiment's TOTAL_CHAOS_DURATION=2 and RAMP_TIME=1", p)
			}
			if tc.wantVerdict == litmus.VerdictPass {
				// ramp (1 s) + sleep (2 s) + ramp (1 s)
				if took < 4*time.Second {
					t.Errorf("run took %s, want at least 4s", took)
				}
				if len(at) == 3 && at[2].Sub(at[1]) < 3*time.Second {
					t.Errorf("post-chaos check %s after inject started, want the 2s chaos and 1s ramp first", at[2].Sub(at[1]))
				}
			}
		})
	}
}

// TestUnregisteredFault: an experiment whose fault is not registered ends in Error and the
// result names the faults that are.
func TestUnregisteredFault(t *testing.T) {
	e := setup(t, false)
	e.create(litmus.ChaosExperimentGVR().Resource, sleepExperiment(e.ns))
	e.create("chaosengines", e.sleepEngine("nap-chaos", nil))
	st := e.resultOf("nap-chaos", "nap", 60*time.Second).Status.ExperimentStatus
	if st.Verdict != litmus.VerdictError || st.ErrorOutput == nil || !strings.Contains(st.ErrorOutput.Reason, `fault \"sleep\"`) ||
		!strings.Contains(st.ErrorOutput.Reason, "pod-delete") {
		t.Errorf("result %+v: want an Error naming sleep and the registered pod-delete", st)
	}
}
