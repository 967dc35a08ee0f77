package litmus

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChaosEngine binds experiments (with their probes and env overrides) to a
// target application and carries the run status.
type ChaosEngine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ChaosEngineSpec   `json:"spec,omitzero"`
	Status ChaosEngineStatus `json:"status,omitzero"`
}

// ChaosEngineList is a list of ChaosEngines.
type ChaosEngineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ChaosEngine `json:"items"`
}

// ChaosEngineSpec is ChaosEngine.spec. Selectors, when set, win over AppInfo.
type ChaosEngineSpec struct {
	AppInfo   AppInfo    `json:"appinfo,omitzero"`
	Selectors *Selectors `json:"selectors,omitempty"`
	// EngineState is the user's intent; empty means active.
	EngineState         EngineState      `json:"engineState,omitempty"`
	ChaosServiceAccount string           `json:"chaosServiceAccount,omitempty"`
	JobCleanUpPolicy    JobCleanUpPolicy `json:"jobCleanUpPolicy,omitempty"`
	DefaultHealthCheck  bool             `json:"defaultHealthCheck,omitempty"`
	// AuxiliaryAppInfo is passed through as env AUXILIARY_APPINFO.
	AuxiliaryAppInfo              string             `json:"auxiliaryAppInfo,omitempty"`
	TerminationGracePeriodSeconds int64              `json:"terminationGracePeriodSeconds,omitempty"`
	Components                    EngineComponents   `json:"components,omitzero"`
	Experiments                   []EngineExperiment `json:"experiments,omitempty"`
}

// AppInfo is spec.appinfo, the legacy single-target selector.
type AppInfo struct {
	AppNS string `json:"appns,omitempty"`
	// AppLabel is a label selector; it may contain commas.
	AppLabel string `json:"applabel,omitempty"`
	// AppKind is one of deployment, statefulset, daemonset,
	// deploymentconfig, rollout (or empty).
	AppKind string `json:"appkind,omitempty"`
}

// Selectors is spec.selectors; exactly one of Workloads or Pods is set.
type Selectors struct {
	Workloads []WorkloadSelector `json:"workloads,omitempty"`
	Pods      []PodSelector      `json:"pods,omitempty"`
}

// WorkloadSelector selects workloads of Kind in Namespace by Names or by
// Labels (exactly one; both comma-separated strings).
type WorkloadSelector struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Names     string `json:"names,omitempty"`
	Labels    string `json:"labels,omitempty"`
}

// PodSelector selects pods by comma-separated Names in Namespace.
type PodSelector struct {
	Namespace string `json:"namespace"`
	Names     string `json:"names"`
}

// EngineComponents is spec.components (runner pod template and sidecars).
type EngineComponents struct {
	Runner  RunnerComponent    `json:"runner,omitzero"`
	Sidecar []SidecarComponent `json:"sidecar,omitempty"`
}

// RunnerComponent is spec.components.runner.
type RunnerComponent struct {
	Image             string                        `json:"image,omitempty"`
	Type              string                        `json:"type,omitempty"`
	Args              []string                      `json:"args,omitempty"`
	Command           []string                      `json:"command,omitempty"`
	ImagePullPolicy   corev1.PullPolicy             `json:"imagePullPolicy,omitempty"`
	ImagePullSecrets  []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	RunnerAnnotations map[string]string             `json:"runnerAnnotations,omitempty"`
	RunnerLabels      map[string]string             `json:"runnerLabels,omitempty"`
	NodeSelector      map[string]string             `json:"nodeSelector,omitempty"`
	ConfigMaps        []ConfigMapVolume             `json:"configMaps,omitempty"`
	Secrets           []SecretVolume                `json:"secrets,omitempty"`
	Tolerations       []corev1.Toleration           `json:"tolerations,omitempty"`
	Resources         corev1.ResourceRequirements   `json:"resources,omitzero"`
}

// SidecarComponent is an entry of spec.components.sidecar[].
type SidecarComponent struct {
	Image           string                 `json:"image,omitempty"`
	ImagePullPolicy corev1.PullPolicy      `json:"imagePullPolicy,omitempty"`
	Secrets         []SecretVolume         `json:"secrets,omitempty"`
	EnvFrom         []corev1.EnvFromSource `json:"envFrom,omitempty"`
	Env             []corev1.EnvVar        `json:"env,omitempty"`
}

// EngineExperiment is an entry of spec.experiments[]; experiments run
// sequentially in list order.
type EngineExperiment struct {
	Name string               `json:"name"`
	Spec EngineExperimentSpec `json:"spec,omitzero"`
}

// EngineExperimentSpec is spec.experiments[].spec.
type EngineExperimentSpec struct {
	Components ExperimentComponents `json:"components,omitzero"`
	Probe      []Probe              `json:"probe,omitempty"`
}

// ExperimentComponents is spec.experiments[].spec.components: per-experiment
// overrides of the ChaosExperiment definition.
type ExperimentComponents struct {
	// Env overrides the ChaosExperiment env by name.
	Env                        []corev1.EnvVar               `json:"env,omitempty"`
	ConfigMaps                 []ConfigMapVolume             `json:"configMaps,omitempty"`
	Secrets                    []SecretVolume                `json:"secrets,omitempty"`
	ExperimentAnnotations      map[string]string             `json:"experimentAnnotations,omitempty"`
	ExperimentImage            string                        `json:"experimentImage,omitempty"`
	ExperimentImagePullSecrets []corev1.LocalObjectReference `json:"experimentImagePullSecrets,omitempty"`
	NodeSelector               map[string]string             `json:"nodeSelector,omitempty"`
	StatusCheckTimeouts        StatusCheckTimeouts           `json:"statusCheckTimeouts,omitzero"`
	Resources                  corev1.ResourceRequirements   `json:"resources,omitzero"`
	Tolerations                []corev1.Toleration           `json:"tolerations,omitempty"`
}

// StatusCheckTimeouts overrides STATUS_CHECK_DELAY / STATUS_CHECK_TIMEOUT
// (both in seconds).
type StatusCheckTimeouts struct {
	Delay   int `json:"delay,omitempty"`
	Timeout int `json:"timeout,omitempty"`
}

// ChaosEngineStatus is ChaosEngine.status.
type ChaosEngineStatus struct {
	EngineStatus EngineStatus             `json:"engineStatus,omitempty"`
	Experiments  []EngineExperimentStatus `json:"experiments,omitempty"`
}

// EngineExperimentStatus is an entry of status.experiments[].
type EngineExperimentStatus struct {
	Name           string              `json:"name,omitempty"`
	Runner         string              `json:"runner,omitempty"`
	ExperimentPod  string              `json:"experimentPod,omitempty"`
	Status         ExperimentRunStatus `json:"status,omitempty"`
	Verdict        Verdict             `json:"verdict,omitempty"`
	LastUpdateTime metav1.Time         `json:"lastUpdateTime,omitzero"`
}
