package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/agent"
	"github.com/chaos-agent/chaos-agent/internal/config"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	testprom "github.com/chaos-agent/chaos-agent/internal/testing/prometheus"
	"github.com/chaos-agent/chaos-agent/probes"
)

// passedRuns is the agent's own count of passed experiment runs, as a single sample.
const passedRuns = `sum(chaos_agent_experiment_runs_total{verdict="Pass"})`

// TestPromProbeOnAgentMetrics closes the loop between the agent's /metrics and promProbe: a
// real Prometheus scrapes the agent (operator mode, as in TestServeOperatorMode), and
// promProbes query what the agent exported about its own runs.
//
//   - Before any run the Pass counter has no series: the probe is a PROM_PROBE_ERROR.
//   - After one passed pod-delete run, a probe session (probes.Runner, EOT) judges
//     passedRuns >= 1 Passed and passedRuns <= 0 Failed, with the scraped value 1.
//   - The same two probes in a second engine, evaluated by the agent's executor: verdict Fail,
//     phase Completed_With_Probe_Failure, probeSuccessPercentage 50.
func TestPromProbeOnAgentMetrics(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()

	cfg := config.Defaults()
	cfg.Kubeconfig = c.Kubeconfig
	cfg.Namespace = ns
	cfg.Scope = config.ScopeNamespace
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.HealthAddr = ""
	cfg.PodName = "chaos-agent-prom-test"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := agent.New(cfg, zaptest.NewLogger(t))
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent returned %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("agent did not shut down")
		}
	})
	metrics, err := a.MetricsAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Start returns once Prometheus has scraped the agent's /metrics successfully.
	prom := testprom.Start(t, metrics.String())
	atLeastOne := promProbe("agent-runs-passed", prom.URL(), ">=", "1")
	none := promProbe("agent-runs-none", prom.URL(), "<=", "0")

	// No run yet: the counter has no Pass series, so the query returns no sample.
	_, err = evalProbes(t, atLeastOne)
	var le *litmus.Error
	if !errors.As(err, &le) || le.Code != litmus.ErrorCodePromProbeError || !strings.Contains(le.Reason, "returned 0 series") {
		t.Fatalf("before any run: PostChaos error %v, want PROM_PROBE_ERROR (0 series)", err)
	}

	// One passed pod-delete run.
	setupChaos(t, c, ns)
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, testcluster.Deployment(ns, "web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createEngine(t, c, ns, "quick", "4", "2")
	res := waitVerdict(t, c, ns, "quick")
	if v := res.Status.ExperimentStatus.Verdict; v != litmus.VerdictPass {
		t.Fatalf("verdict %s (%+v)", v, res.Status.ExperimentStatus.ErrorOutput)
	}
	if v := prom.WaitFor(t, passedRuns, func(v float64) bool { return v >= 1 }); v != 1 {
		t.Fatalf("%s = %v after one passed run, want 1", passedRuns, v)
	}

	// The probes, evaluated by a probe session at EOT.
	r, err := evalProbes(t, atLeastOne, none)
	if err != nil {
		t.Fatalf("PostChaos: %v (a failure without stopOnFailure is not returned)", err)
	}
	want := []wantProbe{
		{"agent-runs-passed", litmus.ProbeVerdictPassed, "The query result '1' satisfied the criteria '>= 1'"},
		{"agent-runs-none", litmus.ProbeVerdictFailed, fmt.Sprintf("query %q: Actual value: 1. Expected value: <= 0", passedRuns)},
	}
	checkProbeStatuses(t, r.Statuses, want)
	if r.Passed != 1 || r.StoppedByProbe {
		t.Errorf("Passed %d, StoppedByProbe %v; want 1, false", r.Passed, r.StoppedByProbe)
	}

	// The same probes run by the agent itself, in an engine of their own.
	createEngineWithProbes(t, c, ns, "probed", atLeastOne, none)
	res = waitVerdict(t, c, ns, "probed")
	st := res.Status.ExperimentStatus
	t.Logf("engine with promProbes: verdict %s, phase %s, probeSuccessPercentage %s, probes %+v", st.Verdict, st.Phase, st.ProbeSuccessPercentage, res.Status.ProbeStatuses)
	if st.Verdict != litmus.VerdictFail || st.Phase != litmus.ResultPhaseCompletedWithProbeFailure || st.ProbeSuccessPercentage != "50" {
		t.Errorf("verdict %s, phase %s, probeSuccessPercentage %s; want Fail, %s, 50 (%+v)",
			st.Verdict, st.Phase, st.ProbeSuccessPercentage, litmus.ResultPhaseCompletedWithProbeFailure, st.ErrorOutput)
	}
	checkProbeStatuses(t, res.Status.ProbeStatuses, want)
}

