package subscriber

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	argofake "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// apiServerStore refuses a segment larger than the API server stores in a ConfigMap (1 MiB), with
// the API server's error.
type apiServerStore struct{ MemoryStore }

func (a *apiServerStore) Save(ctx context.Context, segment int, recs []Record) error {
	b, _ := json.Marshal(recs)
	if len(b) > 1<<20 {
		return apierrors.NewRequestEntityTooLargeError("limit is 1048576")
	}
	return a.MemoryStore.Save(ctx, segment, recs)
}

// runSink is a control plane that accepts every chaosExperimentRun and keeps the run IDs and
// messages it got.
type runSink struct {
	mu   sync.Mutex
	runs []sunkRun
}

type sunkRun struct {
	runID, message string
	completed      bool
}

func (rs *runSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Variables struct {
			Request struct {
				ExperimentRunID string `json:"experimentRunID"`
				ExecutionData   string `json:"executionData"`
				Completed       bool   `json:"completed"`
			} `json:"request"`
		} `json:"variables"`
	}
	_ = json.Unmarshal(body, &req)
	var ev executionData
	if raw, err := base64.StdEncoding.DecodeString(req.Variables.Request.ExecutionData); err == nil {
		_ = json.Unmarshal(raw, &ev)
	}
	rs.mu.Lock()
	rs.runs = append(rs.runs, sunkRun{runID: req.Variables.Request.ExperimentRunID, message: ev.Message, completed: req.Variables.Request.Completed})
	rs.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"data":{"chaosExperimentRun":"ok"}}`))
}

func (rs *runSink) got(runID string) (sunkRun, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.runs {
		if r.runID == runID {
			return r, true
		}
	}
	return sunkRun{}, false
}

func newTestSubscriber(t *testing.T, url string, store Store, clk *clocktesting.FakeClock) *Subscriber {
	t.Helper()
	o := Options{
		ServerAddr: url + "/query", InfraID: "infra", AccessKey: "k", Version: "3.31.0", Namespace: "hce",
		Kube: kubefake.NewClientset(), Dynamic: dynfake.NewSimpleDynamicClient(runtime.NewScheme()),
		Argo: argofake.NewSimpleClientset(), Mapper: meta.NewDefaultRESTMapper(nil), Outbox: store,
		Log: zaptest.NewLogger(t), HTTP: &HTTPOptions{Timeout: 5 * time.Second},
	}
	if clk != nil {
		o.Clock = clk
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runRequest is a stored chaosExperimentRun request whose execution data carries message.
func wedgeRunRequest(t *testing.T, runID, message string, completed bool) json.RawMessage {
	t.Helper()
	data, _ := json.Marshal(executionData{UID: runID, Name: "wf-" + runID, Phase: "Running", Message: message, Nodes: map[string]node{}})
	raw, err := json.Marshal(map[string]any{"experimentID": "exp", "experimentRunID": runID, "experimentName": "wf-" + runID,
		"executionData": base64.StdEncoding.EncodeToString(data), "completed": completed})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestOversizeEventDoesNotWedge: one event too large to store used to sit at the head of the
// outbox for good, every later event of every run behind it, with /healthz green. Now it is
// dropped (error log, metric) with a notice to the control plane, and later events flow.
func TestOversizeEventDoesNotWedge(t *testing.T) {
	sink := &runSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	s := newTestSubscriber(t, srv.URL, &apiServerStore{}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.runFlusher(ctx) })
	wg.Go(func() { _ = s.send(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	huge, next := wedgeRunRequest(t, "huge", strings.Repeat("x", 2<<20), true), wedgeRunRequest(t, "next", "small", true)
	pushed := make(chan struct{})
	wg.Go(func() {
		defer close(pushed)
		s.outbox.push(ctx, "huge", true, huge, time.Now())
		s.outbox.push(ctx, "next", true, next, time.Now()) // used to block here for good (an informer handler)
	})
	select {
	case <-pushed:
	case <-time.After(10 * time.Second):
		t.Fatal("push blocked behind an oversize event: the outbox is wedged")
	}

	deadline := time.Now().Add(15 * time.Second)
	for {
		_, next := sink.got("next")
		if next {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the event after an oversize one was never delivered (outbox depth %d): the outbox is wedged", s.outbox.depth())
		}
		time.Sleep(20 * time.Millisecond)
	}
	notice, ok := sink.got("huge")
	if !ok || !notice.completed || !strings.Contains(notice.message, "dropped a run event") {
		t.Fatalf("no notice for the dropped event: %+v (found %v)", notice, ok)
	}
	if got := testutil.ToFloat64(s.o.Metrics.eventsFailed.WithLabelValues("oversize")); got != 1 {
		t.Errorf("events_failed{kind=oversize} = %v, want 1", got)
	}
}

// failSaves fails every save.
type failSaves struct{ MemoryStore }

func (f *failSaves) Save(context.Context, int, []Record) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "chaos-agent-outbox", fmt.Errorf("no RBAC"))
}

// TestStoreFailureDoesNotBlockDelivery: a store that cannot persist never delays events (they
// are sent while being written); /readyz says why once it has failed for storeGrace.
func TestStoreFailureDoesNotBlockDelivery(t *testing.T) {
	sink := &runSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	clk := clocktesting.NewFakeClock(time.Now())
	s := newTestSubscriber(t, srv.URL, &failSaves{}, clk)
	ctx := t.Context()
	s.outbox.push(ctx, "r", true, wedgeRunRequest(t, "r", "m", true), clk.Now())
	s.outbox.persist(ctx)
	if _, ok := s.outbox.head(); !ok {
		t.Fatal("a failing store blocks delivery")
	}
	if err := s.Ready(); err != nil && strings.Contains(err.Error(), "outbox store") {
		t.Errorf("Ready() = %v after one failed write; want no store complaint yet", err)
	}
	clk.Step(storeGrace)
	s.outbox.persist(ctx)
	if err := s.Ready(); err == nil || !strings.Contains(err.Error(), "outbox store has been failing") {
		t.Errorf("Ready() = %v; want the store failure", err)
	}
	if _, ok := s.outbox.head(); !ok {
		t.Fatal("a failing store blocks delivery after the grace period")
	}
}

// TestLiveDetectsStuckLoops: /healthz fails when a loop is overdue or events are not delivered
// for long while the control plane is connected.
func TestLiveDetectsStuckLoops(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	s := newTestSubscriber(t, "http://127.0.0.1:1", &MemoryStore{}, clk)
	if err := s.Live(); err != nil {
		t.Fatalf("fresh subscriber not live: %v", err)
	}
	s.linkDog.expect(clk.Now(), 30*time.Second)
	clk.Step(30*time.Second + stepGrace - time.Second)
	if err := s.Live(); err != nil {
		t.Fatalf("live within the bound: %v", err)
	}
	clk.Step(2 * time.Second)
	if err := s.Live(); err == nil || !strings.Contains(err.Error(), "link stuck") {
		t.Fatalf("Live() = %v; want the link stuck", err)
	}
	s.linkDog.idle()

	s.outbox.push(t.Context(), "r", true, wedgeRunRequest(t, "r", "m", true), clk.Now())
	clk.Step(outboxStuckAfter + time.Second)
	if err := s.Live(); err != nil {
		t.Fatalf("events waiting while the control plane is away is not being stuck: %v", err)
	}
	s.connected.Store(true)
	if err := s.Live(); err == nil || !strings.Contains(err.Error(), "outbox stuck") {
		t.Fatalf("Live() = %v; want the outbox stuck", err)
	}
}

// TestEventsAreBounded: a Workflow with huge messages and a fault with thousands of victims give
// an event the outbox stores, with markers saying what was cut.
func TestEventsAreBounded(t *testing.T) {
	ev := &executionData{UID: "r", Message: strings.Repeat("m", 1<<20), Nodes: map[string]node{}}
	for i := range 50 {
		res := &litmus.ChaosResult{}
		for j := range 2000 {
			res.Status.Recoveries = append(res.Status.Recoveries, litmus.PodRecovery{Pod: fmt.Sprint("pod-", j)})
		}
		ev.Nodes[fmt.Sprint("node-", i)] = node{Name: fmt.Sprint("step-", i), Message: strings.Repeat("n", 100<<10),
			ChaosData: &chaosData{EngineName: "e", FailStep: strings.Repeat("f", 1<<20), ChaosResult: res}}
	}
	sink := &runSink{}
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	s := newTestSubscriber(t, srv.URL, &MemoryStore{}, nil)
	s.queueEvent(t.Context(), ev, "wf", true)
	s.outbox.mu.Lock()
	defer s.outbox.mu.Unlock()
	if len(s.outbox.recs) != 1 {
		t.Fatalf("%d events queued, want 1", len(s.outbox.recs))
	}
	req := s.outbox.recs[0].Request
	if len(req) > maxEventBytes {
		t.Fatalf("event of %d bytes, above %d", len(req), maxEventBytes)
	}
	var stored struct {
		ExecutionData string `json:"executionData"`
	}
	_ = json.Unmarshal(req, &stored)
	data, _ := base64.StdEncoding.DecodeString(stored.ExecutionData)
	if !strings.Contains(string(data), "truncated") {
		t.Errorf("no truncation marker in the event")
	}
	if len(ev.Message) != 1<<20 {
		t.Errorf("queueEvent changed the event it was given (other events read it)")
	}
	if got := testutil.ToFloat64(s.o.Metrics.eventsFailed.WithLabelValues("oversize")); got != 0 {
		t.Errorf("the event was dropped (oversize %v) rather than bounded", got)
	}
}
