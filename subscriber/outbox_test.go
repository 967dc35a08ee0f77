package subscriber

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestOutboxBounds(t *testing.T) {
	ctx := t.Context()
	m := NewMetrics()
	o := newOutbox(&MemoryStore{}, m, zap.NewNop(), nil)
	big := json.RawMessage(`"` + strings.Repeat("x", 40<<10) + `"`) // 40 KiB: two per segment
	now := time.Now()
	// 16 runs × 1 intermediate event fit (8 segments of two); the 17th forces coalescing of superseded events.
	for i := range 16 {
		o.push(ctx, fmt.Sprint("run-", i), false, big, now)
	}
	o.push(ctx, "run-1", false, big, now) // supersedes run-1's older event
	if got := testutil.ToFloat64(m.eventsFailed.WithLabelValues("superseded")); got != 1 {
		t.Errorf("superseded %v, want 1", got)
	}
	if o.depth() != 16 {
		t.Errorf("depth %d, want 16", o.depth())
	}
	// A new run's completed event cannot supersede anything: push does not wait (it is called
	// from informer handlers), the event waits in memory.
	done := make(chan struct{})
	go func() { defer close(done); o.push(ctx, "run-99", true, big, now) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("push blocked on a full outbox")
	}
	if o.depth() != 17 || len(o.pending) == 0 {
		t.Fatalf("depth %d, pending %d; want 17 with some waiting", o.depth(), len(o.pending))
	}
	waiting := len(o.pending)
	// Later events of the same run replace the waiting one; a stale update never replaces a
	// completed event.
	o.push(ctx, "run-98", false, big, now)
	o.push(ctx, "run-98", true, big, now)
	o.push(ctx, "run-98", false, big, now)
	if len(o.pending) != waiting+1 || !o.pending[waiting].Completed {
		t.Fatalf("pending %d, want %d with run-98's completed event kept", len(o.pending), waiting+1)
	}
	o.persist(ctx)
	// Room for one event is not enough: waiting events move in at the low-water mark (3/4 of the
	// bounds), so that what follows is written in one go rather than one ConfigMap write per event.
	head, _ := o.head()
	o.ack(ctx, head.Seq)
	if len(o.pending) != waiting+1 {
		t.Fatal("waiting events moved in above the low-water mark")
	}
	acks := 1
	for len(o.pending) > 0 {
		head, ok := o.head()
		if !ok {
			t.Fatal("no head")
		}
		o.ack(ctx, head.Seq)
		acks++
		if acks > 15 {
			t.Fatal("events still waiting with the outbox drained")
		}
	}
	if o.size() > outboxMaxBytes {
		t.Errorf("outbox over its bounds: %d bytes", o.size())
	}
	if !o.queuedCompleted("run-99") || !o.queuedCompleted("run-98") {
		t.Error("a completed event was lost")
	}
	// Events are ready to send at once: the sender does not wait for the store.
	o2 := newOutbox(&MemoryStore{}, NewMetrics(), zap.NewNop(), nil)
	o2.push(ctx, "r", false, json.RawMessage(`{}`), now)
	if _, ok := o2.head(); !ok {
		t.Error("a new event is not ready to send before it is written")
	}
}

// TestOutboxSegments: the queue is stored in small segments, so that a new event or an
// acknowledgement rewrites one segment, and a restart loads the queue back in order.
func TestOutboxSegments(t *testing.T) {
	ctx := t.Context()
	store := &MemoryStore{}
	o := newOutbox(store, NewMetrics(), zap.NewNop(), nil)
	now := time.Now()
	small := json.RawMessage(`{"n":1}`)
	for i := range segmentMaxEvents + 10 {
		o.push(ctx, fmt.Sprint("run-", i), true, small, now)
	}
	o.persist(ctx)
	if o.segs[0].events != segmentMaxEvents || o.segs[1].events != 10 {
		t.Fatalf("segments %+v, want %d then 10", o.segs[:2], segmentMaxEvents)
	}
	if store.saves != 2 {
		t.Errorf("%d segment writes for the first flush, want 2", store.saves)
	}
	// One more event: only the newest segment is written.
	o.push(ctx, "late", true, small, now)
	o.persist(ctx)
	if store.saves != 3 || len(store.segs[1]) != 11 {
		t.Errorf("after one push: %d writes, segment 1 holds %d", store.saves, len(store.segs[1]))
	}
	// An acknowledgement rewrites only the oldest segment.
	head, _ := o.head()
	o.ack(ctx, head.Seq)
	o.persist(ctx)
	if store.saves != 4 || len(store.segs[0]) != segmentMaxEvents-1 {
		t.Errorf("after one ack: %d writes, segment 0 holds %d", store.saves, len(store.segs[0]))
	}
	// An event larger than what is left of the newest segment goes into an empty one.
	large := json.RawMessage(`"` + strings.Repeat("x", 60<<10) + `"`)
	o.push(ctx, "large-1", true, large, now)
	o.push(ctx, "large-2", true, large, now)
	o.push(ctx, "after", true, small, now)
	o.persist(ctx)
	if len(store.segs[1]) != 12 || len(store.segs[2]) != 2 {
		t.Errorf("large events: segment 1 holds %d, segment 2 holds %d; want 12 and 2", len(store.segs[1]), len(store.segs[2]))
	}

	// A restart loads the queue in order with its accounting.
	o2 := newOutbox(store, NewMetrics(), zap.NewNop(), nil)
	if err := o2.load(ctx); err != nil {
		t.Fatal(err)
	}
	if o2.depth() != o.depth() || o2.size() != o.size() || o2.segs != o.segs {
		t.Fatalf("reloaded depth %d size %d segs %v; want %d %d %v", o2.depth(), o2.size(), o2.segs, o.depth(), o.size(), o.segs)
	}
	var prev uint64
	for o2.depth() > 0 {
		r, ok := o2.head()
		if !ok || r.Seq <= prev {
			t.Fatalf("replay out of order: %d after %d", r.Seq, prev)
		}
		prev = r.Seq
		o2.ack(ctx, r.Seq)
	}
	o2.persist(ctx)
	if all, _ := store.Load(ctx); len(all) != 0 {
		t.Errorf("%d records stored after every ack", len(all))
	}
	if o2.segs != [outboxSegments]segment{} || o2.size() != 0 {
		t.Errorf("accounting after draining: %v, %d bytes", o2.segs, o2.size())
	}
}

