package litmus

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChaosExperiment describes how to run one fault (image, command, default
// env). Its status is always empty.
type ChaosExperiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ChaosExperimentSpec   `json:"spec,omitzero"`
	Status ChaosExperimentStatus `json:"status,omitzero"`
}

// ChaosExperimentList is a list of ChaosExperiments.
type ChaosExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []ChaosExperiment `json:"items"`
}

// ChaosExperimentSpec is ChaosExperiment.spec.
type ChaosExperimentSpec struct {
	Definition ExperimentDefinition `json:"definition,omitzero"`
}

// ChaosExperimentStatus is ChaosExperiment.status (unused, always empty).
type ChaosExperimentStatus struct{}

// ExperimentDefinition is ChaosExperiment.spec.definition.
type ExperimentDefinition struct {
	// Labels are copied onto the experiment job and pod.
	Labels map[string]string `json:"labels,omitempty"`
	Image  string            `json:"image,omitempty"`
	// ImagePullPolicy defaults to Always when empty.
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	Scope           string            `json:"scope,omitempty"`
	// Permissions are informational RBAC rules.
	Permissions           []rbacv1.PolicyRule   `json:"permissions,omitempty"`
	Env                   []corev1.EnvVar       `json:"env,omitempty"`
	Command               []string              `json:"command,omitempty"`
	Args                  []string              `json:"args,omitempty"`
	ConfigMaps            []ConfigMapVolume     `json:"configMaps,omitempty"`
	Secrets               []SecretVolume        `json:"secrets,omitempty"`
	HostFileVolumes       []HostFileVolume      `json:"hostFileVolumes,omitempty"`
	ExperimentAnnotations map[string]string     `json:"experimentAnnotations,omitempty"`
	SecurityContext       ExperimentSecContexts `json:"securityContext,omitzero"`
	HostPID               bool                  `json:"hostPID,omitempty"`
}

// ExperimentSecContexts is spec.definition.securityContext.
type ExperimentSecContexts struct {
	PodSecurityContext       *corev1.PodSecurityContext `json:"podSecurityContext,omitempty"`
	ContainerSecurityContext *corev1.SecurityContext    `json:"containerSecurityContext,omitempty"`
}

// ConfigMapVolume mounts ConfigMap Name at MountPath (Data is optional
// inline content).
type ConfigMapVolume struct {
	Name      string            `json:"name,omitempty"`
	MountPath string            `json:"mountPath,omitempty"`
	Data      map[string]string `json:"data,omitempty"`
}

// SecretVolume mounts Secret Name at MountPath.
type SecretVolume struct {
	Name      string `json:"name,omitempty"`
	MountPath string `json:"mountPath,omitempty"`
}

// HostFileVolume mounts host path NodePath at MountPath.
type HostFileVolume struct {
	Name      string              `json:"name,omitempty"`
	MountPath string              `json:"mountPath,omitempty"`
	NodePath  string              `json:"nodePath,omitempty"`
	Type      corev1.HostPathType `json:"type,omitempty"`
}
