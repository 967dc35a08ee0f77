package litmus

// Labels of the ChaosCenter / Argo Workflow contract: the control plane puts them on the
// Workflows it sends, the workflow engines copy them onto the ChaosEngines of fault steps, and
// the subscriber reads them back to build run events. See
// /work/shared/reference/litmus-protocol.md.
const (
	// LabelInfraID is the chaos infrastructure (this agent) a Workflow belongs to.
	LabelInfraID = "infra_id"
	// LabelArgoInstanceID is Argo's controller instance id; a Workflow is run only by the
	// workflow controller (Argo's or the native engine) whose instance id it carries.
	LabelArgoInstanceID = "workflows.argoproj.io/controller-instanceid"
	// LabelWorkflowID is the experiment (ChaosCenter "workflow") id.
	LabelWorkflowID = "workflow_id"
	// LabelRevisionID is the experiment's revision.
	LabelRevisionID = "revision_id"
	// LabelNotifyID identifies one run request of the experiment.
	LabelNotifyID = "notify_id"
	// LabelUpdatedBy is the user who started the run (unpadded base64url).
	LabelUpdatedBy = "updated_by"
	// LabelWorkflowRunID, on a ChaosEngine, is the UID of the Workflow run that created it.
	LabelWorkflowRunID = "workflow_run_id"
	// LabelStepPodName, on a ChaosEngine, is the pod name of the Workflow step that created it.
	LabelStepPodName = "step_pod_name"
	// LabelWeight, on a fault step's template (and its ChaosEngine), is the fault's weight in
	// the resiliency score.
	LabelWeight = "weight"
	// LabelChaosEngine, on a ChaosResult, names the engine that wrote it.
	LabelChaosEngine = "chaosengine"
)
