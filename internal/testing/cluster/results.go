package cluster

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// FinalResult waits up to timeout for the ChaosResult ns/name to reach a final verdict (not
// empty, not Awaited) and returns it.
func (c *Cluster) FinalResult(t testing.TB, ns, name string, timeout time.Duration) *litmus.ChaosResult {
	t.Helper()
	var res litmus.ChaosResult
	Eventually(t, timeout, "final verdict of "+ns+"/"+name, func(ctx context.Context) (bool, error) {
		u, err := c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if err := litmus.FromUnstructured(u, &res); err != nil {
			return false, err
		}
		v := res.Status.ExperimentStatus.Verdict
		return v != "" && v != litmus.VerdictAwaited, nil
	})
	return &res
}
