package cluster_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// TestHarnessPodReplacement proves the local cluster behaves like a cluster for the one thing
// chaos-agent needs most: a Deployment's pods become Ready, and a deleted pod is replaced by a
// new Ready pod.
func TestHarnessPodReplacement(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()

	// kwok must keep the nodes' Leases fresh, or the node lifecycle controller marks every pod
	// NotReady about once a minute (see hack/cluster.sh).
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		testcluster.Eventually(t, 30*time.Second, "lease of node "+n.Name, func(ctx context.Context) (bool, error) {
			l, err := c.Client.CoordinationV1().Leases("kube-node-lease").Get(ctx, n.Name, metav1.GetOptions{})
			return err == nil && l.Spec.RenewTime != nil, nil
		})
	}

	start := time.Now()
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, testcluster.Deployment(ns, "web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	readyPods := func(ctx context.Context) ([]corev1.Pod, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return nil, err
		}
		var ready []corev1.Pod
		for _, p := range pods.Items {
			if testcluster.PodReady(&p) {
				ready = append(ready, p)
			}
		}
		return ready, nil
	}
	var before []corev1.Pod
	testcluster.Eventually(t, 60*time.Second, "2 Ready pods", func(ctx context.Context) (bool, error) {
		var err error
		before, err = readyPods(ctx)
		return len(before) == 2, err
	})
	t.Logf("deployment 2/2 Ready after %s", time.Since(start).Round(time.Millisecond))

	victim := before[0]
	deleted := time.Now()
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatalf("delete pod %s: %v", victim.Name, err)
	}
	testcluster.Eventually(t, 60*time.Second, "a Ready replacement pod", func(ctx context.Context) (bool, error) {
		pods, err := readyPods(ctx)
		if err != nil {
			return false, err
		}
		replaced := 0
		for _, p := range pods {
			if p.UID == victim.UID {
				return false, nil // the victim is still there
			}
			replaced++
		}
		return replaced == 2, nil
	})
	t.Logf("pod %s deleted; 2/2 Ready again after %s", victim.Name, time.Since(deleted).Round(time.Millisecond))
}
