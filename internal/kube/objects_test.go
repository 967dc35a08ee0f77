package kube

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestSlimPod(t *testing.T) {
	now := metav1.Now()
	full := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u1", ResourceVersion: "7", CreationTimestamp: now,
			Labels:          map[string]string{"app": "web"},
			Annotations:     map[string]string{lastApplied: `{"big":"copy"}`, "openshift.io/deployment-config.name": "web"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-5d8f", Controller: new(bool)}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "app", Image: "app:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, Message: "long text"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, RestartCount: 2, Image: "app:1", ImageID: "sha256:…"}}},
	}
	obj, err := SlimPod(full)
	if err != nil {
		t.Fatal(err)
	}
	p := obj.(*corev1.Pod)
	kept := p.Name == "web-1" && p.Namespace == "shop" && p.UID == "u1" && p.ResourceVersion == "7" && p.CreationTimestamp.Equal(&now) &&
		p.Labels["app"] == "web" && p.Annotations["openshift.io/deployment-config.name"] == "web" && len(p.OwnerReferences) == 1 &&
		p.Spec.NodeName == "node-a" && p.Status.Phase == corev1.PodRunning && PodReady(p) &&
		len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Name == "app" && p.Status.ContainerStatuses[0].Ready && p.Status.ContainerStatuses[0].RestartCount == 2
	if !kept {
		t.Errorf("a field that is read was lost: %+v", p)
	}
	if p.ManagedFields != nil || p.Annotations[lastApplied] != "" || len(p.Spec.Containers) != 0 || p.Status.PodIP != "" ||
		p.Status.Conditions[0].Message != "" || p.Status.ContainerStatuses[0].Image != "" {
		t.Errorf("unread fields kept: %+v", p)
	}
	if _, ok := full.Annotations[lastApplied]; !ok || full.ManagedFields == nil {
		t.Error("the informer's object was modified in place")
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "shop/web-1"}
	if got, _ := SlimPod(tomb); got != tomb {
		t.Errorf("a tombstone changed: %v", got)
	}
}

func TestSlimReplicaSet(t *testing.T) {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f", Namespace: "shop", OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web"}},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}},
		Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}},
	}
	obj, _ := SlimReplicaSet(rs)
	got := obj.(*appsv1.ReplicaSet)
	if got.Name != "web-5d8f" || len(got.OwnerReferences) != 1 || got.OwnerReferences[0].Name != "web" {
		t.Errorf("owner lost: %+v", got.ObjectMeta)
	}
	if got.ManagedFields != nil || len(got.Spec.Template.Spec.Containers) != 0 {
		t.Errorf("unread fields kept: %+v", got)
	}
}
