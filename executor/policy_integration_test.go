package executor_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/executor/faults"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	"github.com/chaos-agent/chaos-agent/policy"
	"github.com/chaos-agent/chaos-agent/probes"
)

func (e *env) setPolicy(data map[string]string) {
	e.t.Helper()
	cms := e.c.Client.CoreV1().ConfigMaps(e.ns)
	cm, err := cms.Get(e.t.Context(), policy.ConfigMapName, metav1.GetOptions{})
	if err != nil {
		_, err = cms.Create(e.t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: policy.ConfigMapName}, Data: data}, metav1.CreateOptions{})
		must(e.t, err)
		return
	}
	cm.Data = data
	_, err = cms.Update(e.t.Context(), cm, metav1.UpdateOptions{})
	must(e.t, err)
}

// errorResult waits for an engine's Error verdict and returns its reason.
func (e *env) errorResult(engine, experiment string) string {
	e.t.Helper()
	var res litmus.ChaosResult
	testcluster.Eventually(e.t, 60*time.Second, "Error verdict of "+engine, func(ctx context.Context) (bool, error) {
		u, err := e.c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(e.ns).Get(ctx, litmus.ResultName(engine, experiment, ""), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if err := litmus.FromUnstructured(u, &res); err != nil {
			return false, err
		}
		v := res.Status.ExperimentStatus.Verdict
		if v != "" && v != litmus.VerdictAwaited && v != litmus.VerdictError {
			e.t.Fatalf("engine %s ended with verdict %s, want Error", engine, v)
		}
		return v == litmus.VerdictError, nil
	})
	if res.Status.ExperimentStatus.ErrorOutput == nil {
		e.t.Fatalf("engine %s: Error without errorOutput", engine)
	}
	return res.Status.ExperimentStatus.ErrorOutput.Reason
}

// TestPolicyAtRunTime is issue 14's "Done when" list, on the executor of a cluster-scoped
// stand-alone agent under a policy allowedNamespaces=<its namespace>, maxPodsAffectedPerc=50:
// engines created directly (kubectl, GitOps: no control plane saw them) that target another
// namespace through spec.selectors, take PODS_AFFECTED_PERC=100 from their ChaosExperiment or a
// ConfigMap, ask for RAMP_TIME=10000000000, carry a k8sProbe deleting pods elsewhere or an inline
// cmdProbe, each end in Error with the rule or variable named, an Event, and nothing touched.
func TestPolicyAtRunTime(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "inline-ran")
	e := setupWith(t, true, func(e *env, o *executor.Options) {
		o.Policy = policy.NewSource(e.c.Client, e.ns, policy.ConfigMapName, policy.Defaults{}) // as under serve
		o.Probes = probes.NewRunner(probes.Options{Clock: clock.RealClock{}, Log: zaptest.NewLogger(t)})
	})
	e.setPolicy(map[string]string{"allowedNamespaces": e.ns, "maxPodsAffectedPerc": "50"})
	other := &env{t: t, c: e.c, ns: e.c.Namespace(t)}
	e.deployment("web", 2)
	other.deployment("web", 2)
	mine, theirs := e.watchDeletions(), other.watchDeletions()

	// A ChaosExperiment whose own env asks for 100%.
	x100 := podDeleteExperiment(e.ns)
	x100.Name = "pod-delete-all"
	for i := range x100.Spec.Definition.Env {
		if x100.Spec.Definition.Env[i].Name == "PODS_AFFECTED_PERC" {
			x100.Spec.Definition.Env[i].Value = "100"
		}
	}
	e.create(litmus.ChaosExperimentGVR().Resource, x100)
	_, err := e.c.Client.CoreV1().ConfigMaps(e.ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "chaos-settings"},
		Data: map[string]string{"perc": "30-100"}}, metav1.CreateOptions{})
	must(t, err)
	probeProps := litmus.RunProperties{ProbeTimeout: litmus.NewDuration(5 * time.Second), Interval: litmus.NewDuration(time.Second), Attempt: 1}

	short := map[string]string{"TOTAL_CHAOS_DURATION": "4", "CHAOS_INTERVAL": "1"}
	tests := []struct {
		name       string
		experiment string
		mutate     func(*litmus.ChaosEngine)
		contains   []string
	}{
		{name: "selectors-elsewhere", mutate: func(en *litmus.ChaosEngine) {
			en.Spec.AppInfo = litmus.AppInfo{}
			en.Spec.Selectors = &litmus.Selectors{Workloads: []litmus.WorkloadSelector{{Kind: "deployment", Namespace: other.ns, Names: "web"}}}
		}, contains: []string{"rule allowedNamespaces", other.ns}},
		{name: "percent-from-experiment", experiment: "pod-delete-all", contains: []string{"rule maxPodsAffectedPerc", "PODS_AFFECTED_PERC=100 "}},
		{name: "percent-from-configmap", mutate: func(en *litmus.ChaosEngine) {
			en.Spec.Experiments[0].Spec.Components.Env = append(en.Spec.Experiments[0].Spec.Components.Env, corev1.EnvVar{Name: "PODS_AFFECTED_PERC",
				ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "chaos-settings"}, Key: "perc"}}})
		}, contains: []string{"rule maxPodsAffectedPerc", "30-100"}},
		{name: "ramp-overflow", mutate: func(en *litmus.ChaosEngine) {
			en.Spec.Experiments[0].Spec.Components.Env = append(en.Spec.Experiments[0].Spec.Components.Env, corev1.EnvVar{Name: "RAMP_TIME", Value: "10000000000"})
		}, contains: []string{"RAMP_TIME", "10000000000", "limit"}},
		{name: "k8sprobe-deletes-elsewhere", mutate: func(en *litmus.ChaosEngine) {
			en.Spec.Experiments[0].Spec.Probe = []litmus.Probe{{Name: "kill", Type: litmus.ProbeTypeK8s, Mode: litmus.ProbeModeSOT, RunProperties: probeProps,
				K8sProbeInputs: &litmus.K8sProbeInputs{Version: "v1", Resource: "pods", Namespace: other.ns, LabelSelector: "app=web", Operation: litmus.K8sOperationDelete}}}
		}, contains: []string{"rule allowedProbeOperations", "delete"}},
		{name: "inline-cmdprobe", mutate: func(en *litmus.ChaosEngine) {
			en.Spec.Experiments[0].Spec.Probe = []litmus.Probe{{Name: "shell", Type: litmus.ProbeTypeCmd, Mode: litmus.ProbeModeSOT, RunProperties: probeProps,
				CmdProbeInputs: &litmus.CmdProbeInputs{Command: "touch " + marker + " && echo ok", Comparator: litmus.Comparator{Type: litmus.ComparatorTypeString, Criteria: "==", Value: "ok"}}}}
		}, contains: []string{"rule allowInlineCommands"}},
		{name: "appinfo-elsewhere", mutate: func(en *litmus.ChaosEngine) {
			en.Spec.AppInfo.AppNS = other.ns
		}, contains: []string{"rule allowedNamespaces", other.ns}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			en := e.engine(tc.name, "deployment", "app=web", short)
			if tc.experiment != "" {
				en.Spec.Experiments[0].Name = tc.experiment
			}
			if tc.mutate != nil {
				tc.mutate(en)
			}
			e.create("chaosengines", en)
			reason := e.errorResult(tc.name, en.Spec.Experiments[0].Name)
			for _, want := range tc.contains {
				if !strings.Contains(reason, want) {
					t.Errorf("reason %q does not name %q", reason, want)
				}
			}
			closed := e.waitEngineClosed(tc.name)
			if v := closed.Status.Experiments[0].Verdict; v != litmus.VerdictError {
				t.Errorf("engine verdict %s, want Error", v)
			}
			t.Logf("failStep: %s", reason)
		})
	}
	if n := eventReasons(t, e.c, e.ns)["ChaosEngine/PolicyRefused"]; n < int32(len(tests)-1) { // RAMP_TIME is a parameter error, not a policy rule
		t.Errorf("%d PolicyRefused events, want at least %d", n, len(tests)-1)
	}
	if d := theirs.snapshot(); len(d) > 0 {
		t.Errorf("pods deleted in the other namespace: %v", d)
	}
	if d := mine.snapshot(); len(d) > 0 {
		t.Errorf("pods deleted in the agent's namespace: %v", d)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the inline cmdProbe ran")
	}

	// Under run (a user's own machine, no ConfigMap), the same inline probe is allowed.
	t.Run("run-allows-inline", func(t *testing.T) {
		p, err := policy.NewSource(e.c.Client, "no-such-namespace", policy.ConfigMapName, policy.Defaults{AllowInlineCommands: true, Optional: true}).Get(t.Context())
		if err != nil || !p.AllowInlineCommands || !p.AllowsNamespace(other.ns) {
			t.Fatalf("policy under run without a ConfigMap: %+v, %v", p, err)
		}
	})
}

