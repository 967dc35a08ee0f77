package poddelete

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/executor/target"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// fakeWorkload is a Deployment-like set of pods whose deleted pods are replaced at once by
// Ready pods, as a ReplicaSet controller and kwok would.
type fakeWorkload struct {
	mu           sync.Mutex
	pods         []*corev1.Pod
	next         int
	perIteration int
	replace      bool
}

func newFakeWorkload(n, perIteration int) *fakeWorkload {
	w := &fakeWorkload{perIteration: perIteration, replace: true}
	for range n {
		w.add()
	}
	return w
}

func (w *fakeWorkload) add() {
	w.next++
	w.pods = append(w.pods, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%03d", w.next), Namespace: "ns", UID: types.UID(fmt.Sprint("uid-", w.next))},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	})
}

func (w *fakeWorkload) remove(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := slices.IndexFunc(w.pods, func(p *corev1.Pod) bool { return p.Name == name })
	if i < 0 {
		return false
	}
	w.pods = slices.Delete(w.pods, i, i+1)
	if w.replace {
		w.add()
	}
	return true
}

func (w *fakeWorkload) Candidates(target.Spec) ([]*corev1.Pod, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.pods), nil
}

func (w *fakeWorkload) Select(target.Spec) ([]*corev1.Pod, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pods) == 0 {
		return nil, &target.SelectionError{Reason: "no target pods found"}
	}
	return slices.Clone(w.pods[:min(w.perIteration, len(w.pods))]), nil
}

func (w *fakeWorkload) Owner(*corev1.Pod) (string, string) { return "deployment", "web" }

func (w *fakeWorkload) WorkloadPods(string, string, string) ([]*corev1.Pod, error) {
	return w.Candidates(target.Spec{})
}

// recorder is an Observer that keeps everything with the fake clock's time.
type recorder struct {
	mu         sync.Mutex
	iterations []int
	deleted    []executor.Victim
	skipped    []executor.Skip
	recovered  []executor.Recovery
}

func (r *recorder) Iteration(n int, _ []*corev1.Pod) {
	r.mu.Lock()
	r.iterations = append(r.iterations, n)
	r.mu.Unlock()
}
func (r *recorder) Injected(v executor.Victim) {
	r.mu.Lock()
	r.deleted = append(r.deleted, v)
	r.mu.Unlock()
}
func (r *recorder) Skipped(s executor.Skip) {
	r.mu.Lock()
	r.skipped = append(r.skipped, s)
	r.mu.Unlock()
}
func (r *recorder) Recovered(rec executor.Recovery) {
	r.mu.Lock()
	r.recovered = append(r.recovered, rec)
	r.mu.Unlock()
}

type harness struct {
	clock  *clocktesting.FakeClock
	start  time.Time
	client *fake.Clientset
	w      *fakeWorkload
	rec    *recorder
	fault  *Fault
}

func newHarness(t *testing.T, w *fakeWorkload, env map[string]string) *harness {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := &harness{clock: clocktesting.NewFakeClock(start), start: start, client: fake.NewClientset(), w: w, rec: &recorder{}}
	h.client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		name := a.(k8stesting.DeleteAction).GetName()
		if slices.Contains(a.(k8stesting.DeleteAction).GetDeleteOptions().DryRun, metav1.DryRunAll) {
			return true, nil, nil
		}
		if !w.remove(name) {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name)
		}
		return true, nil, nil
	})
	f, _, err := executor.NewFault(Kind(), executor.FaultDeps{Client: h.client, Selector: w, Clock: h.clock, Rand: rand.New(rand.NewPCG(1, 1)), Observer: h.rec}, env)
	if err != nil {
		t.Fatal(err)
	}
	h.fault = f.(*Fault)
	return h
}

// run runs Inject, stepping the fake clock whenever every goroutine is blocked, and returns
// Inject's error and the fake time it took. cancelAt (if > 0) cancels the context at that time.
func (h *harness) run(t *testing.T, cancelAt time.Duration) (error, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- h.fault.Inject(ctx) }()
	for {
		synctest.Wait()
		select {
		case err := <-done:
			return err, h.clock.Since(h.start)
		default:
		}
		if cancelAt > 0 && h.clock.Since(h.start) >= cancelAt {
			cancel(errors.New("engineState set to stop"))
			cancelAt = 0
			continue
		}
		if h.clock.Since(h.start) > time.Hour {
			t.Fatal("Inject never returned")
		}
		h.clock.Step(5 * time.Millisecond)
	}
}

