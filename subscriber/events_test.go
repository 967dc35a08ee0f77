package subscriber

import (
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// TestCompactWorkflow: the Workflow cache keeps what run events read and nothing else.
func TestCompactWorkflow(t *testing.T) {
	raw := func(data string) *wfv1.Inputs {
		return &wfv1.Inputs{Artifacts: wfv1.Artifacts{{Name: "manifest", Path: "/tmp/x.yaml",
			ArtifactLocation: wfv1.ArtifactLocation{Raw: &wfv1.RawArtifact{Data: data}}}}}
	}
	engine := `apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata:
  name: pod-delete-abc
  namespace: hce
  labels: {workflow_run_id: "{{workflow.uid}}"}
spec:
  engineState: active
  experiments:
    - name: pod-delete
      spec:
        probe: [{name: http-probe, type: httpProbe, mode: Continuous}]
`
	generated := "kind: ChaosEngine\napiVersion: litmuschaos.io/v1alpha1\nmetadata: {generateName: pod-delete-}\nspec: {engineState: active}\n"
	experiment := "apiVersion: litmuschaos.io/v1alpha1\nkind: ChaosExperiment\nmetadata: {name: pod-delete}\nspec: {definition: {image: x}}\n"
	wf := &wfv1.Workflow{
		ObjectMeta: metav1.ObjectMeta{Name: "w", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "argo"}}},
		Spec:       wfv1.WorkflowSpec{Entrypoint: "main", Shutdown: wfv1.ShutdownStrategyStop, Templates: []wfv1.Template{{Name: "main"}}},
		Status: wfv1.WorkflowStatus{Phase: wfv1.WorkflowRunning, StoredTemplates: map[string]wfv1.Template{"x": {}}, Nodes: wfv1.Nodes{
			"w-1": {Name: "install", Type: wfv1.NodeTypePod, Inputs: raw(experiment)},
			"w-2": {Name: "fault", Type: wfv1.NodeTypePod, Inputs: raw(engine), Outputs: &wfv1.Outputs{Result: ptr("big")}},
			"w-3": {Name: "fault2", Type: wfv1.NodeTypePod, Inputs: raw(generated)},
			"w-4": {Name: "steps", Type: wfv1.NodeTypeSteps},
		}},
	}
	wf.Labels = map[string]string{litmus.LabelWorkflowID: "exp"}
	wf.UID = "uid-1"
	obj, err := compactWorkflow(wf)
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*runState)
	if got.Name != "w" || got.UID != "uid-1" || got.Labels[litmus.LabelWorkflowID] != "exp" || got.ManagedFields != nil {
		t.Errorf("metadata %+v", got.ObjectMeta)
	}
	if got.Shutdown != wfv1.ShutdownStrategyStop || got.Phase != wfv1.WorkflowRunning || len(got.Nodes) != 4 {
		t.Errorf("lost what events read: %+v", got)
	}
	nodes := map[string]runNode{}
	for _, n := range got.Nodes {
		nodes[n.ID] = n
	}
	if n := nodes["w-1"]; n.Engine != nil || n.DisplayName != "" || n.Type != wfv1.NodeTypePod {
		t.Errorf("install step: %+v", n)
	}
	if nodes["w-4"].Engine != nil {
		t.Error("steps node has an engine")
	}
	for id, want := range map[string]engineRef{"w-2": {Name: "pod-delete-abc"}, "w-3": {GenerateName: "pod-delete-"}} {
		if e := nodes[id].Engine; e == nil || *e != want {
			t.Errorf("%s: engine reference %+v, want %+v", id, e, want)
		}
	}
	// Anything else passes through.
	if o, err := compactWorkflow("tombstone"); err != nil || o != "tombstone" {
		t.Errorf("non-Workflow: %v %v", o, err)
	}
}

func ptr[T any](v T) *T { return &v }
