package subscriber

import (
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	obj, err := compactWorkflow(wf)
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*wfv1.Workflow)
	if got.ManagedFields != nil || got.Spec.Entrypoint != "" || got.Spec.Templates != nil || got.Status.StoredTemplates != nil {
		t.Errorf("kept what events do not read: %+v", got)
	}
	if got.Spec.Shutdown != wfv1.ShutdownStrategyStop || got.Status.Phase != wfv1.WorkflowRunning || len(got.Status.Nodes) != 4 {
		t.Errorf("lost what events read: %+v", got)
	}
	if in := got.Status.Nodes["w-1"].Inputs; in == nil || len(in.Artifacts) != 0 {
		t.Errorf("install step keeps its artifact: %+v", in)
	}
	if got.Status.Nodes["w-2"].Outputs != nil {
		t.Error("outputs kept")
	}
	for id, want := range map[string][2]string{"w-2": {"pod-delete-abc", ""}, "w-3": {"", "pod-delete-"}} {
		in := got.Status.Nodes[id].Inputs
		if in == nil || len(in.Artifacts) != 1 || in.Artifacts[0].Raw == nil {
			t.Fatalf("%s: engine artifact lost: %+v", id, in)
		}
		if len(in.Artifacts[0].Raw.Data) > 150 {
			t.Errorf("%s: artifact not reduced: %d bytes", id, len(in.Artifacts[0].Raw.Data))
		}
		en := parseEngine(in.Artifacts[0].Raw.Data)
		if en == nil || en.Name != want[0] || en.GenerateName != want[1] {
			t.Errorf("%s: engine reference %+v, want name %q generateName %q", id, en, want[0], want[1])
		}
	}
	// Anything else passes through.
	if o, err := compactWorkflow("tombstone"); err != nil || o != "tombstone" {
		t.Errorf("non-Workflow: %v %v", o, err)
	}
}

func ptr[T any](v T) *T { return &v }
