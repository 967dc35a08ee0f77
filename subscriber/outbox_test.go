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
	// Room for one event is not enough: pushes resume at the low-water mark (3/4 of the bounds),
	// so that what follows is written in one go rather than one ConfigMap write per event.
	select {
	case <-done:
		t.Fatal("push resumed above the low-water mark")
	case <-time.After(100 * time.Millisecond):
	}
	acks := 1
	for resumed := false; !resumed; {
		head, _ = o.head()
		o.ack(ctx, head.Seq)
		acks++
		select {
		case <-done:
			resumed = true
		case <-time.After(100 * time.Millisecond):
			if acks > 7 {
				t.Fatal("push still waiting with the outbox drained")
			}
		}
	}
	if o.size() > outboxMaxBytes*3/4 || acks != 3 {
		t.Errorf("push resumed after %d acks at %d bytes; want 3 acks, ≤ %d bytes", acks, o.size(), outboxMaxBytes*3/4)
	}
	// Events are ready to send at once: the sender does not wait for the store.
	o2 := newOutbox(&MemoryStore{}, NewMetrics(), zap.NewNop())
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
	o := newOutbox(store, NewMetrics(), zap.NewNop())
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
	// An event larger than a segment goes alone into an empty one.
	huge := json.RawMessage(`"` + strings.Repeat("x", segmentMaxBytes) + `"`)
	o.push(ctx, "huge", true, huge, now)
	o.push(ctx, "after", true, small, now)
	o.persist(ctx)
	if len(store.segs[2]) != 1 || len(store.segs[3]) != 1 {
		t.Errorf("huge event: segment 2 holds %d, segment 3 holds %d; want 1 and 1", len(store.segs[2]), len(store.segs[3]))
	}

	// A restart loads the queue in order with its accounting.
	o2 := newOutbox(store, NewMetrics(), zap.NewNop())
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
	o := newOutbox(store, NewMetrics(), zap.NewNop())
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
	o := newOutbox(store, m, zap.NewNop())
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
	o2 := newOutbox(store, NewMetrics(), zap.NewNop())
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
