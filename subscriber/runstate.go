package subscriber

import (
	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// runState is what the subscriber caches of a watched Workflow: what run events and actions read,
// in about a quarter of the memory of the Workflow itself (whose spec, templates and per-node
// inputs and outputs events never read). The Workflow informer's transform (compactWorkflow)
// turns every Workflow into one.
type runState struct {
	metav1.ObjectMeta // name, namespace, UID, labels, creation time; no annotations or managed fields

	Shutdown   wfv1.ShutdownStrategy // spec.shutdown: the run was stopped
	Phase      wfv1.WorkflowPhase
	Message    string
	StartedAt  metav1.Time
	FinishedAt metav1.Time
	Nodes      []runNode
}

// runNode is one node of the Workflow's status.
type runNode struct {
	ID           string
	DisplayName  string
	TemplateName string
	Message      string
	Type         wfv1.NodeType
	Phase        wfv1.NodePhase
	StartedAt    metav1.Time
	FinishedAt   metav1.Time
	Children     []string
	Engine       *engineRef // the ChaosEngine a fault step creates (its one input artifact); nil for other steps
}

// engineRef names the ChaosEngine of a fault step as its manifest does.
type engineRef struct{ Name, GenerateName string }

// compactWorkflow is the Workflow informer's transform: *wfv1.Workflow → *runState. Anything
// else (a tombstone) passes through.
func compactWorkflow(obj any) (any, error) {
	wf, ok := obj.(*wfv1.Workflow)
	if !ok {
		return obj, nil
	}
	rs := &runState{
		ObjectMeta: metav1.ObjectMeta{Name: wf.Name, Namespace: wf.Namespace, UID: wf.UID, ResourceVersion: wf.ResourceVersion,
			Generation: wf.Generation, CreationTimestamp: wf.CreationTimestamp, DeletionTimestamp: wf.DeletionTimestamp, Labels: wf.Labels},
		Shutdown: wf.Spec.Shutdown, Phase: wf.Status.Phase, Message: wf.Status.Message,
		StartedAt: wf.Status.StartedAt, FinishedAt: wf.Status.FinishedAt,
		Nodes: make([]runNode, 0, len(wf.Status.Nodes)),
	}
	for id, n := range wf.Status.Nodes {
		rn := runNode{ID: id, DisplayName: n.DisplayName, TemplateName: n.TemplateName, Message: n.Message, Type: n.Type,
			Phase: n.Phase, StartedAt: n.StartedAt, FinishedAt: n.FinishedAt, Children: n.Children}
		if n.Inputs != nil && len(n.Inputs.Artifacts) == 1 && n.Inputs.Artifacts[0].Raw != nil {
			if en := litmus.EngineArtifact(n.Inputs.Artifacts[0].Raw.Data); en != nil {
				rn.Engine = &engineRef{Name: en.Name, GenerateName: en.GenerateName}
			}
		}
		rs.Nodes = append(rs.Nodes, rn)
	}
	return rs, nil
}