func (h *harness) deletionTimes() []time.Duration {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	var out []time.Duration
	for _, v := range h.rec.deleted {
		out = append(out, v.InjectedAt.Sub(h.start))
	}
	return out
}

func TestInjectTiming(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		pods, perIt  int
		wantAt       []time.Duration // deletion times
		wantIters    int
		wantDuration time.Duration
	}{
		{
			name: "parallel 6s every 2s", env: map[string]string{"TOTAL_CHAOS_DURATION": "6", "CHAOS_INTERVAL": "2"},
			pods: 4, perIt: 2, wantIters: 3, wantDuration: 6 * time.Second,
			wantAt: []time.Duration{0, 0, 2 * time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second},
		},
		{
			name: "serial: each deletion starts an interval; none after the deadline", env: map[string]string{"TOTAL_CHAOS_DURATION": "5", "CHAOS_INTERVAL": "2", "SEQUENCE": "serial"},
			pods: 4, perIt: 2, wantIters: 2, wantDuration: 5 * time.Second,
			wantAt: []time.Duration{0, 2 * time.Second, 4 * time.Second},
		},
		{
			name: "interval longer than the duration: one batch", env: map[string]string{"TOTAL_CHAOS_DURATION": "3", "CHAOS_INTERVAL": "10"},
			pods: 2, perIt: 1, wantIters: 1, wantDuration: 3 * time.Second,
			wantAt: []time.Duration{0},
		},
		{
			name: "zero duration deletes nothing", env: map[string]string{"TOTAL_CHAOS_DURATION": "0"},
			pods: 2, perIt: 1, wantIters: 0, wantDuration: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, newFakeWorkload(tc.pods, tc.perIt), tc.env)
				err, took := h.run(t, 0)
				if err != nil {
					t.Fatalf("Inject: %v", err)
				}
				if got := h.deletionTimes(); !slices.Equal(got, tc.wantAt) {
					t.Errorf("deletions at %v, want %v", got, tc.wantAt)
				}
				if len(h.rec.iterations) != tc.wantIters {
					t.Errorf("%d iterations, want %d", len(h.rec.iterations), tc.wantIters)
				}
				// The run ends at the deadline, to the fake clock's step.
				if took < tc.wantDuration || took > tc.wantDuration+10*time.Millisecond {
					t.Errorf("Inject took %s, want %s", took, tc.wantDuration)
				}
				for _, r := range h.fault.Recoveries() {
					if !r.Recovered || r.Replacement == "" || r.Seconds() < 0 || r.Seconds() > 0.05 {
						t.Errorf("recovery %+v: want a replacement within one tracking period", r)
					}
				}
				if len(h.fault.Recoveries()) != len(tc.wantAt) {
					t.Errorf("%d recovery records for %d victims", len(h.fault.Recoveries()), len(tc.wantAt))
				}
			})
		})
	}
}

func TestInjectAbortStopsWithinOneSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, newFakeWorkload(4, 1), map[string]string{"TOTAL_CHAOS_DURATION": "60", "CHAOS_INTERVAL": "5"})
		err, took := h.run(t, 7*time.Second)
		if err == nil || err.Error() != "engineState set to stop" {
			t.Fatalf("Inject returned %v, want the cancellation cause", err)
		}
		if took > 7*time.Second+10*time.Millisecond {
			t.Errorf("stopped at %s, want right after 7s", took)
		}
		if got := h.deletionTimes(); !slices.Equal(got, []time.Duration{0, 5 * time.Second}) {
			t.Errorf("deletions at %v", got)
		}
	})
}