// TestHalt: a running fault stops within a second of the policy's kill switch, of a halt-all and
// of the loss of the control-plane link (linkLossTimeout); while halted no new run starts.
func TestHalt(t *testing.T) {
	var linked atomic.Bool
	linked.Store(true)
	var guard *policy.Guard
	e := setupWith(t, false, func(e *env, o *executor.Options) {
		guard = policy.NewGuard(policy.GuardOptions{Kube: e.c.Client, Namespace: e.ns, Linked: linked.Load, Log: zaptest.NewLogger(t), Period: 100 * time.Millisecond})
		o.Policy = policy.NewSource(e.c.Client, e.ns, policy.ConfigMapName, policy.Defaults{})
		o.Guard = guard
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- guard.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	e.setPolicy(map[string]string{"linkLossTimeout": "3"})
	e.deployment("web", 3)
	dels := e.watchDeletions()

	long := map[string]string{"TOTAL_CHAOS_DURATION": "300", "CHAOS_INTERVAL": "1"}
	halts := []struct {
		name  string
		halt  func()
		after time.Duration // how long the halt may take to act
		lift  func()
	}{
		{name: "kill-switch", halt: func() { e.setPolicy(map[string]string{"linkLossTimeout": "3", "killSwitch": "true"}) },
			after: time.Second, lift: func() { e.setPolicy(map[string]string{"linkLossTimeout": "3"}) }},
		{name: "halt-all", halt: func() { guard.HaltAll("test") }, after: time.Second, lift: func() {}},
		{name: "link-loss", halt: func() { linked.Store(false) }, after: 3*time.Second + time.Second, lift: func() { linked.Store(true) }},
	}
	for _, h := range halts {
		t.Run(h.name, func(t *testing.T) {
			e.waitReady("app=web", 3)
			before := len(dels.snapshot())
			e.create("chaosengines", e.engine(h.name, "deployment", "app=web", long))
			testcluster.Eventually(t, 30*time.Second, "deletions", func(context.Context) (bool, error) { return len(dels.snapshot()) >= before+2, nil })
			at := time.Now()
			h.halt()
			res := e.result(h.name, 30*time.Second)
			t.Logf("%s: result Stopped %s after the halt", h.name, time.Since(at).Round(time.Millisecond))
			if res.Status.ExperimentStatus.Verdict != litmus.VerdictStopped {
				t.Errorf("verdict %s, want Stopped", res.Status.ExperimentStatus.Verdict)
			}
			var last time.Time
			for _, ts := range dels.snapshot() {
				if ts.After(last) {
					last = ts
				}
			}
			// Deletion times are the API server's (whole seconds): allow that rounding.
			if last.After(at.Add(h.after + time.Second)) {
				t.Errorf("a pod was deleted %s after the halt (allowed: %s)", last.Sub(at).Round(time.Millisecond), h.after)
			}
			if h.name != "halt-all" {
				// Still halted: a new engine is refused, naming why.
				e.create("chaosengines", e.engine(h.name+"-new", "deployment", "app=web", long))
				if reason := e.errorResult(h.name+"-new", "pod-delete"); !strings.Contains(reason, "refused by the cluster policy") {
					t.Errorf("reason %q", reason)
				}
			}
			h.lift()
			testcluster.Eventually(t, 10*time.Second, "halt lifted", func(context.Context) (bool, error) { _, halted := guard.Halted(); return !halted, nil })
		})
	}
}

// TestOneExecutorPerEngine: two executors (an installed agent and `chaos-agent run`, say) watch
// the same namespace; each engine is run by exactly one of them, and neither closes the other's
// run as stale.
func TestOneExecutorPerEngine(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	e := setupWith(t, false, func(e *env, o *executor.Options) {
		o.Identity = "agent-a"
		o.Log = zap.New(core).With(zap.String("executor", "a"))
		o.ClaimLease = 3 * time.Second
	})
	registry, err := faults.Builtin()
	must(t, err)
	exB, err := executor.New(executor.Options{Namespace: e.ns, Kube: e.c.Client, Dynamic: e.c.Dynamic, Faults: registry,
		Clients: kube.NewServiceAccountClients(e.c.Config), Identity: "agent-b", ClaimLease: 3 * time.Second,
		Log: zap.New(core).With(zap.String("executor", "b"))})
	must(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- exB.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	e.deployment("web", 2)

	// Runs longer than several claim leases: the loser must leave the winner's run alone.
	names := []string{"one", "two", "three"}
	for _, n := range names {
		e.create("chaosengines", e.engine(n, "deployment", "app=web", map[string]string{"TOTAL_CHAOS_DURATION": "10", "CHAOS_INTERVAL": "2"}))
	}
	for _, n := range names {
		res := e.result(n, 90*time.Second)
		if res.Status.ExperimentStatus.Verdict != litmus.VerdictPass {
			t.Errorf("%s: verdict %s (%+v), want Pass", n, res.Status.ExperimentStatus.Verdict, res.Status.ExperimentStatus.ErrorOutput)
		}
		en := e.waitEngineClosed(n)
		if en.Status.EngineStatus != litmus.EngineStatusCompleted {
			t.Errorf("%s: engine %s, want completed", n, en.Status.EngineStatus)
		}
		owner, _, _ := strings.Cut(en.Annotations["chaos-agent.io/claimed-by"], "/")
		if owner != "agent-a" && owner != "agent-b" || en.Status.Experiments[0].Runner != owner {
			t.Errorf("%s: claimed by %q, runner %q", n, owner, en.Status.Experiments[0].Runner)
		}
		starts := logs.FilterMessage("engine run starting").FilterField(zap.String("engine", e.ns+"/"+n)).Len()
		if starts != 1 {
			t.Errorf("%s: %d runs started, want 1", n, starts)
		}
	}
	if n := logs.FilterMessage("closing an engine left running by a previous agent").Len(); n != 0 {
		t.Errorf("%d runs closed as stale", n)
	}
}
