package agent_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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
	"github.com/chaos-agent/chaos-agent/policy"
)

// TestServeClusterScopePolicy is issue 14's "Done when" list on a whole agent: a cluster-scoped
// stand-alone `serve` under a policy allowedNamespaces=<its namespace>, maxPodsAffectedPerc=50.
// Engines applied directly (no control plane saw them) that target another namespace through
// spec.selectors, take PODS_AFFECTED_PERC=100 from their ChaosExperiment, ask for
// RAMP_TIME=10000000000, carry a k8sProbe deleting pods in another namespace, or an inline
// cmdProbe, each end without Pass, naming the rule or variable; no pod anywhere is deleted and the
// inline command never runs.
func TestServeClusterScopePolicy(t *testing.T) {
	c := testcluster.Get(t)
	ns, other := c.Namespace(t), c.Namespace(t)
	ctx := t.Context()
	marker := filepath.Join(t.TempDir(), "inline-ran")

	_, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: policy.ConfigMapName},
		Data: map[string]string{"allowedNamespaces": ns, "maxPodsAffectedPerc": "50"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setupChaos(t, c, ns)
	x := &litmus.ChaosExperiment{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-delete-all", Namespace: ns},
		Spec: litmus.ChaosExperimentSpec{Definition: litmus.ExperimentDefinition{
			Args: []string{"-c", "./experiments -name pod-delete"},
			Env:  []corev1.EnvVar{{Name: "FORCE", Value: "true"}, {Name: "DEFAULT_HEALTH_CHECK", Value: "false"}, {Name: "PODS_AFFECTED_PERC", Value: "100"}},
		}},
	}
	createObj(t, c, litmus.ChaosExperimentGVR().Resource, ns, x)
	for _, n := range []string{ns, other} {
		if _, err := c.Client.AppsV1().Deployments(n).Create(ctx, testcluster.Deployment(n, "web", 2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	before := podUIDs(t, c, ns, other, 4)

	cfg := config.Defaults()
	cfg.Kubeconfig = c.Kubeconfig
	cfg.Namespace = ns
	cfg.Scope = config.ScopeCluster
	cfg.HealthAddr = "127.0.0.1:0"
	cfg.MetricsAddr = ""
	cfg.PodName = "chaos-agent-policy-test"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := agent.New(cfg, zaptest.NewLogger(t))
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	health, err := a.HealthAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, "/readyz 200", func(ctx context.Context) (bool, error) {
		code, _, err := get(ctx, "http://"+health.String()+"/readyz")
		return code == http.StatusOK, err
	})

	props := litmus.RunProperties{ProbeTimeout: litmus.NewDuration(5 * time.Second), Interval: litmus.NewDuration(time.Second), Attempt: 1}
	engines := []struct {
		name, experiment string
		mutate           func(*litmus.ChaosEngine)
		names            []string
	}{
		{"selectors-elsewhere", "pod-delete", func(en *litmus.ChaosEngine) {
			en.Spec.AppInfo = litmus.AppInfo{}
			en.Spec.Selectors = &litmus.Selectors{Workloads: []litmus.WorkloadSelector{{Kind: "deployment", Namespace: other, Names: "web"}}}
		}, []string{"allowedNamespaces", other}},
		{"percent-from-experiment", "pod-delete-all", nil, []string{"maxPodsAffectedPerc", "PODS_AFFECTED_PERC=100"}},
		{"ramp", "pod-delete", func(en *litmus.ChaosEngine) {
			en.Spec.Experiments[0].Spec.Components.Env = append(en.Spec.Experiments[0].Spec.Components.Env, corev1.EnvVar{Name: "RAMP_TIME", Value: "10000000000"})
		}, []string{"RAMP_TIME"}},
		{"k8sprobe-elsewhere", "pod-delete", func(en *litmus.ChaosEngine) {
			en.Spec.Experiments[0].Spec.Probe = []litmus.Probe{{Name: "kill", Type: litmus.ProbeTypeK8s, Mode: litmus.ProbeModeSOT, RunProperties: props,
				K8sProbeInputs: &litmus.K8sProbeInputs{Version: "v1", Resource: "pods", Namespace: other, LabelSelector: "app=web", Operation: litmus.K8sOperationDelete}}}
		}, []string{"allowedProbeOperations"}},
		{"inline-cmdprobe", "pod-delete", func(en *litmus.ChaosEngine) {
			en.Spec.Experiments[0].Spec.Probe = []litmus.Probe{{Name: "shell", Type: litmus.ProbeTypeCmd, Mode: litmus.ProbeModeSOT, RunProperties: props,
				CmdProbeInputs: &litmus.CmdProbeInputs{Command: "touch " + marker + "; echo ok", Comparator: litmus.Comparator{Type: litmus.ComparatorTypeString, Criteria: "==", Value: "ok"}}}}
		}, []string{"allowInlineCommands"}},
	}
	for _, e := range engines {
		en := &litmus.ChaosEngine{
			ObjectMeta: metav1.ObjectMeta{Name: e.name, Namespace: ns},
			Spec: litmus.ChaosEngineSpec{
				AppInfo: litmus.AppInfo{AppNS: ns, AppKind: "deployment", AppLabel: "app=web"}, EngineState: litmus.EngineStateActive,
				ChaosServiceAccount: "chaos",
				Experiments: []litmus.EngineExperiment{{Name: e.experiment, Spec: litmus.EngineExperimentSpec{Components: litmus.ExperimentComponents{
					Env: []corev1.EnvVar{{Name: "TOTAL_CHAOS_DURATION", Value: "4"}, {Name: "CHAOS_INTERVAL", Value: "1"}},
				}}}},
			},
		}
		if e.mutate != nil {
			e.mutate(en)
		}
		createObj(t, c, litmus.ChaosEngineGVR().Resource, ns, en)
	}
	for _, e := range engines {
		res := waitResult(t, c, ns, e.name+"-"+e.experiment)
		st := res.Status.ExperimentStatus
		if st.Verdict == litmus.VerdictPass || st.ErrorOutput == nil {
			t.Errorf("%s: verdict %s, errorOutput %v; want no Pass, with the reason", e.name, st.Verdict, st.ErrorOutput)
			continue
		}
		for _, want := range e.names {
			if !strings.Contains(st.ErrorOutput.Reason, want) {
				t.Errorf("%s: reason %q does not name %q", e.name, st.ErrorOutput.Reason, want)
			}
		}
		t.Logf("%s: %s: %s", e.name, st.Verdict, st.ErrorOutput.Reason)
	}
	if after := podUIDs(t, c, ns, other, 4); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("pods changed: before %v, after %v", before, after)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the inline cmdProbe ran")
	}
}

func createObj(t *testing.T, c *testcluster.Cluster, resource, ns string, obj any) {
	t.Helper()
	u, err := litmus.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	gvr := litmus.ChaosEngineGVR()
	if resource == litmus.ChaosExperimentGVR().Resource {
		gvr = litmus.ChaosExperimentGVR()
	}
	if _, err := c.Dynamic.Resource(gvr).Namespace(ns).Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitResult(t *testing.T, c *testcluster.Cluster, ns, name string) *litmus.ChaosResult {
	t.Helper()
	return c.FinalResult(t, ns, name, 60*time.Second)
}

// podUIDs waits for n Ready pods app=web across the namespaces and returns their sorted UIDs.
func podUIDs(t *testing.T, c *testcluster.Cluster, ns, other string, n int) []string {
	t.Helper()
	var uids []string
	testcluster.Eventually(t, 60*time.Second, "Ready pods", func(ctx context.Context) (bool, error) {
		uids = nil
		for _, namespace := range []string{ns, other} {
			pods, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil {
				return false, err
			}
			for i := range pods.Items {
				if testcluster.PodReady(&pods.Items[i]) {
					uids = append(uids, string(pods.Items[i].UID))
				}
			}
		}
		return len(uids) == n, nil
	})
	slices.Sort(uids)
	return uids
}
