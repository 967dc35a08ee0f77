package subscriber

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
)

// cpTransport serves the agent's GraphQL POSTs in memory with a test control plane's handler,
// injecting faults by request number.
type cpTransport struct {
	h     http.Handler
	fault func(n int) string // "" | "lost" (served, reply lost) | "unavailable" (503, not served)
	mu    sync.Mutex
	n     int
}

func (c *cpTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	n := c.n
	c.n++
	c.mu.Unlock()
	f := ""
	if c.fault != nil {
		f = c.fault(n)
	}
	if f == "unavailable" {
		rec := httptest.NewRecorder()
		rec.WriteHeader(http.StatusServiceUnavailable)
		return rec.Result(), nil
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, r)
	if f == "lost" {
		return nil, errors.New("connection reset by peer")
	}
	return rec.Result(), nil
}

// runRequest is a stored ExperimentRunRequest carrying n in its execution data.
func runRequest(runID string, n int, completed bool) json.RawMessage {
	exec, _ := json.Marshal(map[string]any{"phase": "Running", "n": n})
	b, _ := json.Marshal(map[string]any{
		"experimentID": "exp-1", "experimentRunID": runID, "experimentName": "e", "notifyID": runID,
		"executionData": base64.StdEncoding.EncodeToString(exec), "revisionID": "rev", "completed": completed, "updatedBy": "",
	})
	return b
}

// TestOutboxDeliveryInOrder: the sender delivers the outbox in order whatever happens to the
// replies: a lost reply (the server got the event) makes the agent send the same event again,
// never a later one first; a server down for a while delays, never reorders; the repeated
// completed event the server calls a duplicate is dropped, and nothing is lost.
func TestOutboxDeliveryInOrder(t *testing.T) {
	type ev struct {
		run       string
		completed bool
	}
	events := []ev{{"a", false}, {"b", false}, {"a", false}, {"b", false}, {"a", true}, {"c", false}, {"b", true}, {"c", true}}
	tests := []struct {
		name          string
		fault         func(n int) string
		wantDuplicate float64 // completed events the server refused as duplicates
	}{
		{name: "clean"},
		{name: "replies lost", fault: func(n int) string {
			return map[int]string{0: "lost", 1: "lost", 3: "lost", 6: "lost"}[n]
		}},
		{name: "every reply lost once", fault: func(n int) string {
			if n%2 == 0 {
				return "lost"
			}
			return ""
		}, wantDuplicate: 3},
		{name: "server unavailable", fault: func(n int) string {
			if n < 6 || n == 8 {
				return "unavailable"
			}
			return ""
		}},
		{name: "completed reply lost", fault: func(n int) string {
			return map[int]string{4: "lost"}[n] // a's completed event: the retry is a duplicate
		}, wantDuplicate: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cp := testcp.New(testcp.Options{})
				cp.RegisterConfirmedInfra(fakeInfra, fakeKey)
				s := newFakeSubscriber(t, newFakeClients(), nil)
				s.gql.http = &http.Client{Transport: &cpTransport{h: cp.Handler(), fault: tc.fault}, Timeout: 5 * time.Second}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() {
					defer close(done)
					_ = s.send(ctx)
				}()
				flushed := make(chan struct{})
				go func() {
					defer close(flushed)
					_ = s.runFlusher(ctx)
				}()
				for i, e := range events {
					s.outbox.push(ctx, e.run, e.completed, runRequest(e.run, i, e.completed), time.Now())
				}
				for deadline := time.Now().Add(10 * time.Minute); s.outbox.depth() > 0; {
					if time.Now().After(deadline) {
						t.Fatalf("%d events still queued after 10 minutes", s.outbox.depth())
					}
					time.Sleep(100 * time.Millisecond)
				}
				var got []int
				for _, r := range cp.Runs() {
					n := int(r.Execution["n"].(float64))
					if len(got) > 0 && got[len(got)-1] == n {
						continue // the same event again after a lost reply
					}
					got = append(got, n)
				}
				want := make([]int, len(events))
				for i := range want {
					want[i] = i
				}
				if !slices.Equal(got, want) {
					t.Errorf("server received events %v (repeats collapsed), want %v", got, want)
				}
				if d := testutil.ToFloat64(s.o.Metrics.eventsFailed.WithLabelValues("duplicate")); d != tc.wantDuplicate {
					t.Errorf("%v duplicates dropped, want %v", d, tc.wantDuplicate)
				}
				if f := cp.Fatal(); f != "" {
					t.Error(f)
				}
				// Shut down: both loops return, and the emptied outbox is stored.
				cancel()
				<-done
				<-flushed
			})
		})
	}
}

