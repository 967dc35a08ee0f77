package executor_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/executor/faults"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// The fast executor tests run the real Executor (informers, work queue, runs, pod-delete,
// results, events) on fake clientsets inside a synctest bubble: chaos durations pass on the
// fake clock in microseconds, and a reactor plays the ReplicaSet controller, replacing every
// deleted pod with a Ready one.

const fastNS = "app"

// fakeCluster is the fake API server of one test.
type fakeCluster struct {
	kube *kubefake.Clientset
	dyn  *dynamicfake.FakeDynamicClient

	replaced atomic.Int32 // pods the "ReplicaSet controller" created

	mu       sync.Mutex
	failures map[string][]error // "verb resource" → errors for the next such requests
	calls    map[string]int     // "verb resource" → requests seen
}

func readyPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fastNS, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-rs", UID: "uid-web-rs", Controller: ptr.To(true)}}},
		Spec:   corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "web", Image: "web"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func newFakeCluster(t *testing.T, pods int) *fakeCluster {
	objs := []runtime.Object{
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-rs", Namespace: fastNS, UID: "uid-web-rs", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "uid-web", Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(pods))}},
	}
	for i := range pods {
		objs = append(objs, readyPod(fmt.Sprintf("web-%d", i)))
	}
	fc := &fakeCluster{kube: kubefake.NewClientset(objs...), failures: map[string][]error{}, calls: map[string]int{}}
	scheme := runtime.NewScheme()
	fc.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{
		litmus.ChaosEngineGVR():     "ChaosEngineList",
		litmus.ChaosResultGVR():     "ChaosResultList",
		litmus.ChaosExperimentGVR(): "ChaosExperimentList",
	})
	inject := func(a k8stesting.Action) (bool, runtime.Object, error) {
		key := a.GetVerb() + " " + a.GetResource().Resource
		fc.mu.Lock()
		defer fc.mu.Unlock()
		fc.calls[key]++
		if errs := fc.failures[key]; len(errs) > 0 {
			fc.failures[key] = errs[1:]
			return true, nil, errs[0]
		}
		return false, nil, nil
	}
	// The ReplicaSet controller: a deleted pod is replaced by a new Ready one.
	fc.kube.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		n := fc.replaced.Add(1)
		p := readyPod(fmt.Sprintf("web-r%d", n))
		if err := fc.kube.Tracker().Create(corev1.SchemeGroupVersion.WithResource("pods"), p, fastNS); err != nil {
			t.Errorf("replacement pod: %v", err)
		}
		return false, nil, nil
	})
	// Injected failures come first (reactors run most recently prepended first).
	fc.kube.PrependReactor("*", "*", inject)
	fc.dyn.PrependReactor("*", "*", inject)
	return fc
}

// failNext makes the next requests "verb resource" fail with errs, in order.
func (fc *fakeCluster) failNext(key string, errs ...error) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.failures[key] = append(fc.failures[key], errs...)
}

