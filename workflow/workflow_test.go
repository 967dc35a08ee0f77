package workflow

import (
	"context"
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

const expArtifact = "apiVersion: litmuschaos.io/v1alpha1\nkind: ChaosExperiment\nmetadata:\n  name: pod-delete\nspec:\n  definition:\n    args: [-c, ./experiments -name pod-delete]\n"

func engineArtifact(name, appkind string) string {
	return "apiVersion: litmuschaos.io/v1alpha1\nkind: ChaosEngine\nmetadata:\n  namespace: \"{{workflow.parameters.adminModeNamespace}}\"\n  generateName: " + name +
		"\n  labels:\n    workflow_run_id: \"{{ workflow.uid }}\"\n    step_pod_name: \"{{pod.name}}\"\nspec:\n  appinfo: {appns: x, applabel: app=x, appkind: " + appkind +
		"}\n  engineState: active\n  experiments:\n  - name: pod-delete\n"
}

func container(name string, arts map[string]string, args ...string) wfv1.Template {
	t := wfv1.Template{Name: name, Metadata: wfv1.Metadata{Labels: map[string]string{"weight": "10"}},
		Container: &corev1.Container{Name: "main", Image: "chaosnative/litmus-checker:2.11.0", Args: args}}
	for n, data := range arts {
		t.Inputs.Artifacts = append(t.Inputs.Artifacts, wfv1.Artifact{Name: n, ArtifactLocation: wfv1.ArtifactLocation{Raw: &wfv1.RawArtifact{Data: data}}})
	}
	return t
}

func chaosWorkflow(ns string, groups [][]string, templates ...wfv1.Template) *wfv1.Workflow {
	main := wfv1.Template{Name: "main"}
	for _, g := range groups {
		var ps wfv1.ParallelSteps
		for _, s := range g {
			ps.Steps = append(ps.Steps, wfv1.WorkflowStep{Name: s, Template: s})
		}
		main.Steps = append(main.Steps, ps)
	}
	return &wfv1.Workflow{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "native-", Namespace: ns, Labels: map[string]string{"workflows.argoproj.io/controller-instanceid": "native-test"}},
		Spec: wfv1.WorkflowSpec{Entrypoint: "main", Templates: append([]wfv1.Template{main}, templates...),
			Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{{Name: "adminModeNamespace", Value: wfv1.AnyStringPtr(ns)}}}},
	}
}

func TestValidateRefusesOtherShapes(t *testing.T) {
	script := wfv1.Template{Name: "script", Script: &wfv1.ScriptTemplate{Source: "echo hi"}}
	wf := chaosWorkflow("ns", [][]string{{"script"}}, script)
	err := Validate(wf)
	if err == nil || !strings.Contains(err.Error(), `step "script"`) || !strings.Contains(err.Error(), "ChaosHub install, fault and cleanup steps only") {
		t.Fatalf("Validate: %v", err)
	}
	other := container("other", nil, "echo", "hello")
	if err := Validate(chaosWorkflow("ns", [][]string{{"other"}}, other)); err == nil || !strings.Contains(err.Error(), "not a ChaosHub") {
		t.Fatalf("Validate: %v", err)
	}
}

