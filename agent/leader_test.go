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
	"github.com/chaos-agent/chaos-agent/internal/litmus"
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
		t.Cleanup(func() {
			cancel()
			if err := <-r.done; err != nil { // a replica that lost its lease ends with an error
				t.Logf("replica %s ended: %v", r.name, err)
			}
		})
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
	if err := <-leader.done; err != nil {
		t.Errorf("stopped leader: %v", err)
	}
	leader.done <- nil // for the cleanup
	took := time.Now()
	testcluster.Eventually(t, 60*time.Second, "the follower takes over", func(ctx context.Context) (bool, error) { return ready(ctx, follower), nil })
	t.Logf("%s took over %s after %s stopped", follower.name, time.Since(took).Round(time.Millisecond), leader.name)
}

// TestShutdownWhileLeading: with --leader-elect, cancelling the agent (SIGTERM) during a run
// returns only once the run is stopped and its result written, and the Lease is released only
// then: a replacement cannot lead while this replica still works, and the process cannot exit
// with the run still marked Running.
func TestShutdownWhileLeading(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	cfg := config.Defaults()
	cfg.Kubeconfig, cfg.Namespace, cfg.PodName, cfg.LeaderElect = c.Kubeconfig, ns, "leader-0", true
	cfg.Scope = config.ScopeNamespace
	cfg.MetricsAddr, cfg.HealthAddr = "", "127.0.0.1:0"
	a := agent.New(cfg, zaptest.NewLogger(t))
	ctx, stop := context.WithCancel(context.WithoutCancel(t.Context()))
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	addr, err := a.HealthAddr(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, "the leader ready", func(ctx context.Context) (bool, error) {
		code, _, err := get(ctx, "http://"+addr.String()+"/readyz")
		return code == http.StatusOK, err
	})
	setupChaos(t, c, ns)
	if _, err := c.Client.AppsV1().Deployments(ns).Create(t.Context(), testcluster.Deployment(ns, "web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createEngine(t, c, ns, "long", "120", "1")
	testcluster.Eventually(t, 30*time.Second, "chaos injected", func(ctx context.Context) (bool, error) {
		evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=ChaosInject,involvedObject.name=long"})
		return err == nil && len(evs.Items) > 0, err
	})
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not shut down")
	}
	// Right after Run returned: no waiting.
	res, err := c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(ns).Get(t.Context(), "long-pod-delete", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var r litmus.ChaosResult
	if err := litmus.FromUnstructured(res, &r); err != nil {
		t.Fatal(err)
	}
	if r.Status.ExperimentStatus.Verdict != litmus.VerdictStopped {
		t.Errorf("verdict when Run returned: %s (phase %s), want Stopped", r.Status.ExperimentStatus.Verdict, r.Status.ExperimentStatus.Phase)
	}
	lease, err := c.Client.CoordinationV1().Leases(ns).Get(t.Context(), "chaos-agent-leader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("the Lease is still held by %q after Run returned", *h)
	}
}