func (fc *fakeCluster) create(t *testing.T, gvr schema.GroupVersionResource, obj any) {
	t.Helper()
	u, err := litmus.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fc.dyn.Resource(gvr).Namespace(fastNS).Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (fc *fakeCluster) engine(t *testing.T, name string) *litmus.ChaosEngine {
	t.Helper()
	u, err := fc.dyn.Resource(litmus.ChaosEngineGVR()).Namespace(fastNS).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var e litmus.ChaosEngine
	if err := litmus.FromUnstructured(u, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

func (fc *fakeCluster) result(t *testing.T, engine string) (*litmus.ChaosResult, bool) {
	t.Helper()
	u, err := fc.dyn.Resource(litmus.ChaosResultGVR()).Namespace(fastNS).Get(t.Context(), litmus.ResultName(engine, "pod-delete", ""), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var r litmus.ChaosResult
	if err := litmus.FromUnstructured(u, &r); err != nil {
		t.Fatal(err)
	}
	return &r, true
}

func (fc *fakeCluster) eventReasons(t *testing.T) map[string]int {
	t.Helper()
	evs, err := fc.kube.CoreV1().Events(fastNS).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range evs.Items {
		out[e.Reason]++
	}
	return out
}

func (fc *fakeCluster) eventMessages(t *testing.T) string {
	t.Helper()
	evs, err := fc.kube.CoreV1().Events(fastNS).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range evs.Items {
		fmt.Fprintf(&b, "%s: %s\n", e.Reason, e.Message)
	}
	return b.String()
}

// fakeClients hands out the fake clients for every service account.
type fakeClients struct{ fc *fakeCluster }

func (f fakeClients) For(string, string) (kube.Clients, error) {
	return kube.Clients{Kube: f.fc.kube, Dynamic: f.fc.dyn}, nil
}

func fastExperiment(fault string) *litmus.ChaosExperiment {
	return &litmus.ChaosExperiment{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-delete", Namespace: fastNS, Labels: map[string]string{"name": fault}},
		Spec: litmus.ChaosExperimentSpec{Definition: litmus.ExperimentDefinition{
			Image: "litmuschaos/go-runner:latest", Args: []string{"-c", "./experiments -name " + fault},
			Env: []corev1.EnvVar{{Name: "TOTAL_CHAOS_DURATION", Value: "30"}, {Name: "CHAOS_INTERVAL", Value: "10"}, {Name: "FORCE", Value: "true"}},
		}},
	}
}

func fastEngine(name string, env ...string) *litmus.ChaosEngine {
	var vars []corev1.EnvVar
	for i := 0; i+1 < len(env); i += 2 {
		vars = append(vars, corev1.EnvVar{Name: env[i], Value: env[i+1]})
	}
	return &litmus.ChaosEngine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: fastNS, UID: types.UID("uid-" + name)},
		Spec: litmus.ChaosEngineSpec{
			AppInfo:     litmus.AppInfo{AppNS: fastNS, AppKind: "deployment", AppLabel: "app=web"},
			EngineState: litmus.EngineStateActive, ChaosServiceAccount: "chaos",
			Experiments: []litmus.EngineExperiment{{Name: "pod-delete", Spec: litmus.EngineExperimentSpec{
				Components: litmus.ExperimentComponents{Env: vars},
			}}},
		},
	}
}

// startExecutor runs an executor on the fake cluster until the returned stop is called.
func startExecutor(t *testing.T, fc *fakeCluster, probes executor.ProbeRunner) (stop func(), m *executor.Metrics) {
	t.Helper()
	m = executor.NewMetrics()
	registry, err := faults.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	ex, err := executor.New(executor.Options{
		Namespace: fastNS, Kube: fc.kube, Dynamic: fc.dyn, Clients: fakeClients{fc}, Probes: probes, Faults: registry,
		Log: zaptest.NewLogger(t), Metrics: m, Identity: "agent-0",
		NewRand: func() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ex.Run(ctx) }()
	for deadline := time.Now().Add(time.Minute); !ex.Ready(); {
		if time.Now().After(deadline) {
			t.Fatal("executor caches never synced")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("executor: %v", err)
		}
	}, m
}

// waitFor advances the fake clock until cond holds (at most an hour of fake time).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Hour); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within an hour", what)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
	}
}

func engineDone(t *testing.T, fc *fakeCluster, name string) func() bool {
	return func() bool {
		s := fc.engine(t, name).Status.EngineStatus
		return s == litmus.EngineStatusCompleted || s == litmus.EngineStatusStopped
	}
}

// TestExecutorRuns: engines run to a verdict on the fake cluster, whatever the API server's
// conflicts and errors, and bad input ends in an Error verdict with a reason, never a wedge.
func TestExecutorRuns(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: litmus.GroupVersion().Group, Resource: "chaosengines"}, "e", errors.New("changed"))
	tests := []struct {
		name          string
		fault         string   // the ChaosExperiment's fault ("" = no ChaosExperiment)
		env           []string // engine env
		appNS         string
		pods          int
		setup         func(fc *fakeCluster)
		wantVerdict   litmus.Verdict
		wantReason    string // in the result's failure reason
		wantStatus    litmus.EngineStatus
		wantDeleted   int // pods deleted at least
		wantEvents    []string
		checkRequests func(t *testing.T, fc *fakeCluster)
	}{
		{name: "pass", fault: "pod-delete", pods: 3, wantVerdict: litmus.VerdictPass, wantStatus: litmus.EngineStatusCompleted,
			wantDeleted: 3, wantEvents: []string{"ChaosEngineInitialized", "ChaosInject", "PreChaosCheck", "PostChaosCheck", "Pass", "Summary", "ChaosEngineCompleted"}},
		{name: "engine update conflicts", fault: "pod-delete", pods: 2, wantVerdict: litmus.VerdictPass, wantStatus: litmus.EngineStatusCompleted,
			setup: func(fc *fakeCluster) { fc.failNext("update chaosengines", conflict, conflict, conflict, conflict) },
			checkRequests: func(t *testing.T, fc *fakeCluster) {
				fc.mu.Lock()
				defer fc.mu.Unlock()
				if n := len(fc.failures["update chaosengines"]); n > 0 {
					t.Errorf("%d injected conflicts never reached", n)
				}
			}},
		{name: "pod delete fails", fault: "pod-delete", pods: 2, wantVerdict: litmus.VerdictError, wantStatus: litmus.EngineStatusCompleted,
			wantReason: "failed to delete the target pod: apiserver restarting",
			setup: func(fc *fakeCluster) {
				fc.failNext("delete pods", apierrors.NewServiceUnavailable("apiserver restarting"))
			}},
		{name: "no ChaosExperiment", pods: 1, wantVerdict: litmus.VerdictError, wantReason: "not found", wantStatus: litmus.EngineStatusCompleted,
			wantEvents: []string{"ExperimentNotFound"}},
		{name: "fault not implemented", fault: "node-drain", pods: 1, wantVerdict: litmus.VerdictError, wantReason: "not implemented", wantStatus: litmus.EngineStatusCompleted},
		{name: "target outside the namespace", fault: "pod-delete", appNS: "kube-system", pods: 1, wantVerdict: litmus.VerdictError,
			wantReason: "outside this chaos-agent's scope", wantStatus: litmus.EngineStatusCompleted},
		{name: "no target pods", fault: "pod-delete", pods: 0, wantVerdict: litmus.VerdictError, wantStatus: litmus.EngineStatusCompleted},
		{name: "bad env", fault: "pod-delete", pods: 1, env: []string{"TOTAL_CHAOS_DURATION", "soon"}, wantVerdict: litmus.VerdictError,
			wantReason: "TOTAL_CHAOS_DURATION", wantStatus: litmus.EngineStatusCompleted, wantEvents: []string{"EnvParseError"}},
		{name: "probes without a probe runner", fault: "pod-delete", pods: 1, wantVerdict: litmus.VerdictError, wantReason: "without probe support",
			wantStatus: litmus.EngineStatusCompleted, setup: func(*fakeCluster) {}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := newFakeCluster(t, tc.pods)
				if tc.fault != "" {
					fc.create(t, litmus.ChaosExperimentGVR(), fastExperiment(tc.fault))
				}
				en := fastEngine("e1", tc.env...)
				if tc.appNS != "" {
					en.Spec.AppInfo.AppNS = tc.appNS
				}
				if tc.name == "probes without a probe runner" {
					en.Spec.Experiments[0].Spec.Probe = []litmus.Probe{{Name: "p", Type: "httpProbe", Mode: "SOT"}}
				}
				if tc.setup != nil {
					tc.setup(fc)
				}
				stop, m := startExecutor(t, fc, nil)
				defer stop()
				fc.create(t, litmus.ChaosEngineGVR(), en)
				waitFor(t, "engine finished", engineDone(t, fc, "e1"))

				got := fc.engine(t, "e1")
				if got.Status.EngineStatus != tc.wantStatus || got.Spec.EngineState != litmus.EngineStateStop {
					t.Errorf("engine status %q state %q, want %q and stop", got.Status.EngineStatus, got.Spec.EngineState, tc.wantStatus)
				}
				if len(got.Status.Experiments) != 1 || got.Status.Experiments[0].Verdict != tc.wantVerdict {
					t.Errorf("engine experiments %+v, want verdict %s", got.Status.Experiments, tc.wantVerdict)
				}
				res, ok := fc.result(t, "e1")
				if !ok {
					t.Fatal("no ChaosResult")
				}
				st := res.Status.ExperimentStatus
				wantPhase := litmus.ResultPhaseCompleted
				if tc.wantVerdict == litmus.VerdictError {
					wantPhase = litmus.ResultPhaseError
				}
				if st.Verdict != tc.wantVerdict || st.Phase != wantPhase {
					t.Errorf("result verdict %q phase %q, want %q %q (%+v)", st.Verdict, st.Phase, tc.wantVerdict, wantPhase, st.ErrorOutput)
				}
				if tc.wantReason != "" && (st.ErrorOutput == nil || !strings.Contains(st.ErrorOutput.Reason, tc.wantReason)) {
					t.Errorf("result error %+v, want a reason containing %q", st.ErrorOutput, tc.wantReason)
				}
				if d := int(fc.replaced.Load()); d < tc.wantDeleted {
					t.Errorf("%d pods deleted, want at least %d", d, tc.wantDeleted)
				}
				reg := prometheus.NewRegistry()
				if err := m.Register(reg); err != nil {
					t.Fatal(err)
				}
				if n, err := testutil.GatherAndCount(reg, "chaos_agent_experiment_runs_total"); err != nil || n != 1 {
					t.Errorf("%d run series (%v), want 1", n, err)
				}
				if n, _ := testutil.GatherAndCount(reg, "chaos_agent_pods_deleted_total"); (n > 0) != (fc.replaced.Load() > 0) {
					t.Errorf("%d pods-deleted series with %d pods deleted", n, fc.replaced.Load())
				}
				reasons := fc.eventReasons(t)
				for _, r := range tc.wantEvents {
					if reasons[r] == 0 {
						t.Errorf("no %s event (events %v)", r, reasons)
					}
				}
				if tc.checkRequests != nil {
					tc.checkRequests(t, fc)
				}
			})
		})
	}
}