func TestInjectErrors(t *testing.T) {
	t.Run("RBAC denial is a CHAOS_INJECT_ERROR naming it", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, newFakeWorkload(2, 1), map[string]string{"TOTAL_CHAOS_DURATION": "4", "CHAOS_INTERVAL": "1"})
			h.client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "web-001",
					errors.New(`User "system:serviceaccount:ns:chaos" cannot delete resource "pods"`))
			})
			err, _ := h.run(t, 0)
			var le *litmus.Error
			if !errors.As(err, &le) || le.Code != litmus.ErrorCodeChaosInject || le.Phase != litmus.ExperimentPhaseChaosInject {
				t.Fatalf("error %v, want CHAOS_INJECT_ERROR", err)
			}
			if !contains(le.Reason, "RBAC", "cannot delete") || le.Target == "" {
				t.Errorf("reason %q target %q", le.Reason, le.Target)
			}
		})
	})
	t.Run("no targets is a TARGET_SELECTION_ERROR", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, newFakeWorkload(0, 1), map[string]string{"TOTAL_CHAOS_DURATION": "4"})
			err, _ := h.run(t, 0)
			var le *litmus.Error
			if !errors.As(err, &le) || le.Code != litmus.ErrorCodeTargetSelection {
				t.Fatalf("error %v, want TARGET_SELECTION_ERROR", err)
			}
		})
	})
	t.Run("no recovery is a STATUS_CHECKS_ERROR after the timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := newFakeWorkload(1, 1)
			w.replace = false
			h := newHarness(t, w, map[string]string{"TOTAL_CHAOS_DURATION": "10", "CHAOS_INTERVAL": "2", "STATUS_CHECK_TIMEOUT": "6"})
			err, took := h.run(t, 0)
			var le *litmus.Error
			if !errors.As(err, &le) || le.Code != litmus.ErrorCodeStatusChecks {
				t.Fatalf("error %v, want STATUS_CHECKS_ERROR", err)
			}
			if took < 8*time.Second || took > 8*time.Second+10*time.Millisecond {
				t.Errorf("gave up at %s, want interval 2s + timeout 6s", took)
			}
			rec := h.fault.Recoveries()
			if len(rec) != 1 || rec[0].Recovered || rec[0].Reason == "" {
				t.Errorf("recoveries %+v: want one unrecovered victim with a reason", rec)
			}
		})
	})
}

func TestInjectDryRunDeletesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWorkload(3, 2)
		h := newHarness(t, w, map[string]string{"TOTAL_CHAOS_DURATION": "4", "CHAOS_INTERVAL": "2", "DRY_RUN": "true"})
		if err, _ := h.run(t, 0); err != nil {
			t.Fatal(err)
		}
		if len(w.pods) != 3 || w.next != 3 {
			t.Errorf("pods changed in dry-run mode: %d pods, %d created", len(w.pods), w.next)
		}
		if len(h.rec.deleted) != 4 {
			t.Errorf("%d victims reported, want 2 per iteration x 2", len(h.rec.deleted))
		}
		for _, v := range h.rec.deleted {
			if !v.DryRun {
				t.Errorf("victim %s not marked dry-run", v.Name)
			}
		}
		for _, a := range h.client.Actions() {
			if d, ok := a.(k8stesting.DeleteAction); ok && !slices.Contains(d.GetDeleteOptions().DryRun, metav1.DryRunAll) {
				t.Errorf("a delete without dryRun=All: %v", a)
			}
		}
	})
}

func TestInjectPDBAwareSkips(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWorkload(2, 1)
		h := newHarness(t, w, map[string]string{"TOTAL_CHAOS_DURATION": "3", "CHAOS_INTERVAL": "1", "PDB_AWARE": "true"})
		h.client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetSubresource() != "eviction" {
				return false, nil, nil
			}
			return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		})
		if err, _ := h.run(t, 0); err != nil {
			t.Fatal(err)
		}
		if len(h.rec.deleted) != 0 || len(w.pods) != 2 {
			t.Errorf("deleted %d pods despite the budget", len(h.rec.deleted))
		}
		if len(h.rec.skipped) != 3 || !contains(h.rec.skipped[0].Reason, "PodDisruptionBudget", "disruption budget") {
			t.Errorf("skipped %+v: want 3 skips naming the budget", h.rec.skipped)
		}
	})
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
