package cluster

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/chaos-agent/chaos-agent/internal/kube"
)

// Deployment returns a Deployment of `replicas` pods labelled app=name. Its pods never run a
// container (kwok marks them Running and Ready); a short grace period keeps graceful deletes quick.
func Deployment(namespace, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{
						Name:  "app",
						Image: "registry.invalid/" + name + ":test",
					}},
				},
			},
		},
	}
}

// PodReady reports whether a pod is Running, Ready and not being deleted.
func PodReady(p *corev1.Pod) bool { return kube.PodReady(p) }