// fakeExecutor completes every ChaosEngine of ns (after a short while), as the agent's executor would.
func fakeExecutor(ctx context.Context, t *testing.T, c *testcluster.Cluster, ns string, after time.Duration) {
	api := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns)
	for ctx.Err() == nil {
		list, err := api.List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				u := &list.Items[i]
				if time.Since(u.GetCreationTimestamp().Time) < after {
					continue
				}
				var en litmus.ChaosEngine
				if litmus.FromUnstructured(u, &en) != nil || en.Status.EngineStatus == litmus.EngineStatusCompleted {
					continue
				}
				en.Status.EngineStatus = litmus.EngineStatusCompleted
				en.Status.Experiments = []litmus.EngineExperimentStatus{{Name: "pod-delete", Verdict: litmus.VerdictPass}}
				nu, _ := litmus.ToUnstructured(&en)
				_, _ = api.Update(ctx, nu, metav1.UpdateOptions{})
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestEngineOrderParallelFailureCleanup(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	argo, err := argoclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go fakeExecutor(ctx, t, c, ns, 1500*time.Millisecond)
	eng := &Engine{Argo: argo, Dynamic: c.Dynamic, Log: zaptest.NewLogger(t), Poll: 100 * time.Millisecond}

	tests := []struct {
		name      string
		groups    [][]string
		templates []wfv1.Template
		phase     wfv1.WorkflowPhase
		nodes     map[string]wfv1.NodePhase
	}{
		{
			name:   "ordered groups, parallel faults",
			groups: [][]string{{"install"}, {"fault-a", "fault-b"}, {"cleanup"}},
			templates: []wfv1.Template{
				container("install", map[string]string{"exp": expArtifact}, "kubectl apply -f /tmp"),
				container("fault-a", map[string]string{"a": engineArtifact("fault-a-", "deployment")}, "-file=/tmp/a.yaml"),
				container("fault-b", map[string]string{"b": engineArtifact("fault-b-", "deployment")}, "-file=/tmp/b.yaml"),
				container("cleanup", nil, "kubectl delete chaosengine -l workflow_run_id={{workflow.uid}} -n {{workflow.parameters.adminModeNamespace}}"),
			},
			phase: wfv1.WorkflowSucceeded,
			nodes: map[string]wfv1.NodePhase{"install": wfv1.NodeSucceeded, "fault-a": wfv1.NodeSucceeded, "fault-b": wfv1.NodeSucceeded, "cleanup": wfv1.NodeSucceeded},
		},
		{
			name:   "a failing step skips later steps but not cleanup",
			groups: [][]string{{"bad-fault"}, {"later-fault"}, {"cleanup"}},
			templates: []wfv1.Template{
				// the CRD refuses appkind cronjob: the engine cannot be created
				container("bad-fault", map[string]string{"a": engineArtifact("bad-", "cronjob")}, "-file=/tmp/a.yaml"),
				container("later-fault", map[string]string{"b": engineArtifact("later-", "deployment")}, "-file=/tmp/b.yaml"),
				container("cleanup", nil, "kubectl delete chaosengine -l workflow_run_id={{workflow.uid}}"),
			},
			phase: wfv1.WorkflowFailed,
			nodes: map[string]wfv1.NodePhase{"bad-fault": wfv1.NodeFailed, "later-fault": wfv1.NodeSkipped, "cleanup": wfv1.NodeSucceeded},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			created, err := argo.ArgoprojV1alpha1().Workflows(ns).Create(ctx, chaosWorkflow(ns, tc.groups, tc.templates...), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.Run(ctx, ns, created.Name); err != nil {
				t.Fatal(err)
			}
			wf, err := argo.ArgoprojV1alpha1().Workflows(ns).Get(ctx, created.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if wf.Status.Phase != tc.phase {
				t.Errorf("phase %s (%s), want %s", wf.Status.Phase, wf.Status.Message, tc.phase)
			}
			byStep := map[string]wfv1.NodeStatus{}
			for _, n := range wf.Status.Nodes {
				if n.Type == wfv1.NodeTypePod {
					byStep[n.DisplayName] = n
				}
			}
			for step, want := range tc.nodes {
				if got := byStep[step].Phase; got != want {
					t.Errorf("step %s: %s (%s), want %s", step, got, byStep[step].Message, want)
				}
			}
			if a, b := byStep["fault-a"], byStep["fault-b"]; a.ID != "" {
				// parallel: each started before the other finished; ordered: install before, cleanup after
				if !a.StartedAt.Before(&b.FinishedAt) || !b.StartedAt.Before(&a.FinishedAt) {
					t.Errorf("fault-a %v-%v and fault-b %v-%v did not overlap", a.StartedAt, a.FinishedAt, b.StartedAt, b.FinishedAt)
				}
				if in, cl := byStep["install"], byStep["cleanup"]; in.FinishedAt.After(a.StartedAt.Time) || cl.StartedAt.Before(&b.FinishedAt) {
					t.Errorf("groups out of order: install ends %v, faults start %v/%v, end %v/%v, cleanup starts %v",
						in.FinishedAt, a.StartedAt, b.StartedAt, a.FinishedAt, b.FinishedAt, cl.StartedAt)
				}
				if !strings.Contains(a.Message, "verdict Pass") || a.Inputs == nil || strings.Contains(a.Inputs.Artifacts[0].Raw.Data, "{{") {
					t.Errorf("fault node %+v: want the verdict and substituted inputs", a)
				}
			}
			engines, _ := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: "workflow_run_id=" + string(wf.UID)})
			if len(engines.Items) != 0 {
				t.Errorf("cleanup left %d engines", len(engines.Items))
			}
		})
	}
}

func TestEngineInterrupted(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	argo, err := argoclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	// The "executor" completes engines only once they are told to stop.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		api := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns)
		for t.Context().Err() == nil {
			list, err := api.List(context.WithoutCancel(ctx), metav1.ListOptions{})
			if err == nil {
				for i := range list.Items {
					var en litmus.ChaosEngine
					if litmus.FromUnstructured(&list.Items[i], &en) == nil && en.Spec.EngineState == litmus.EngineStateStop && en.Status.EngineStatus == "" {
						en.Status.EngineStatus = litmus.EngineStatusStopped
						nu, _ := litmus.ToUnstructured(&en)
						_, _ = api.Update(context.WithoutCancel(ctx), nu, metav1.UpdateOptions{})
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	wf := chaosWorkflow(ns, [][]string{{"fault"}, {"cleanup"}},
		container("fault", map[string]string{"a": engineArtifact("long-", "deployment")}, "-file=/tmp/a.yaml"),
		container("cleanup", nil, "kubectl delete chaosengine -l workflow_run_id={{workflow.uid}}"))
	created, err := argo.ArgoprojV1alpha1().Workflows(ns).Create(t.Context(), wf, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, interrupt := context.WithCancel(t.Context())
	go func() { time.Sleep(1500 * time.Millisecond); interrupt() }()
	eng := &Engine{Argo: argo, Dynamic: c.Dynamic, Log: zaptest.NewLogger(t), Poll: 100 * time.Millisecond}
	if err := eng.Run(runCtx, ns, created.Name); err != nil {
		t.Fatal(err)
	}
	got, _ := argo.ArgoprojV1alpha1().Workflows(ns).Get(t.Context(), created.Name, metav1.GetOptions{})
	if got.Spec.Shutdown != wfv1.ShutdownStrategyStop || got.Status.Phase != wfv1.WorkflowFailed || !strings.Contains(got.Status.Message, "Stopped") {
		t.Errorf("interrupted workflow: shutdown %q phase %s message %q", got.Spec.Shutdown, got.Status.Phase, got.Status.Message)
	}
	b, _ := yaml.Marshal(got.Status.Nodes)
	if !strings.Contains(string(b), "verdict") {
		t.Logf("nodes:\n%s", b)
	}
}
