package cluster_test

import (
	"context"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// TestHarnessArgoWorkflowPhases proves the real workflow-controller drives Workflows on the
// local cluster: kwok completes step pods (or fails those labelled kwokfail=true), so Workflows
// reach Succeeded and Failed like on a real cluster.
func TestHarnessArgoWorkflowPhases(t *testing.T) {
	c := testcluster.Get(t)
	ns := testcluster.ArgoNamespace(t)
	argo, err := argoclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		fail     bool
		want     wfv1.WorkflowPhase
		wantNode wfv1.NodePhase
	}{
		{name: "succeeds", want: wfv1.WorkflowSucceeded, wantNode: wfv1.NodeSucceeded},
		{name: "fails", fail: true, want: wfv1.WorkflowFailed, wantNode: wfv1.NodeFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step := wfv1.Template{Name: "step", Container: &corev1Container}
			if tc.fail {
				step.Metadata.Labels = map[string]string{"kwokfail": "true"}
			}
			wf := &wfv1.Workflow{
				ObjectMeta: metav1.ObjectMeta{GenerateName: "harness-" + tc.name + "-", Namespace: ns, Labels: instanceLabel()},
				Spec: wfv1.WorkflowSpec{
					Entrypoint: "main",
					Templates: []wfv1.Template{
						{Name: "main", Steps: []wfv1.ParallelSteps{{Steps: []wfv1.WorkflowStep{{Name: "one", Template: "step"}}}}},
						step,
					},
				},
			}
			start := time.Now()
			created, err := argo.ArgoprojV1alpha1().Workflows(ns).Create(t.Context(), wf, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create workflow: %v", err)
			}
			t.Cleanup(func() {
				_ = argo.ArgoprojV1alpha1().Workflows(ns).Delete(context.WithoutCancel(t.Context()), created.Name, metav1.DeleteOptions{})
			})
			var got *wfv1.Workflow
			testcluster.Eventually(t, 90*time.Second, "workflow "+string(tc.want), func(ctx context.Context) (bool, error) {
				got, err = argo.ArgoprojV1alpha1().Workflows(ns).Get(ctx, created.Name, metav1.GetOptions{})
				return err == nil && got.Status.Phase.Completed(), err
			})
			if got.Status.Phase != tc.want {
				t.Fatalf("workflow phase %s, want %s (message %q)", got.Status.Phase, tc.want, got.Status.Message)
			}
			var pods int
			for _, n := range got.Status.Nodes {
				if n.Type == wfv1.NodeTypePod {
					pods++
					if n.Phase != tc.wantNode {
						t.Errorf("pod node %s phase %s, want %s", n.DisplayName, n.Phase, tc.wantNode)
					}
				}
			}
			if pods != 1 {
				t.Errorf("got %d pod nodes, want 1", pods)
			}
			t.Logf("workflow %s reached %s in %s", created.Name, got.Status.Phase, time.Since(start).Round(time.Millisecond))
		})
	}
}

var corev1Container = corev1.Container{Name: "main", Image: "registry.invalid/step:test", Command: []string{"true"}}

func instanceLabel() map[string]string {
	if id := testcluster.ArgoInstanceID(); id != "" {
		return map[string]string{"workflows.argoproj.io/controller-instanceid": id}
	}
	return nil
}