// TestExecutorAborts: a run stopped by engineState=stop, by the engine's deletion or by the
// agent's shutdown ends at once with a Stopped result; an engine a previous agent left
// initialized is closed, not resumed.
func TestExecutorAborts(t *testing.T) {
	tests := []struct {
		name        string
		abort       func(t *testing.T, fc *fakeCluster, stopExecutor func())
		stale       bool
		wantStatus  litmus.EngineStatus // "" = the engine is gone
		wantReason  string
		wantDeleted int32 // at most
	}{
		{name: "engineState stop", abort: func(t *testing.T, fc *fakeCluster, _ func()) {
			en := fc.engine(t, "e1")
			en.Spec.EngineState = litmus.EngineStateStop
			u, _ := litmus.ToUnstructured(en)
			if _, err := fc.dyn.Resource(litmus.ChaosEngineGVR()).Namespace(fastNS).Update(t.Context(), u, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, wantStatus: litmus.EngineStatusStopped, wantReason: "engineState was set to stop"},
		{name: "engine deleted", abort: func(t *testing.T, fc *fakeCluster, _ func()) {
			if err := fc.dyn.Resource(litmus.ChaosEngineGVR()).Namespace(fastNS).Delete(t.Context(), "e1", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}, wantReason: "the ChaosEngine was deleted"},
		{name: "shutdown", abort: func(_ *testing.T, _ *fakeCluster, stopExecutor func()) { stopExecutor() },
			wantStatus: litmus.EngineStatusStopped, wantReason: "shutting down"},
		{name: "left initialized by a previous agent", stale: true, wantStatus: litmus.EngineStatusStopped, wantReason: "was not resumed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := newFakeCluster(t, 3)
				fc.create(t, litmus.ChaosExperimentGVR(), fastExperiment("pod-delete"))
				en := fastEngine("e1", "TOTAL_CHAOS_DURATION", "600")
				if tc.stale {
					en.Status.EngineStatus = litmus.EngineStatusInitialized
					en.Status.Experiments = []litmus.EngineExperimentStatus{{Name: "pod-delete", Status: litmus.ExperimentRunStatusRunning, Verdict: litmus.VerdictAwaited}}
					fc.create(t, litmus.ChaosResultGVR(), &litmus.ChaosResult{
						ObjectMeta: metav1.ObjectMeta{Name: litmus.ResultName("e1", "pod-delete", ""), Namespace: fastNS},
						Status: litmus.ChaosResultStatus{ExperimentStatus: litmus.ResultExperimentStatus{
							Phase: litmus.ResultPhaseRunning, Verdict: litmus.VerdictAwaited}},
					})
				}
				fc.create(t, litmus.ChaosEngineGVR(), en)
				stop, _ := startExecutor(t, fc, nil)
				var once sync.Once
				stopOnce := func() { once.Do(stop) }
				defer stopOnce()
				if !tc.stale {
					// Let the run get going: a first iteration of deletions.
					waitFor(t, "first deletion", func() bool { return fc.replaced.Load() > 0 })
					tc.abort(t, fc, stopOnce)
				}
				waitFor(t, "stopped result", func() bool {
					r, ok := fc.result(t, "e1")
					return ok && r.Status.ExperimentStatus.Verdict == litmus.VerdictStopped
				})
				res, _ := fc.result(t, "e1")
				st := res.Status.ExperimentStatus
				if st.Phase != litmus.ResultPhaseStopped && st.Phase != litmus.ResultPhaseCompleted {
					t.Errorf("result phase %q", st.Phase)
				}
				stopOnce()
				if msgs := fc.eventMessages(t); !strings.Contains(msgs, tc.wantReason) {
					t.Errorf("no event gives the reason %q; events:\n%s", tc.wantReason, msgs)
				}
				if tc.wantStatus == "" {
					return
				}
				got := fc.engine(t, "e1")
				if got.Status.EngineStatus != tc.wantStatus || got.Spec.EngineState != litmus.EngineStateStop {
					t.Errorf("engine status %q state %q, want %q and stop", got.Status.EngineStatus, got.Spec.EngineState, tc.wantStatus)
				}
				for _, x := range got.Status.Experiments {
					if x.Status != litmus.ExperimentRunStatusForcefullyAborted || x.Verdict != litmus.VerdictStopped {
						t.Errorf("engine experiment %+v, want aborted and Stopped", x)
					}
				}
				if d := fc.replaced.Load(); d > 3 {
					t.Errorf("%d pods deleted: chaos went on after the abort", d)
				}
			})
		})
	}
}

