package compat

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// HubAppNamespace and the kube-proxy DaemonSet are the ChaosHub experiment's target, which its
// file names literally (appns kube-system, applabel k8s-app=kube-proxy, appkind daemonset).
const HubAppNamespace = "kube-system"

// Setup prepares a chaos namespace and an application namespace for the corpus, as a cluster
// admin would: the chaos service account litmus-admin in chaosNS, allowed to delete pods in
// appNS and in kube-system; Deployments cart, front, web and api (2 replicas each) in appNS; the
// ChaosHub target (a kube-proxy DaemonSet on the kwok nodes in kube-system, shared by the tests
// and left in place); and, with installExperiment, the pod-delete ChaosExperiment in chaosNS.
func Setup(t *testing.T, c *testcluster.Cluster, chaosNS, appNS string, installExperiment bool) {
	t.Helper()
	ctx := t.Context()
	if _, err := c.Client.CoreV1().ServiceAccounts(chaosNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, ns := range []string{appNS, HubAppNamespace, chaosNS} {
		name := "litmus-admin-" + chaosNS // unique in the shared kube-system
		if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets", "daemonsets"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "litmus-admin", Namespace: chaosNS}}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		if ns == HubAppNamespace {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				_ = c.Client.RbacV1().RoleBindings(ns).Delete(ctx, name, metav1.DeleteOptions{})
				_ = c.Client.RbacV1().Roles(ns).Delete(ctx, name, metav1.DeleteOptions{})
			})
		}
	}
	for _, d := range []string{"cart", "front", "web", "api"} {
		if _, err := c.Client.AppsV1().Deployments(appNS).Create(ctx, testcluster.Deployment(appNS, d, 2), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	labels := map[string]string{"k8s-app": "kube-proxy"}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Namespace: HubAppNamespace, Labels: labels},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1), NodeSelector: map[string]string{"type": "kwok"},
				Tolerations: []corev1.Toleration{testcluster.KwokToleration},
				Containers:  []corev1.Container{{Name: "kube-proxy", Image: "registry.invalid/kube-proxy:test"}}},
		}}}
	if _, err := c.Client.AppsV1().DaemonSets(HubAppNamespace).Create(ctx, ds, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 60*time.Second, "application pods ready", func(ctx context.Context) (bool, error) {
		for _, sel := range []struct{ ns, label string }{{appNS, "app=cart"}, {appNS, "app=front"}, {appNS, "app=web"}, {appNS, "app=api"}, {HubAppNamespace, "k8s-app=kube-proxy"}} {
			pods, err := c.Client.CoreV1().Pods(sel.ns).List(ctx, metav1.ListOptions{LabelSelector: sel.label})
			if err != nil {
				return false, err
			}
			ready := 0
			for i := range pods.Items {
				if testcluster.PodReady(&pods.Items[i]) {
					ready++
				}
			}
			if ready < 2 {
				return false, nil
			}
		}
		return true, nil
	})
	if installExperiment {
		x, err := litmus.ToUnstructured(&litmus.ChaosExperiment{
			TypeMeta:   metav1.TypeMeta{APIVersion: litmus.GroupVersion().String(), Kind: litmus.KindChaosExperiment},
			ObjectMeta: metav1.ObjectMeta{Name: "pod-delete", Namespace: chaosNS},
			Spec: litmus.ChaosExperimentSpec{Definition: litmus.ExperimentDefinition{Args: []string{"-c", "./experiments -name pod-delete"},
				Env: []corev1.EnvVar{{Name: "TOTAL_CHAOS_DURATION", Value: "15"}, {Name: "FORCE", Value: "true"}, {Name: "CHAOS_INTERVAL", Value: "5"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Dynamic.Resource(litmus.ChaosExperimentGVR()).Namespace(chaosNS).Create(ctx, x, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}
