package agent_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/agent"
	"github.com/chaos-agent/chaos-agent/internal/config"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// TestLeaderElection: two replicas with --leader-elect: exactly one holds the Lease and works
// (ready); when it stops, the other takes over.
func TestLeaderElection(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	type replica struct {
		name   string
		a      *agent.Agent
		health string
		stop   context.CancelFunc
		done   chan error
	}
	start := func(name string) *replica {
		cfg := config.Defaults()
		cfg.Kubeconfig, cfg.Namespace, cfg.PodName, cfg.LeaderElect = c.Kubeconfig, ns, name, true
		cfg.MetricsAddr, cfg.HealthAddr = "", "127.0.0.1:0"
		r := &replica{name: name, a: agent.New(cfg, zaptest.NewLogger(t).Named(name)), done: make(chan error, 1)}
		ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
		r.stop = cancel
		go func() { r.done <- r.a.Run(ctx) }()
		addr, err := r.a.HealthAddr(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		r.health = "http://" + addr.String() + "/readyz"
		t.Cleanup(func() { cancel(); <-r.done })
		return r
	}
	ready := func(ctx context.Context, r *replica) bool {
		code, _, _ := get(ctx, r.health)
		return code == http.StatusOK
	}
	a, b := start("replica-a"), start("replica-b")
	var leader, follower *replica
	testcluster.Eventually(t, 60*time.Second, "one leader", func(ctx context.Context) (bool, error) {
		ra, rb := ready(ctx, a), ready(ctx, b)
		switch {
		case ra && !rb:
			leader, follower = a, b
		case rb && !ra:
			leader, follower = b, a
		}
		return ra != rb, nil
	})
	lease, err := c.Client.CoordinationV1().Leases(ns).Get(t.Context(), "chaos-agent-leader", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != leader.name {
		t.Fatalf("lease %v (%v), want held by %s", lease.Spec.HolderIdentity, err, leader.name)
	}
	// Both stay as they are for a while: never two leaders.
	for range 10 {
		if ready(t.Context(), follower) {
			t.Fatal("both replicas are ready")
		}
		time.Sleep(200 * time.Millisecond)
	}
	leader.stop()
	<-leader.done
	leader.done <- nil // for the cleanup
	took := time.Now()
	testcluster.Eventually(t, 60*time.Second, "the follower takes over", func(ctx context.Context) (bool, error) { return ready(ctx, follower), nil })
	t.Logf("%s took over %s after %s stopped", follower.name, time.Since(took).Round(time.Millisecond), leader.name)
}
