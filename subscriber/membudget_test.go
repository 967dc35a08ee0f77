package subscriber

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"k8s.io/utils/clock"
)

// An oversize frame fails the read before it is buffered; frames under the bound pass.
func TestFrameBound(t *testing.T) {
	url := rawWSServer(t, wsFrame(0x1, strings.Repeat("a", 1000)), wsFrame(0x1, strings.Repeat("b", 64<<10)))
	conn, err := gorillaDialer(nil, 16<<10)(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if msg, err := conn.Read(time.Now().Add(10 * time.Second)); err != nil || len(msg) != 1000 {
		t.Fatalf("small frame: %d bytes, %v", len(msg), err)
	}
	if msg, err := conn.Read(time.Now().Add(10 * time.Second)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("a 64 KiB frame over a 16 KiB bound: %d bytes, err %v", len(msg), err)
	}
}

// Queued actions hold memory against the budget: the reader waits when it is spent, one action
// larger than the whole budget still runs alone, and releases let the reader go on; a reader
// kept waiting a whole keepalive timeout drops the action instead of wedging the link.
func TestActionMemoryBudget(t *testing.T) {
	m := NewMetrics()
	s := &Subscriber{actions: make(chan Action, 256), memory: newMemBudget(1 << 20), log: zap.NewNop(),
		o: Options{KeepAliveTimeout: time.Minute, Clock: clock.RealClock{}, Metrics: m}}
	big := Action{K8sManifest: strings.Repeat("x", 100<<10)} // weight ~800 KiB
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s.enqueue(ctx, big)
	blocked := make(chan struct{})
	go func() { defer close(blocked); s.enqueue(ctx, big) }()
	select {
	case <-blocked:
		t.Fatal("a second large action was queued beyond the budget")
	case <-time.After(200 * time.Millisecond):
	}
	s.memory.release(actionWeight(<-s.actions)) // a worker finished the first
	select {
	case <-blocked:
	case <-ctx.Done():
		t.Fatal("the reader never resumed after a release")
	}
	s.memory.release(actionWeight(<-s.actions))
	huge := Action{K8sManifest: strings.Repeat("y", 1<<20)} // weight above the whole budget
	s.enqueue(ctx, huge)
	if len(s.actions) != 1 {
		t.Fatal("an action larger than the budget never ran")
	}
	s.memory.release(actionWeight(<-s.actions))
	if !s.memory.sem.TryAcquire(1 << 20) {
		t.Fatal("the budget leaked")
	}
	s.memory.release(1 << 20)

	// The budget held for longer than the keepalive timeout: dropped, counted, nothing leaked.
	synctest.Test(t, func(t *testing.T) {
		s.o.KeepAliveTimeout = 30 * time.Second
		s.enqueue(t.Context(), big)
		start := time.Now()
		s.enqueue(t.Context(), Action{RequestType: "create", K8sManifest: strings.Repeat("z", 100<<10)})
		if waited := time.Since(start); waited != 30*time.Second {
			t.Errorf("waited %s, want the keepalive timeout", waited)
		}
		if len(s.actions) != 1 {
			t.Errorf("%d actions queued, want 1", len(s.actions))
		}
		if got := testutil.ToFloat64(m.actions.WithLabelValues("create", "dropped_busy")); got != 1 {
			t.Errorf("dropped_busy = %v, want 1", got)
		}
		s.memory.release(actionWeight(<-s.actions))
	})
	if !s.memory.sem.TryAcquire(1 << 20) {
		t.Fatal("the budget leaked after a drop")
	}
}
