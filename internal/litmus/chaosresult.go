package litmus

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChaosResult records the outcome of one experiment of one engine. Its
// name is given by [ResultName]; it carries label [LabelChaosUID].
type ChaosResult struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ChaosResultSpec   `json:"spec,omitzero"`
	Status ChaosResultStatus `json:"status,omitzero"`
}

// ChaosResultList is a list of ChaosResults.
type ChaosResultList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ChaosResult `json:"items"`
}

// ChaosResultSpec is ChaosResult.spec.
type ChaosResultSpec struct {
	EngineName     string `json:"engine,omitempty"`
	ExperimentName string `json:"experiment"`
	InstanceID     string `json:"instance,omitempty"`
}

// ChaosResultStatus is ChaosResult.status.
type ChaosResultStatus struct {
	ExperimentStatus ResultExperimentStatus `json:"experimentStatus,omitzero"`
	ProbeStatuses    []ProbeStatus          `json:"probeStatuses,omitempty"`
	History          ResultHistory          `json:"history"`

	// Recoveries is a chaos-agent extension (ignored by upstream tools):
	// one entry per deleted pod with the time its replacement became ready.
	Recoveries []PodRecovery `json:"recoveries,omitempty"`
	// SkippedVictims is a chaos-agent extension (ignored by upstream
	// tools): candidate pods that were deliberately not deleted, and why.
	SkippedVictims []SkippedVictim `json:"skippedVictims,omitempty"`
	// Omitted is a chaos-agent extension: how many entries [ChaosResultStatus.Bound] left out
	// of the lists above (absent when none).
	Omitted *OmittedEntries `json:"omitted,omitempty"`
}

// OmittedEntries counts the list entries a bounded ChaosResult status leaves out.
type OmittedEntries struct {
	Recoveries     int    `json:"recoveries,omitempty"`
	SkippedVictims int    `json:"skippedVictims,omitempty"`
	Targets        int    `json:"targets,omitempty"`
	ProbeStatuses  int    `json:"probeStatuses,omitempty"`
	Note           string `json:"note,omitempty"`
}

// ResultExperimentStatus is status.experimentStatus.
type ResultExperimentStatus struct {
	Phase   ResultPhase `json:"phase,omitempty"`
	Verdict Verdict     `json:"verdict,omitempty"`
	// ProbeSuccessPercentage is "Awaited" while running, else "0".."100".
	ProbeSuccessPercentage string `json:"probeSuccessPercentage,omitempty"`
	// ErrorOutput is only set when Phase is Error; it is cleared (omitted)
	// at the start of every run.
	ErrorOutput *ErrorOutput `json:"errorOutput,omitempty"`
}

// ErrorOutput is status.experimentStatus.errorOutput. Reason holds the JSON
// encoding of an [ErrorReason].
type ErrorOutput struct {
	ErrorCode ErrorCode `json:"errorCode,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// ErrorReason is the root-cause object whose JSON encoding is stored in
// ErrorOutput.Reason (empty keys omitted), e.g.
// {"errorCode":"STATUS_CHECKS_ERROR","phase":"ChaosInject","reason":"...","target":"..."}.
type ErrorReason struct {
	Source    string          `json:"source,omitempty"`
	ErrorCode ErrorCode       `json:"errorCode,omitempty"`
	Phase     ExperimentPhase `json:"phase,omitempty"`
	Reason    string          `json:"reason,omitempty"`
	Target    string          `json:"target,omitempty"`
}

// ProbeStatus is an entry of status.probeStatuses[].
type ProbeStatus struct {
	Name   string            `json:"name,omitempty"`
	Type   ProbeType         `json:"type,omitempty"`
	Mode   ProbeMode         `json:"mode,omitempty"`
	Status ProbeStatusDetail `json:"status,omitzero"`
}

// ProbeStatusDetail is status.probeStatuses[].status.
type ProbeStatusDetail struct {
	Verdict     ProbeVerdict `json:"verdict,omitempty"`
	Description string       `json:"description,omitempty"`
}

// ResultHistory is status.history. The counters are cumulative across runs
// with the same result name and are always written (even when 0); Error
// runs are not counted. Targets is reset at the start of every run.
type ResultHistory struct {
	PassedRuns  int            `json:"passedRuns"`
	FailedRuns  int            `json:"failedRuns"`
	StoppedRuns int            `json:"stoppedRuns"`
	Targets     []TargetDetail `json:"targets,omitempty"`
}

// TargetDetail is an entry of status.history.targets[].
type TargetDetail struct {
	Name        string            `json:"name,omitempty"`
	Kind        string            `json:"kind,omitempty"`
	ChaosStatus TargetChaosStatus `json:"chaosStatus,omitempty"`
}

// PodRecovery is a chaos-agent extension: the deletion of one pod and the
// readiness of its replacement.
type PodRecovery struct {
	Pod       string `json:"pod"`
	Namespace string `json:"namespace,omitempty"`
	// Owner identifies the parent workload, e.g. "deployment/cartservice".
	Owner       string      `json:"owner,omitempty"`
	DeletedAt   metav1.Time `json:"deletedAt,omitzero"`
	Replacement string      `json:"replacement,omitempty"`
	ReadyAt     metav1.Time `json:"readyAt,omitzero"`
	// Seconds is ReadyAt - DeletedAt in seconds (0/absent until ready).
	Seconds float64 `json:"seconds,omitempty"`
}

// SkippedVictim is a chaos-agent extension: a pod that was selected as a
// candidate but not deleted.
type SkippedVictim struct {
	Pod    string `json:"pod"`
	Reason string `json:"reason,omitempty"`
}