// TestOutboxAckIdempotent: acknowledging an event twice, or an event that is not the head,
// removes nothing else.
func TestOutboxAckIdempotent(t *testing.T) {
	ctx := t.Context()
	o := newOutbox(&MemoryStore{}, NewMetrics(), zap.NewNop(), nil)
	for i := range 3 {
		o.push(ctx, "r", false, runRequest("r", i, false), time.Now())
	}
	o.persist(ctx)
	tests := []struct {
		ack      uint64
		wantHead uint64
		wantLen  int
	}{
		{ack: 1, wantHead: 2, wantLen: 2},
		{ack: 1, wantHead: 2, wantLen: 2}, // duplicated ack
		{ack: 3, wantHead: 2, wantLen: 2}, // not the head
		{ack: 2, wantHead: 3, wantLen: 1},
		{ack: 2, wantHead: 3, wantLen: 1},
	}
	for i, tc := range tests {
		o.ack(ctx, tc.ack)
		head, ok := o.head()
		if !ok || head.Seq != tc.wantHead || o.depth() != tc.wantLen {
			t.Fatalf("step %d (ack %d): head %d (%v), depth %d; want head %d, depth %d", i, tc.ack, head.Seq, ok, o.depth(), tc.wantHead, tc.wantLen)
		}
	}
}

// cmStoreFixture is a ConfigMapStore on a fake clientset whose requests can fail on demand.
type cmStoreFixture struct {
	fc    fakeClients
	store *ConfigMapStore
	mu    sync.Mutex
	fail  map[string][]error // verb → errors returned by the next requests of that verb
	verbs []string           // every request, "verb name"
}

func newCMStoreFixture(t *testing.T, objs ...runtime.Object) *cmStoreFixture {
	f := &cmStoreFixture{fc: newFakeClients(objs...), fail: map[string][]error{}}
	f.fc.kube.PrependReactor("*", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := ""
		switch a := a.(type) {
		case k8stesting.GetAction:
			name = a.GetName()
		case k8stesting.CreateAction: // also matches updates (same methods)
			name = a.GetObject().(*corev1.ConfigMap).Name
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.verbs = append(f.verbs, a.GetVerb()+" "+name)
		if errs := f.fail[a.GetVerb()]; len(errs) > 0 {
			f.fail[a.GetVerb()] = errs[1:]
			return true, nil, errs[0]
		}
		return false, nil, nil
	})
	f.store = NewConfigMapStore(f.fc.kube, fakeNS, "chaos-agent-outbox")
	return f
}

func (f *cmStoreFixture) failNext(verb string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[verb] = append(f.fail[verb], errs...)
}

func (f *cmStoreFixture) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.verbs
	f.verbs = nil
	return out
}

func recsOf(seqs ...uint64) []Record {
	var out []Record
	for _, s := range seqs {
		out = append(out, Record{Seq: s, RunID: "run", Queued: time.Unix(int64(s), 0).UTC(), Request: json.RawMessage(`{"n":1}`)})
	}
	return out
}

func seqsOf(rs []Record) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

