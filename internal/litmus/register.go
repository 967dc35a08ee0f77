package litmus

import "k8s.io/apimachinery/pkg/runtime/schema"

// API group, version and resource names of the litmuschaos.io CRDs.
const (
	Group      = "litmuschaos.io"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version

	KindChaosEngine         = "ChaosEngine"
	KindChaosEngineList     = "ChaosEngineList"
	KindChaosExperiment     = "ChaosExperiment"
	KindChaosExperimentList = "ChaosExperimentList"
	KindChaosResult         = "ChaosResult"
	KindChaosResultList     = "ChaosResultList"

	ResourceChaosEngines     = "chaosengines"
	ResourceChaosExperiments = "chaosexperiments"
	ResourceChaosResults     = "chaosresults"
)

// Finalizer is the finalizer the ChaosEngine controller puts on engines.
const Finalizer = "chaosengine.litmuschaos.io/finalizer"

// Well-known labels and annotations.
const (
	// LabelChaosUID carries the UID of the owning ChaosEngine. It is set on
	// runner pods, experiment jobs/pods, probe source pods and ChaosResults;
	// results of an engine are found by this label.
	LabelChaosUID = "chaosUID"
	// AnnotationSidecarEnabled on a ChaosEngine switches engine sidecars
	// off when set to "false".
	AnnotationSidecarEnabled = "sidecar/enabled"
)

// GroupVersion returns litmuschaos.io/v1alpha1.
func GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: Group, Version: Version}
}

// ChaosEngineGVR returns the resource of ChaosEngine objects.
func ChaosEngineGVR() schema.GroupVersionResource {
	return GroupVersion().WithResource(ResourceChaosEngines)
}

// ChaosExperimentGVR returns the resource of ChaosExperiment objects.
func ChaosExperimentGVR() schema.GroupVersionResource {
	return GroupVersion().WithResource(ResourceChaosExperiments)
}

// ChaosResultGVR returns the resource of ChaosResult objects.
func ChaosResultGVR() schema.GroupVersionResource {
	return GroupVersion().WithResource(ResourceChaosResults)
}

// ChaosEngineGVK returns the kind of ChaosEngine objects.
func ChaosEngineGVK() schema.GroupVersionKind {
	return GroupVersion().WithKind(KindChaosEngine)
}

// ChaosExperimentGVK returns the kind of ChaosExperiment objects.
func ChaosExperimentGVK() schema.GroupVersionKind {
	return GroupVersion().WithKind(KindChaosExperiment)
}

// ChaosResultGVK returns the kind of ChaosResult objects.
func ChaosResultGVK() schema.GroupVersionKind {
	return GroupVersion().WithKind(KindChaosResult)
}