// The probe-run types, named once here (they move to internal/litmus with the Fault interface).
type (
	probeRun     = litmus.ProbeRun
	probeSession = litmus.ProbeSession
	probeResult  = litmus.ProbeResult
)

// fakeProbes is a ProbeRunner whose probes pass, or whose Continuous probe fails with
// stopOnFailure once chaos has run for failAfter.
type fakeProbes struct {
	failAfter time.Duration // 0: every probe passes
	preErr    error         // PreChaos fails with this
	wg        sync.WaitGroup
}

type fakeSession struct {
	p      *fakeProbes
	run    probeRun
	failed atomic.Bool
	stop   chan struct{}
	once   sync.Once
}

func (p *fakeProbes) Start(_ context.Context, run probeRun) (probeSession, error) {
	return &fakeSession{p: p, run: run, stop: make(chan struct{})}, nil
}

func (s *fakeSession) PreChaos(context.Context) error { return s.p.preErr }

func (s *fakeSession) ChaosStarted(context.Context) {
	if s.p.failAfter == 0 {
		return
	}
	s.p.wg.Go(func() {
		select {
		case <-time.After(s.p.failAfter):
			s.failed.Store(true)
			s.run.Stop("http-probe: 503")
		case <-s.stop:
		}
	})
}

func (s *fakeSession) PostChaos(context.Context) error { return nil }

