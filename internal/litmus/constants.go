package litmus

// EngineState is ChaosEngine.spec.engineState, the user's intent.
type EngineState string

// Engine states. An empty state is treated as [EngineStateActive].
const (
	EngineStateActive EngineState = "active"
	EngineStateStop   EngineState = "stop"
)

// EngineStatus is ChaosEngine.status.engineStatus, the controller's view.
type EngineStatus string

// Engine statuses.
const (
	EngineStatusInitialized EngineStatus = "initialized"
	EngineStatusCompleted   EngineStatus = "completed"
	EngineStatusStopped     EngineStatus = "stopped"
)

// JobCleanUpPolicy is ChaosEngine.spec.jobCleanUpPolicy.
type JobCleanUpPolicy string

// Job clean-up policies.
const (
	JobCleanUpPolicyDelete JobCleanUpPolicy = "delete"
	JobCleanUpPolicyRetain JobCleanUpPolicy = "retain"
)

// ExperimentRunStatus is ChaosEngine.status.experiments[].status.
type ExperimentRunStatus string

// Experiment run statuses as recorded in the engine status.
const (
	ExperimentRunStatusWaiting           ExperimentRunStatus = "Waiting for Job Creation"
	ExperimentRunStatusRunning           ExperimentRunStatus = "Running"
	ExperimentRunStatusCompleted         ExperimentRunStatus = "Completed"
	ExperimentRunStatusNotFound          ExperimentRunStatus = "ChaosExperiment Not Found"
	ExperimentRunStatusForcefullyAborted ExperimentRunStatus = "Forcefully Aborted"
	ExperimentRunStatusSkipped           ExperimentRunStatus = "Skipped"
)

// Verdict is the verdict of an experiment run, found in
// ChaosResult.status.experimentStatus.verdict and mirrored in
// ChaosEngine.status.experiments[].verdict.
type Verdict string

// Experiment verdicts. [VerdictNA] only appears in the engine status
// (initial value before the experiment starts).
const (
	VerdictAwaited Verdict = "Awaited"
	VerdictPass    Verdict = "Pass"
	VerdictFail    Verdict = "Fail"
	VerdictError   Verdict = "Error"
	VerdictStopped Verdict = "Stopped"
	VerdictNA      Verdict = "N/A"
)

// ProbeVerdict is ChaosResult.status.probeStatuses[].status.verdict.
type ProbeVerdict string

// Probe verdicts.
const (
	ProbeVerdictPassed  ProbeVerdict = "Passed"
	ProbeVerdictFailed  ProbeVerdict = "Failed"
	ProbeVerdictNA      ProbeVerdict = "N/A"
	ProbeVerdictAwaited ProbeVerdict = "Awaited"
)

// ProbeSuccessPercentageAwaited is the value of
// status.experimentStatus.probeSuccessPercentage while a run is in progress;
// otherwise the field holds an integer string "0".."100".
const ProbeSuccessPercentageAwaited = "Awaited"

// ResultPhase is ChaosResult.status.experimentStatus.phase.
type ResultPhase string

// Result phases.
const (
	ResultPhaseRunning                   ResultPhase = "Running"
	ResultPhaseCompleted                 ResultPhase = "Completed"
	ResultPhaseCompletedWithProbeFailure ResultPhase = "Completed_With_Probe_Failure"
	// ResultPhaseCompletedWithError is only written by old (3.0-beta5)
	// experiments; it may still be read from existing results.
	ResultPhaseCompletedWithError ResultPhase = "Completed_With_Error"
	ResultPhaseStopped            ResultPhase = "Stopped"
	ResultPhaseError              ResultPhase = "Error"
)

// ErrorCode is ChaosResult.status.experimentStatus.errorOutput.errorCode.
type ErrorCode string