// TestConfigMapStoreFake: the outbox store's requests and its recovery from conflicts,
// deletions and API errors, on a fake clientset.
func TestConfigMapStoreFake(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	conflict := apierrors.NewConflict(gr, "chaos-agent-outbox", errors.New("changed"))
	tests := []struct {
		name string
		// before runs first (with the store's first save of [1 2] done); then the store saves
		// [3 4] into segment 0.
		before       func(t *testing.T, f *cmStoreFixture)
		wantErr      string   // the second save's error
		wantRequests []string // the second save's requests
		wantStored   []uint64 // what a new store loads afterwards
		wantNote     bool     // the key someone else added survives
	}{
		{name: "one update", wantRequests: []string{"update chaos-agent-outbox"}, wantStored: []uint64{3, 4}},
		{name: "conflict: read again, keep the other key", before: func(t *testing.T, f *cmStoreFixture) {
			cm, _ := f.fc.kube.CoreV1().ConfigMaps(fakeNS).Get(t.Context(), "chaos-agent-outbox", metav1.GetOptions{})
			cm.Data["note"] = "kept"
			if _, err := f.fc.kube.CoreV1().ConfigMaps(fakeNS).Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			f.failNext("update", conflict)
			f.requests()
		}, wantRequests: []string{"update chaos-agent-outbox", "get chaos-agent-outbox", "update chaos-agent-outbox"},
			wantStored: []uint64{3, 4}, wantNote: true},
		{name: "deleted behind its back", before: func(t *testing.T, f *cmStoreFixture) {
			if err := f.fc.kube.CoreV1().ConfigMaps(fakeNS).Delete(t.Context(), "chaos-agent-outbox", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			f.requests()
		}, wantRequests: []string{"update chaos-agent-outbox", "get chaos-agent-outbox", "create chaos-agent-outbox"},
			wantStored: []uint64{3, 4}},
		{name: "forbidden", before: func(t *testing.T, f *cmStoreFixture) {
			f.failNext("update", apierrors.NewForbidden(gr, "chaos-agent-outbox", errors.New("no")))
		}, wantErr: "chaos-agent-outbox-1 … -7", wantRequests: []string{"update chaos-agent-outbox"}, wantStored: []uint64{1, 2}},
		{name: "server error", before: func(t *testing.T, f *cmStoreFixture) {
			f.failNext("update", apierrors.NewInternalError(errors.New("etcd timeout")))
		}, wantErr: "etcd timeout", wantRequests: []string{"update chaos-agent-outbox"}, wantStored: []uint64{1, 2}},
		{name: "conflict then read error", before: func(t *testing.T, f *cmStoreFixture) {
			f.failNext("update", conflict)
			f.failNext("get", apierrors.NewServiceUnavailable("apiserver restarting"))
		}, wantErr: "apiserver restarting", wantRequests: []string{"update chaos-agent-outbox", "get chaos-agent-outbox"}, wantStored: []uint64{1, 2}},
		{name: "conflict twice", before: func(t *testing.T, f *cmStoreFixture) {
			f.failNext("update", conflict, conflict)
		}, wantErr: "write outbox ConfigMap", wantRequests: []string{"update chaos-agent-outbox", "get chaos-agent-outbox", "update chaos-agent-outbox"},
			wantStored: []uint64{1, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			f := newCMStoreFixture(t)
			if err := f.store.Save(ctx, 0, recsOf(1, 2)); err != nil {
				t.Fatal(err)
			}
			if got := f.requests(); !slices.Equal(got, []string{"get chaos-agent-outbox", "create chaos-agent-outbox"}) {
				t.Errorf("first save: requests %v", got)
			}
			if tc.before != nil {
				tc.before(t, f)
			}
			err := f.store.Save(ctx, 0, recsOf(3, 4))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("save: %v, want error containing %q", err, tc.wantErr)
			}
			if got := f.requests(); !slices.Equal(got, tc.wantRequests) {
				t.Errorf("save: requests %v, want %v", got, tc.wantRequests)
			}
			got, err := NewConfigMapStore(f.fc.kube, fakeNS, "chaos-agent-outbox").Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqsOf(got), tc.wantStored) {
				t.Errorf("stored %v, want %v", seqsOf(got), tc.wantStored)
			}
			cm, err := f.fc.kube.CoreV1().ConfigMaps(fakeNS).Get(ctx, "chaos-agent-outbox", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if (cm.Data["note"] == "kept") != tc.wantNote {
				t.Errorf("other key: %q", cm.Data["note"])
			}
			// Whatever happened, the next save succeeds, the next save succeeds (reading the ConfigMap again).
			if err := f.store.Save(ctx, 0, recsOf(5)); err != nil {
				t.Fatalf("the save after that: %v", err)
			}
			got, _ = NewConfigMapStore(f.fc.kube, fakeNS, "chaos-agent-outbox").Load(ctx)
			if !slices.Equal(seqsOf(got), []uint64{5}) {
				t.Errorf("stored %v after recovery, want [5]", seqsOf(got))
			}
		})
	}
}

// TestConfigMapStoreLoad: loading finds the segments in sequence order, skips missing ones, and
// fails (the agent does not start with a queue it cannot read) on a corrupt segment or an API
// error.
func TestConfigMapStoreLoad(t *testing.T) {
	cm := func(name, data string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fakeNS}, Data: map[string]string{outboxKey: data}}
	}
	enc := func(seqs ...uint64) string {
		b, _ := json.Marshal(recsOf(seqs...))
		return string(b)
	}
	tests := []struct {
		name    string
		objs    []runtime.Object
		getErr  error
		want    []uint64
		wantSeg []int
		wantErr string
	}{
		{name: "nothing stored"},
		{name: "segments", objs: []runtime.Object{cm("chaos-agent-outbox", enc(1, 4)), cm("chaos-agent-outbox-5", enc(2, 3)), cm("chaos-agent-outbox-7", "")},
			want: []uint64{1, 2, 3, 4}, wantSeg: []int{0, 5, 5, 0}},
		{name: "corrupt", objs: []runtime.Object{cm("chaos-agent-outbox-2", `[{"seq":`)}, wantErr: "chaos-agent-outbox-2 is corrupt"},
		{name: "forbidden", getErr: apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "chaos-agent-outbox", errors.New("no")),
			wantErr: "must allow get/update"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newCMStoreFixture(t, tc.objs...)
			if tc.getErr != nil {
				f.failNext("get", tc.getErr)
			}
			got, err := f.store.Load(t.Context())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("load: %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqsOf(got), tc.want) {
				t.Errorf("loaded %v, want %v", seqsOf(got), tc.want)
			}
			var segs []int
			for _, r := range got {
				segs = append(segs, r.segment)
			}
			if !slices.Equal(segs, tc.wantSeg) {
				t.Errorf("segments %v, want %v", segs, tc.wantSeg)
			}
			if n := len(f.requests()); n != outboxSegments {
				t.Errorf("%d requests, want one get per segment (%d)", n, outboxSegments)
			}
			// A save after loading writes over what was read: one update.
			if len(got) > 0 {
				if err := f.store.Save(t.Context(), 0, recsOf(9)); err != nil {
					t.Fatal(err)
				}
				if r := f.requests(); !slices.Equal(r, []string{"update chaos-agent-outbox"}) {
					t.Errorf("save after load: requests %v", r)
				}
			}
		})
	}
}