func (s *fakeSession) Result() probeResult {
	st := litmus.ProbeStatus{Name: "http-probe", Type: "httpProbe", Mode: "Continuous", Status: litmus.ProbeStatusDetail{Verdict: litmus.ProbeVerdictPassed}}
	if s.failed.Load() {
		st.Status.Verdict = litmus.ProbeVerdictFailed
		return probeResult{Statuses: []litmus.ProbeStatus{st}, StoppedByProbe: true}
	}
	return probeResult{Statuses: []litmus.ProbeStatus{st}, Passed: 1}
}

func (s *fakeSession) Close(context.Context) { s.once.Do(func() { close(s.stop) }) }

// TestExecutorProbes: probes decide the verdict; a failed stopOnFailure probe ends the chaos at
// once (verdict Stopped) and sets the engine's engineState to stop, as upstream does; a probe
// error before chaos means no chaos at all.
func TestExecutorProbes(t *testing.T) {
	tests := []struct {
		name        string
		probes      *fakeProbes
		wantVerdict litmus.Verdict
		wantPSP     string
		wantState   litmus.EngineState
		maxDeleted  int32
	}{
		{name: "probes pass", probes: &fakeProbes{}, wantVerdict: litmus.VerdictPass, wantPSP: "100", wantState: litmus.EngineStateStop},
		// Upstream's verdict for a run a stopOnFailure probe ended: Stopped.
		{name: "stopOnFailure", probes: &fakeProbes{failAfter: 5 * time.Second}, wantVerdict: litmus.VerdictStopped, wantPSP: "0",
			wantState: litmus.EngineStateStop, maxDeleted: 3},
		{name: "pre-chaos probe fails", probes: &fakeProbes{preErr: litmus.NewError(litmus.ErrorCodeGeneric, "SOT probe failed")},
			wantVerdict: litmus.VerdictError, wantPSP: "0", wantState: litmus.EngineStateStop, maxDeleted: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fc := newFakeCluster(t, 3)
				fc.create(t, litmus.ChaosExperimentGVR(), fastExperiment("pod-delete"))
				en := fastEngine("e1")
				en.Spec.Experiments[0].Spec.Probe = []litmus.Probe{{Name: "http-probe", Type: "httpProbe", Mode: "Continuous"}}
				stop, _ := startExecutor(t, fc, tc.probes)
				fc.create(t, litmus.ChaosEngineGVR(), en)
				waitFor(t, "engine finished", engineDone(t, fc, "e1"))
				stop()
				tc.probes.wg.Wait()
				res, ok := fc.result(t, "e1")
				if !ok {
					t.Fatal("no ChaosResult")
				}
				st := res.Status.ExperimentStatus
				if st.Verdict != tc.wantVerdict || st.ProbeSuccessPercentage != tc.wantPSP {
					t.Errorf("verdict %q probeSuccessPercentage %q, want %q %q (%+v)", st.Verdict, st.ProbeSuccessPercentage, tc.wantVerdict, tc.wantPSP, st.ErrorOutput)
				}
				if got := fc.engine(t, "e1").Spec.EngineState; got != tc.wantState {
					t.Errorf("engineState %q, want %q", got, tc.wantState)
				}
				if tc.maxDeleted > 0 || tc.wantVerdict != litmus.VerdictPass {
					if d := fc.replaced.Load(); d > tc.maxDeleted {
						t.Errorf("%d pods deleted, want at most %d: chaos went on", d, tc.maxDeleted)
					}
				}
			})
		})
	}
}