// failingStore fails every save while fail is set.
type failingStore struct {
	MemoryStore
	fail bool
}

func (f *failingStore) Save(ctx context.Context, segment int, recs []Record) error {
	if f.fail {
		return errors.New("etcd is sad")
	}
	return f.MemoryStore.Save(ctx, segment, recs)
}

// TestOutboxWriteFailure: an event whose segment cannot be written is still sent, stays in
// memory, and the next flush writes it.
func TestOutboxWriteFailure(t *testing.T) {
	ctx := t.Context()
	store := &failingStore{fail: true}
	o := newOutbox(store, NewMetrics(), zap.NewNop(), nil)
	o.push(ctx, "r", true, json.RawMessage(`{}`), time.Now())
	o.persist(ctx)
	if _, ok := o.head(); !ok {
		t.Fatal("an event that could not be written is not sent")
	}
	store.fail = false
	o.persist(ctx)
	if all, _ := store.Load(ctx); len(all) != 1 {
		t.Fatalf("%d events stored after the retry, want 1", len(all))
	}
}

// TestOutboxWriteSkipped: an event acknowledged before the flusher got to it is never written;
// one that is not acknowledged is written, and a restart replays it; writing what is already
// stored is skipped.
func TestOutboxWriteSkipped(t *testing.T) {
	ctx := t.Context()
	store := &MemoryStore{}
	m := NewMetrics()
	o := newOutbox(store, m, zap.NewNop(), nil)
	if err := o.load(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	o.push(ctx, "fast", false, json.RawMessage(`{"n":1}`), now)
	head, _ := o.head()
	o.ack(ctx, head.Seq) // delivered before the flusher ran
	o.persist(ctx)
	if store.saves != 0 || testutil.ToFloat64(m.outboxWrites) != 0 {
		t.Fatalf("%d writes for an event acknowledged before its write, want 0", store.saves)
	}
	o.push(ctx, "slow", true, json.RawMessage(`{"n":2}`), now) // the control plane is away
	o.persist(ctx)
	if store.saves != 1 {
		t.Fatalf("%d writes for an unacknowledged event, want 1", store.saves)
	}
	o.persist(ctx)
	o.dirty = 1<<outboxSegments - 1
	o.persist(ctx) // nothing changed since
	if store.saves != 1 {
		t.Errorf("%d writes after rewriting unchanged segments, want 1", store.saves)
	}
	// A restart replays the unacknowledged event, and only it.
	o2 := newOutbox(store, NewMetrics(), zap.NewNop(), nil)
	if err := o2.load(ctx); err != nil {
		t.Fatal(err)
	}
	if r, ok := o2.head(); !ok || r.RunID != "slow" || o2.depth() != 1 {
		t.Fatalf("replayed %+v (depth %d), want the event of run slow", r, o2.depth())
	}
	// Once it is acknowledged, its removal is written.
	o2.ack(ctx, o2.recs[0].Seq)
	o2.persist(ctx)
	if all, _ := store.Load(ctx); len(all) != 0 || store.saves != 2 {
		t.Errorf("%d events stored after the ack (%d writes), want 0 (2)", len(all), store.saves)
	}
}

func TestWithIdentity(t *testing.T) {
	id := InfraIdentity{InfraID: "i", AccessKey: "k", Version: "3.31.0"}
	tests := []struct {
		name, req string
		want      map[string]any // nil: an error
	}{
		{name: "event", req: `{"experimentRunID":"r","completed":true}`,
			want: map[string]any{"experimentRunID": "r", "completed": true}},
		{name: "spaces", req: " \n{ \"a\" : 1 }\n", want: map[string]any{"a": float64(1)}},
		{name: "empty object", req: `{}`, want: map[string]any{}},
		{name: "empty object with space", req: `{ }`, want: map[string]any{}},
		{name: "array", req: `[1]`},
		{name: "truncated", req: `{"a":`},
		{name: "two objects", req: `{"a":1}{"b":2}`},
		{name: "empty", req: ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := withIdentity(json.RawMessage(tc.req), id)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted %q: %s", tc.req, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("invalid JSON %s: %v", out, err)
			}
			gotID, _ := got["infraID"].(map[string]any)
			if gotID["infraID"] != "i" || gotID["accessKey"] != "k" || gotID["version"] != "3.31.0" {
				t.Errorf("identity %v", got["infraID"])
			}
			delete(got, "infraID")
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("fields %v, want %v", got, tc.want)
			}
		})
	}
}

// queuedCompleted reports whether the run's completed event waits in the outbox (tests).
func (o *outbox) queuedCompleted(runID string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.recs {
		if r.RunID == runID && r.Completed {
			return true
		}
	}
	return false
}

func TestRBACHint(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	if h := rbacHint(apierrors.NewForbidden(gr, "chaos-agent-outbox-3", errors.New("no"))); !strings.Contains(h, "chaos-agent-outbox-1 … -7") {
		t.Errorf("forbidden: hint %q", h)
	}
	if h := rbacHint(apierrors.NewNotFound(gr, "chaos-agent-outbox-3")); h != "" {
		t.Errorf("not found: hint %q", h)
	}
}
