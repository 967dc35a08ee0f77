package kube

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodReady reports whether a pod is Running, Ready and not being deleted.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// StripManagedFields is an informer transform that drops metadata.managedFields: they are large
// and nothing in the agent reads them.
func StripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// lastApplied is kubectl's copy of the whole applied object: often the largest annotation.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// SlimPod is the pod informers' transform: a pod keeps only what target selection and the faults
// read — its metadata (without managed fields and kubectl's last-applied copy), node, phase,
// conditions, and each container status's name, readiness and restarts. A pod's spec and full
// status are most of its size, so a cache of 10 000 pods shrinks several-fold. A new reader of
// other fields must add them here.
func SlimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a tombstone
	}
	out := &corev1.Pod{TypeMeta: p.TypeMeta, ObjectMeta: slimMeta(p.ObjectMeta),
		Spec:   corev1.PodSpec{NodeName: p.Spec.NodeName},
		Status: corev1.PodStatus{Phase: p.Status.Phase, Conditions: make([]corev1.PodCondition, len(p.Status.Conditions))}}
	for i, c := range p.Status.Conditions {
		out.Status.Conditions[i] = corev1.PodCondition{Type: c.Type, Status: c.Status}
	}
	if len(p.Status.ContainerStatuses) > 0 {
		out.Status.ContainerStatuses = make([]corev1.ContainerStatus, len(p.Status.ContainerStatuses))
		for i, c := range p.Status.ContainerStatuses {
			out.Status.ContainerStatuses[i] = corev1.ContainerStatus{Name: c.Name, Ready: c.Ready, RestartCount: c.RestartCount}
		}
	}
	return out, nil
}

// SlimReplicaSet is the ReplicaSet informer's transform: target selection reads only a
// ReplicaSet's metadata (its owner), not its pod template.
func SlimReplicaSet(obj any) (any, error) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return obj, nil
	}
	return &appsv1.ReplicaSet{TypeMeta: rs.TypeMeta, ObjectMeta: slimMeta(rs.ObjectMeta)}, nil
}

func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	m.ManagedFields = nil
	if _, ok := m.Annotations[lastApplied]; ok {
		a := make(map[string]string, len(m.Annotations)-1)
		for k, v := range m.Annotations {
			if k != lastApplied {
				a[k] = v
			}
		}
		m.Annotations = a
	}
	return m
}
