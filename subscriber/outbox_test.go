package subscriber

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

func TestOutboxBounds(t *testing.T) {
	ctx := t.Context()
	m := NewMetrics()
	o := newOutbox(&MemoryStore{}, m, zap.NewNop())
	big := json.RawMessage(`"` + strings.Repeat("x", 100<<10) + `"`) // 100 KiB
	now := time.Now()
	// 7 runs × 1 intermediate event fit (≈ 700 KiB); the 8th forces coalescing of superseded events.
	for i := range 7 {
		o.push(ctx, fmt.Sprint("run-", i), false, big, now)
	}
	o.push(ctx, "run-1", false, big, now) // supersedes run-1's older event
	if got := testutil.ToFloat64(m.eventsFailed.WithLabelValues("superseded")); got != 1 {
		t.Errorf("superseded %v, want 1", got)
	}
	if o.depth() != 7 {
		t.Errorf("depth %d, want 7", o.depth())
	}
	// A new run's completed event cannot supersede anything: push waits for room.
	done := make(chan struct{})
	go func() { defer close(done); o.push(ctx, "run-9", true, big, now) }()
	select {
	case <-done:
		t.Fatal("push did not wait for room")
	case <-time.After(100 * time.Millisecond):
	}
	o.persist(ctx)
	head, ok := o.head()
	if !ok {
		t.Fatal("no head after persisting")
	}
	o.ack(ctx, head.Seq)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("push still waiting after an ack made room")
	}
	// Events are sent only once persisted.
	o2 := newOutbox(&MemoryStore{}, NewMetrics(), zap.NewNop())
	o2.push(ctx, "r", false, json.RawMessage(`{}`), now)
	if _, ok := o2.head(); ok {
		t.Error("an unpersisted event is ready to send")
	}
	o2.persist(ctx)
	if _, ok := o2.head(); !ok {
		t.Error("a persisted event is not ready to send")
	}
}