// Error codes.
const (
	ErrorCodeGeneric           ErrorCode = "GENERIC_ERROR"
	ErrorCodeChaosResultCRUD   ErrorCode = "CHAOS_RESULT_CRUD_ERROR"
	ErrorCodeStatusChecks      ErrorCode = "STATUS_CHECKS_ERROR"
	ErrorCodeTargetSelection   ErrorCode = "TARGET_SELECTION_ERROR"
	ErrorCodeExperimentAborted ErrorCode = "EXPERIMENT_ABORTED"
	ErrorCodeChaosInject       ErrorCode = "CHAOS_INJECT_ERROR"
	ErrorCodeHelper            ErrorCode = "HELPER_ERROR"
	ErrorCodeHelperPodFailed   ErrorCode = "HELPER_POD_FAILED_ERROR"
	ErrorCodeContainerRuntime  ErrorCode = "CONTAINER_RUNTIME_ERROR"
	ErrorCodeChaosRevert       ErrorCode = "CHAOS_REVERT_ERROR"
	ErrorCodeNonUserFriendly   ErrorCode = "NON_USER_FRIENDLY_ERROR"
	ErrorCodeK8sProbeError     ErrorCode = "K8S_PROBE_ERROR"
	ErrorCodeCmdProbeError     ErrorCode = "CMD_PROBE_ERROR"
	ErrorCodeHTTPProbeError    ErrorCode = "HTTP_PROBE_ERROR"
	ErrorCodePromProbeError    ErrorCode = "PROM_PROBE_ERROR"
	ErrorCodeK8sProbeFailure   ErrorCode = "K8S_PROBE_FAILURE"
	ErrorCodeCmdProbeFailure   ErrorCode = "CMD_PROBE_FAILURE"
	ErrorCodeHTTPProbeFailure  ErrorCode = "HTTP_PROBE_FAILURE"
	ErrorCodePromProbeFailure  ErrorCode = "PROM_PROBE_FAILURE"
	ErrorCodeTimeout           ErrorCode = "TIMEOUT"
	ErrorCodeProbeTimeout      ErrorCode = "PROBE_TIMEOUT"
)

// IsProbeFailure reports whether c is one of the *_PROBE_FAILURE codes,
// i.e. a violated hypothesis (verdict Fail) rather than an execution error.
func (c ErrorCode) IsProbeFailure() bool {
	switch c {
	case ErrorCodeK8sProbeFailure, ErrorCodeCmdProbeFailure,
		ErrorCodeHTTPProbeFailure, ErrorCodePromProbeFailure:
		return true
	}
	return false
}

// ExperimentPhase is the phase of an experiment run recorded in the
// "phase" key of an error reason (see [ErrorReason]).
type ExperimentPhase string

// Experiment phases.
const (
	ExperimentPhasePreChaos    ExperimentPhase = "PreChaos"
	ExperimentPhaseChaosInject ExperimentPhase = "ChaosInject"
	ExperimentPhasePostChaos   ExperimentPhase = "PostChaos"
)

// TargetChaosStatus is ChaosResult.status.history.targets[].chaosStatus.
type TargetChaosStatus string

// Target chaos statuses. pod-delete only uses [TargetChaosStatusTargeted].
const (
	TargetChaosStatusTargeted TargetChaosStatus = "targeted"
	TargetChaosStatusInjected TargetChaosStatus = "injected"
	TargetChaosStatusReverted TargetChaosStatus = "reverted"
)

// EventReason is the reason of a core/v1 Event emitted on a ChaosEngine or a
// ChaosResult. The exporter and ChaosCenter match on these values.
type EventReason string

// Event reasons emitted on the ChaosEngine by the experiment.
const (
	EventReasonPreChaosCheck  EventReason = "PreChaosCheck"
	EventReasonChaosInject    EventReason = "ChaosInject"
	EventReasonPostChaosCheck EventReason = "PostChaosCheck"
	EventReasonSummary        EventReason = "Summary"
)

// Event reasons emitted on the ChaosEngine by the runner.
const (
	EventReasonExperimentDependencyCheck EventReason = "ExperimentDependencyCheck"
	EventReasonExperimentJobCreate       EventReason = "ExperimentJobCreate"
	EventReasonExperimentJobCleanUp      EventReason = "ExperimentJobCleanUp"
	EventReasonExperimentNotFound        EventReason = "ExperimentNotFound"
	EventReasonEnvParseError             EventReason = "EnvParseError"
	EventReasonSideCarPatchError         EventReason = "SideCarPatchError"
)

// Event reasons emitted on the ChaosEngine by the engine controller.
const (
	EventReasonChaosEngineInitialized        EventReason = "ChaosEngineInitialized"
	EventReasonChaosEngineCompleted          EventReason = "ChaosEngineCompleted"
	EventReasonChaosEngineStopped            EventReason = "ChaosEngineStopped"
	EventReasonRestartInProgress             EventReason = "RestartInProgress"
	EventReasonChaosResourcesOperationFailed EventReason = "ChaosResourcesOperationFailed"
	// EventReasonUnsupported (chaos-agent's own) names fields or variables chaos-agent does not
	// honour (Warning).
	EventReasonUnsupported EventReason = "Unsupported"
)

// Event reasons emitted on the ChaosResult (one per verdict, plus Abort).
const (
	EventReasonResultAwaited EventReason = "Awaited"
	EventReasonResultPass    EventReason = "Pass"
	EventReasonResultFail    EventReason = "Fail"
	EventReasonResultError   EventReason = "Error"
	EventReasonResultStopped EventReason = "Stopped"
	EventReasonResultAbort   EventReason = "Abort"
)
