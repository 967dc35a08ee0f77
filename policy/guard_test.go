package policy

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// Link loss halts chaos after linkLossTimeout (default 60 s) and not before; a live link lifts the
// halt; halt-all stops runs without staying in force.
func TestGuardLinkLossAndHaltAll(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1e9, 0))
	var linked atomic.Bool
	g := NewGuard(GuardOptions{Namespace: "agent", Linked: linked.Load, Clock: clk, Period: time.Second})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	}()
	step := func(d time.Duration) {
		for !clk.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		clk.Step(d)
		// Let the guard evaluate; it signals on its channel when it enters a halt.
		time.Sleep(20 * time.Millisecond)
	}
	linked.Store(true)
	step(time.Second)
	linked.Store(false)
	step(59 * time.Second)
	if _, halted := g.Halted(); halted {
		t.Fatal("halted before linkLossTimeout")
	}
	step(2 * time.Second)
	select {
	case reason := <-g.Halts():
		if !strings.Contains(reason, "linkLossTimeout") {
			t.Errorf("reason %q", reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no halt after the link was lost for more than 60 s")
	}
	if _, halted := g.Halted(); !halted {
		t.Error("new runs are not refused while the link is lost")
	}
	linked.Store(true)
	step(time.Second)
	if reason, halted := g.Halted(); halted {
		t.Errorf("still halted with a live link: %s", reason)
	}
	g.HaltAll("test")
	select {
	case reason := <-g.Halts():
		if !strings.Contains(reason, "halt-all") {
			t.Errorf("reason %q", reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("halt-all delivered nothing")
	}
	if _, halted := g.Halted(); halted {
		t.Error("halt-all stays in force")
	}
}

// Without a control plane, link loss never halts.
func TestGuardWithoutControlPlane(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1e9, 0))
	g := NewGuard(GuardOptions{Namespace: "agent", Clock: clk})
	clk.Step(time.Hour)
	g.evaluate()
	if reason, halted := g.Halted(); halted {
		t.Errorf("halted: %s", reason)
	}
}
