package executor

import (
	"context"
	"testing"
	"time"

	kubefake "k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestLazyTargets: the target caches exist only from the first run until idle after the last;
// a run arriving while they wait to stop keeps them; stop ends them at once; nothing starts
// before start or after its context ends.
func TestLazyTargets(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	client := kubefake.NewClientset()
	l := newLazyTargets(func() *targetCaches { return newTargetCaches(client, "ns", 0) }, clk, time.Minute)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, _, err := l.acquire(ctx); err == nil {
		t.Fatal("caches started before the executor runs")
	}
	l.start(ctx)
	defer l.stop()
	if l.running() {
		t.Fatal("caches running with no run")
	}
	c1, release1, err := l.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, release2, err := l.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release1()
	release1() // idempotent
	waitTimers := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !clk.HasWaiters() == (n > 0); {
			if time.Now().After(deadline) {
				t.Fatalf("idle timer waiters: want %d", n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	clk.Step(2 * time.Minute)
	if !l.running() {
		t.Fatal("caches stopped while a run still uses them")
	}
	release2()
	waitTimers(1)
	clk.Step(30 * time.Second)
	// A run within the idle time keeps the same caches.
	c3, release3, err := l.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c3 != c1 {
		t.Error("new caches built while the old ones were still kept")
	}
	clk.Step(2 * time.Minute)
	if !l.running() {
		t.Fatal("a called-off idle stop still stopped the caches")
	}
	release3()
	waitTimers(1)
	clk.Step(time.Minute)
	for deadline := time.Now().Add(10 * time.Second); l.running(); {
		if time.Now().After(deadline) {
			t.Fatal("caches still running a minute after the last run")
		}
		time.Sleep(time.Millisecond)
	}
	// The next run builds fresh caches.
	c4, release4, err := l.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c4 == c1 {
		t.Error("stopped caches reused")
	}
	release4()
	l.stop()
	if l.running() {
		t.Error("caches running after stop")
	}
	cancel()
	if _, _, err := l.acquire(t.Context()); err == nil {
		t.Error("caches started after the executor stopped")
	}
}