// promProbe is an EOT promProbe comparing passedRuns as a float.
func promProbe(name, endpoint, criteria, value string) litmus.Probe {
	return litmus.Probe{
		Name: name, Type: litmus.ProbeTypeProm, Mode: litmus.ProbeModeEOT,
		RunProperties: litmus.RunProperties{ProbeTimeout: litmus.DurationFromString("5s"), Interval: litmus.DurationFromString("1s")},
		PromProbeInputs: &litmus.PromProbeInputs{
			Endpoint: endpoint, Query: passedRuns,
			Comparator: litmus.Comparator{Type: litmus.ComparatorTypeFloat, Criteria: criteria, Value: value},
		},
	}
}

// evalProbes runs the probes through a probe session's phases (no chaos in between) and
// returns the result and the error of PostChaos, where EOT probes are evaluated.
func evalProbes(t *testing.T, ps ...litmus.Probe) (litmus.ProbeResult, error) {
	t.Helper()
	ctx := t.Context()
	s, err := probes.NewRunner(probes.Options{Log: zaptest.NewLogger(t)}).Start(ctx, litmus.ProbeRun{
		Probes: ps, Engine: "prom-probe-test", Experiment: "pod-delete", RunID: "abc123",
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Close()
	if err := s.PreChaos(ctx); err != nil {
		t.Fatalf("PreChaos: %v", err)
	}
	s.ChaosStarted(ctx)
	err = s.PostChaos(ctx)
	return s.Result(), err
}

// wantProbe is the expected status of an EOT promProbe; desc is a substring of its description.
type wantProbe struct {
	name    string
	verdict litmus.ProbeVerdict
	desc    string
}

// checkProbeStatuses checks probe statuses, in order, against want.
func checkProbeStatuses(t *testing.T, got []litmus.ProbeStatus, want []wantProbe) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("probe statuses %+v, want %d", got, len(want))
	}
	for i, w := range want {
		st := got[i]
		if st.Name != w.name || st.Type != litmus.ProbeTypeProm || st.Mode != litmus.ProbeModeEOT ||
			st.Status.Verdict != w.verdict || !strings.Contains(st.Status.Description, w.desc) {
			t.Errorf("probe %s (%s, %s): %s %q; want %s (%s, EOT): %s with %q",
				st.Name, st.Type, st.Mode, st.Status.Verdict, st.Status.Description, w.name, litmus.ProbeTypeProm, w.verdict, w.desc)
		}
	}
}

// createEngineWithProbes creates a short pod-delete engine on app=web carrying the probes.
func createEngineWithProbes(t *testing.T, c *testcluster.Cluster, ns, name string, ps ...litmus.Probe) {
	t.Helper()
	u, err := litmus.ToUnstructured(&litmus.ChaosEngine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: litmus.ChaosEngineSpec{
			AppInfo: litmus.AppInfo{AppNS: ns, AppKind: "deployment", AppLabel: "app=web"}, EngineState: litmus.EngineStateActive,
			ChaosServiceAccount: "chaos",
			Experiments: []litmus.EngineExperiment{{Name: "pod-delete", Spec: litmus.EngineExperimentSpec{
				Components: litmus.ExperimentComponents{
					Env: []corev1.EnvVar{{Name: "TOTAL_CHAOS_DURATION", Value: "4"}, {Name: "CHAOS_INTERVAL", Value: "2"}},
				},
				Probe: ps,
			}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns).Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
