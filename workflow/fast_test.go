package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argofake "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"go.uber.org/zap/zaptest"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// The fast engine tests run the native engine on Argo's and the dynamic fake clientsets inside a
// synctest bubble; a fake executor completes the ChaosEngines the fault steps create.

const wfNS = "hce"

type fakeWorld struct {
	argo *argofake.Clientset
	dyn  *dynamicfake.FakeDynamicClient

	mu       sync.Mutex
	failures map[string][]error // "verb resource" → errors for the next such requests
	names    atomic.Int64
}

func newFakeWorld() *fakeWorld {
	w := &fakeWorld{argo: argofake.NewSimpleClientset(), failures: map[string][]error{}}
	w.dyn = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		litmus.ChaosEngineGVR():     "ChaosEngineList",
		litmus.ChaosExperimentGVR(): "ChaosExperimentList",
	})
	// The fake tracker implements neither generateName nor delete-collection.
	w.dyn.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if u, ok := a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured); ok && u.GetName() == "" {
			u.SetName(fmt.Sprintf("%s%d", u.GetGenerateName(), w.names.Add(1)))
		}
		return false, nil, nil
	})
	w.dyn.PrependReactor("delete-collection", "chaosengines", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sel, err := labels.Parse(a.(k8stesting.DeleteCollectionAction).GetListRestrictions().Labels.String())
		if err != nil {
			return true, nil, err
		}
		gvr := litmus.ChaosEngineGVR()
		list, err := w.dyn.Tracker().List(gvr, gvr.GroupVersion().WithKind("ChaosEngine"), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		items, _ := list.(*unstructured.UnstructuredList)
		for _, it := range items.Items {
			if sel.Matches(labels.Set(it.GetLabels())) {
				if err := w.dyn.Tracker().Delete(gvr, a.GetNamespace(), it.GetName()); err != nil {
					return true, nil, err
				}
			}
		}
		return true, nil, nil
	})
	inject := func(a k8stesting.Action) (bool, runtime.Object, error) {
		key := a.GetVerb() + " " + a.GetResource().Resource
		w.mu.Lock()
		defer w.mu.Unlock()
		if errs := w.failures[key]; len(errs) > 0 {
			w.failures[key] = errs[1:]
			return true, nil, errs[0]
		}
		return false, nil, nil
	}
	w.dyn.PrependReactor("*", "*", inject)
	w.argo.PrependReactor("*", "*", inject)
	return w
}

func (w *fakeWorld) failNext(key string, errs ...error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures[key] = append(w.failures[key], errs...)
}

func (w *fakeWorld) pending(key string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.failures[key])
}

// engines lists the ChaosEngines of the namespace.
func (w *fakeWorld) engines(t *testing.T) []litmus.ChaosEngine {
	t.Helper()
	list, err := w.dyn.Resource(litmus.ChaosEngineGVR()).Namespace(wfNS).List(context.WithoutCancel(t.Context()), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []litmus.ChaosEngine
	for i := range list.Items {
		var en litmus.ChaosEngine
		if err := litmus.FromUnstructured(&list.Items[i], &en); err != nil {
			t.Fatal(err)
		}
		out = append(out, en)
	}
	return out
}

// executor completes every ChaosEngine `after` it first sees it (Stopped when its engineState
// was set to stop), as the agent's executor would, until ctx ends. Engines named with the
// prefix "stuck-" are never answered.
func (w *fakeWorld) executor(ctx context.Context, t *testing.T, after time.Duration) {
	seen := map[string]time.Time{}
	api := w.dyn.Resource(litmus.ChaosEngineGVR()).Namespace(wfNS)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, en := range w.engines(t) {
			if strings.HasPrefix(en.Name, "stuck-") || en.Status.EngineStatus != "" {
				continue
			}
			first, ok := seen[en.Name]
			if !ok {
				seen[en.Name] = time.Now()
				continue
			}
			status, verdict := litmus.EngineStatusCompleted, litmus.VerdictPass
			if en.Spec.EngineState == litmus.EngineStateStop {
				status, verdict = litmus.EngineStatusStopped, litmus.VerdictStopped
			} else if time.Since(first) < after {
				continue
			}
			en.Status.EngineStatus = status
			en.Status.Experiments = []litmus.EngineExperimentStatus{{Name: "pod-delete", Verdict: verdict}}
			u, _ := litmus.ToUnstructured(&en)
			_, _ = api.Update(context.WithoutCancel(ctx), u, metav1.UpdateOptions{})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (w *fakeWorld) createWorkflow(t *testing.T, name string, wf *wfv1.Workflow) {
	t.Helper()
	wf.Name, wf.GenerateName, wf.UID = name, "", "uid-run-1" // the fake clientset gives no UID
	if _, err := w.argo.ArgoprojV1alpha1().Workflows(wfNS).Create(t.Context(), wf, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (w *fakeWorld) workflow(t *testing.T, name string) *wfv1.Workflow {
	t.Helper()
	wf, err := w.argo.ArgoprojV1alpha1().Workflows(wfNS).Get(context.WithoutCancel(t.Context()), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return wf
}

// stepPhases maps each step's display name to its node phase.
func stepPhases(wf *wfv1.Workflow) map[string]wfv1.NodePhase {
	out := map[string]wfv1.NodePhase{}
	for _, n := range wf.Status.Nodes {
		if n.Type == wfv1.NodeTypePod {
			out[n.DisplayName] = n.Phase
		}
	}
	return out
}

var (
	tmplInstall = container("install", map[string]string{"exp": expArtifact}, "kubectl apply -f /tmp")
	tmplCleanup = container("cleanup", nil, "kubectl delete chaosengine -l workflow_run_id={{workflow.uid}} -n {{workflow.parameters.adminModeNamespace}}")
)

func tmplFault(name, prefix string) wfv1.Template {
	return container(name, map[string]string{"e": engineArtifact(prefix, "deployment")}, "-file=/tmp/e.yaml")
}

// TestEngineFast: step groups in order, the steps of a group in parallel, failures skipping
// later steps but not cleanup, API conflicts and errors, and stops — on fake clientsets.
func TestEngineFast(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "argoproj.io", Resource: "workflows"}, "wf", errors.New("changed"))
	tests := []struct {
		name        string
		groups      [][]string
		templates   []wfv1.Template
		setup       func(w *fakeWorld)
		during      func(t *testing.T, w *fakeWorld) // once the first engine exists
		cancelAfter time.Duration                    // Run's ctx ends after this long
		phase       wfv1.WorkflowPhase
		message     string // in the Workflow's message
		nodes       map[string]wfv1.NodePhase
		maxDuration time.Duration // of the whole run, on the fake clock
		engines     int           // ChaosEngines left after the run
		onFault     int
	}{
		{
			name:      "ordered groups, parallel faults",
			groups:    [][]string{{"install"}, {"fault-a", "fault-b"}, {"cleanup"}},
			templates: []wfv1.Template{tmplInstall, tmplFault("fault-a", "a-"), tmplFault("fault-b", "b-"), tmplCleanup},
			phase:     wfv1.WorkflowSucceeded,
			nodes:     map[string]wfv1.NodePhase{"install": wfv1.NodeSucceeded, "fault-a": wfv1.NodeSucceeded, "fault-b": wfv1.NodeSucceeded, "cleanup": wfv1.NodeSucceeded},
			// Both faults take 10 s and run together.
			maxDuration: 13 * time.Second, onFault: 2,
		},
		{
			name:      "sequential faults, no cleanup",
			groups:    [][]string{{"fault-a"}, {"fault-b"}},
			templates: []wfv1.Template{tmplFault("fault-a", "a-"), tmplFault("fault-b", "b-")},
			phase:     wfv1.WorkflowSucceeded, nodes: map[string]wfv1.NodePhase{"fault-a": wfv1.NodeSucceeded, "fault-b": wfv1.NodeSucceeded},
			maxDuration: 25 * time.Second, engines: 2, onFault: 2,
		},
		{
			name:      "status update conflicts",
			groups:    [][]string{{"install"}, {"fault-a"}, {"cleanup"}},
			templates: []wfv1.Template{tmplInstall, tmplFault("fault-a", "a-"), tmplCleanup},
			setup:     func(w *fakeWorld) { w.failNext("update workflows", conflict, conflict, conflict) },
			phase:     wfv1.WorkflowSucceeded,
			nodes:     map[string]wfv1.NodePhase{"install": wfv1.NodeSucceeded, "fault-a": wfv1.NodeSucceeded, "cleanup": wfv1.NodeSucceeded},
			onFault:   1,
		},
		{
			name:      "engine cannot be created: later steps skipped, cleanup runs",
			groups:    [][]string{{"fault-a"}, {"fault-b"}, {"cleanup"}},
			templates: []wfv1.Template{tmplFault("fault-a", "a-"), tmplFault("fault-b", "b-"), tmplCleanup},
			setup: func(w *fakeWorld) {
				w.failNext("create chaosengines", apierrors.NewInvalid(schema.GroupKind{Kind: "ChaosEngine"}, "a-", nil))
			},
			phase: wfv1.WorkflowFailed, message: "create ChaosEngine",
			nodes: map[string]wfv1.NodePhase{"fault-a": wfv1.NodeFailed, "fault-b": wfv1.NodeSkipped, "cleanup": wfv1.NodeSucceeded},
		},
		{
			name:      "install fails",
			groups:    [][]string{{"install"}, {"fault-a"}},
			templates: []wfv1.Template{tmplInstall, tmplFault("fault-a", "a-")},
			setup: func(w *fakeWorld) {
				w.failNext("create chaosexperiments", apierrors.NewForbidden(schema.GroupResource{Resource: "chaosexperiments"}, "pod-delete", errors.New("RBAC")))
			},
			phase: wfv1.WorkflowFailed, message: "create ChaosExperiment pod-delete",
			nodes: map[string]wfv1.NodePhase{"install": wfv1.NodeFailed, "fault-a": wfv1.NodeSkipped},
		},
		{
			name:      "install over an existing ChaosExperiment",
			groups:    [][]string{{"install"}, {"install-again"}},
			templates: []wfv1.Template{tmplInstall, container("install-again", map[string]string{"exp": expArtifact}, "kubectl apply -f /tmp")},
			phase:     wfv1.WorkflowSucceeded,
			nodes:     map[string]wfv1.NodePhase{"install": wfv1.NodeSucceeded, "install-again": wfv1.NodeSucceeded},
		},
		{
			name:      "cleanup fails",
			groups:    [][]string{{"fault-a"}, {"cleanup"}},
			templates: []wfv1.Template{tmplFault("fault-a", "a-"), tmplCleanup},
			setup: func(w *fakeWorld) {
				w.failNext("delete-collection chaosengines", apierrors.NewServiceUnavailable("etcd"))
			},
			phase: wfv1.WorkflowFailed, message: "delete ChaosEngines workflow_run_id=",
			nodes: map[string]wfv1.NodePhase{"fault-a": wfv1.NodeSucceeded, "cleanup": wfv1.NodeFailed}, engines: 1, onFault: 1,
		},
		{
			name:      "engine deleted during its step",
			groups:    [][]string{{"fault-a"}, {"fault-b"}},
			templates: []wfv1.Template{tmplFault("fault-a", "a-"), tmplFault("fault-b", "b-")},
			during: func(t *testing.T, w *fakeWorld) {
				if err := w.dyn.Resource(litmus.ChaosEngineGVR()).Namespace(wfNS).Delete(t.Context(), w.engines(t)[0].Name, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			phase: wfv1.WorkflowFailed, message: "was deleted",
			nodes: map[string]wfv1.NodePhase{"fault-a": wfv1.NodeFailed, "fault-b": wfv1.NodeSkipped},
		},
		{
			name:      "stopped by the control plane",
			groups:    [][]string{{"fault-a"}, {"fault-b"}, {"cleanup"}},
			templates: []wfv1.Template{tmplFault("fault-a", "a-"), tmplFault("fault-b", "b-"), tmplCleanup},
			during: func(t *testing.T, w *fakeWorld) {
				wf := w.workflow(t, "wf")
				wf.Spec.Shutdown = wfv1.ShutdownStrategyStop
				if _, err := w.argo.ArgoprojV1alpha1().Workflows(wfNS).Update(t.Context(), wf, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			phase: wfv1.WorkflowFailed, message: "Stopped with strategy 'Stop'",
			// The stopped engine ends at once, not after 10 s; no later fault starts.
			nodes:       map[string]wfv1.NodePhase{"fault-a": wfv1.NodeSucceeded, "fault-b": wfv1.NodeSkipped, "cleanup": wfv1.NodeSucceeded},
			maxDuration: 10 * time.Second, onFault: 1,
		},
		{
			name:        "shutdown with nobody running the engine",
			groups:      [][]string{{"fault-a"}, {"fault-b"}},
			templates:   []wfv1.Template{tmplFault("fault-a", "stuck-"), tmplFault("fault-b", "b-")},
			cancelAfter: 5 * time.Second,
			phase:       wfv1.WorkflowFailed, message: "Stopped with strategy 'Stop'",
			nodes: map[string]wfv1.NodePhase{"fault-a": wfv1.NodeFailed, "fault-b": wfv1.NodeSkipped},
			// 5 s, then the 30 s grace: never forever.
			maxDuration: 36 * time.Second, engines: 1,
		},
		{
			name:      "unsupported shape",
			groups:    [][]string{{"script"}},
			templates: []wfv1.Template{{Name: "script", Script: &wfv1.ScriptTemplate{Source: "echo hi"}}},
			phase:     wfv1.WorkflowFailed, message: "cannot run this Workflow",
			nodes: map[string]wfv1.NodePhase{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newFakeWorld()
				if tc.setup != nil {
					tc.setup(w)
				}
				ctx, cancel := context.WithCancel(t.Context())
				var exec sync.WaitGroup
				exec.Go(func() { w.executor(ctx, t, 10*time.Second) })
				defer func() { cancel(); exec.Wait() }()
				var faults atomic.Int32
				eng := &Engine{Argo: w.argo, Dynamic: w.dyn, Log: zaptest.NewLogger(t), Poll: 500 * time.Millisecond,
					OnFault: func(*litmus.ChaosEngine) { faults.Add(1) }}
				w.createWorkflow(t, "wf", chaosWorkflow(wfNS, tc.groups, tc.templates...))
				if tc.during != nil {
					go func() {
						for len(w.engines(t)) == 0 {
							time.Sleep(100 * time.Millisecond)
						}
						tc.during(t, w)
					}()
				}
				start := time.Now()
				runCtx := ctx
				if tc.cancelAfter > 0 {
					var cancelRun context.CancelFunc
					runCtx, cancelRun = context.WithTimeout(ctx, tc.cancelAfter)
					defer cancelRun()
				}
				if err := eng.Run(runCtx, wfNS, "wf"); err != nil {
					t.Fatal(err)
				}
				took := time.Since(start)
				synctest.Wait()
				wf := w.workflow(t, "wf")
				if wf.Status.Phase != tc.phase || !strings.Contains(wf.Status.Message, tc.message) {
					t.Errorf("Workflow %s %q, want %s with a message containing %q", wf.Status.Phase, wf.Status.Message, tc.phase, tc.message)
				}
				if got := stepPhases(wf); fmt.Sprint(got) != fmt.Sprint(tc.nodes) {
					t.Errorf("steps %v, want %v", got, tc.nodes)
				}
				if root := wf.Status.Nodes["wf"]; root.FinishedAt.IsZero() || (root.Phase == wfv1.NodeSucceeded) != (tc.phase == wfv1.WorkflowSucceeded) {
					t.Errorf("root node %s finished %v", root.Phase, root.FinishedAt)
				}
				if tc.maxDuration > 0 && took > tc.maxDuration {
					t.Errorf("run took %s, want at most %s", took, tc.maxDuration)
				}
				if n := len(w.engines(t)); n != tc.engines {
					t.Errorf("%d ChaosEngines left, want %d", n, tc.engines)
				}
				if n := int(faults.Load()); n != tc.onFault {
					t.Errorf("OnFault called %d times, want %d", n, tc.onFault)
				}
				for _, key := range []string{"update workflows", "create chaosengines", "create chaosexperiments", "delete-collection chaosengines"} {
					if n := w.pending(key); n > 0 {
						t.Errorf("%d injected %s failures never reached", n, key)
					}
				}
			})
		})
	}
}

// TestEngineSubstitutes: a fault step's ChaosEngine gets the run's parameters, its namespace and
// its labels (workflow_run_id) from the Workflow, and the install step's ChaosExperiment lands in
// the admin-mode namespace.
func TestEngineSubstitutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWorld()
		ctx, cancel := context.WithCancel(t.Context())
		var exec sync.WaitGroup
		exec.Go(func() { w.executor(ctx, t, time.Second) })
		defer func() { cancel(); exec.Wait() }()
		eng := &Engine{Argo: w.argo, Dynamic: w.dyn, Log: zaptest.NewLogger(t)}
		w.createWorkflow(t, "wf", chaosWorkflow(wfNS, [][]string{{"install"}, {"fault-a"}}, tmplInstall, tmplFault("fault-a", "a-")))
		if err := eng.Run(ctx, wfNS, "wf"); err != nil {
			t.Fatal(err)
		}
		ens := w.engines(t)
		if len(ens) != 1 {
			t.Fatalf("%d engines", len(ens))
		}
		en := ens[0]
		if en.Namespace != wfNS || en.Labels["workflow_run_id"] != "uid-run-1" || !strings.HasPrefix(en.Labels["step_pod_name"], "wf-fault-a-") {
			t.Errorf("engine %s/%s labels %v", en.Namespace, en.Name, en.Labels)
		}
		if _, err := w.dyn.Resource(litmus.ChaosExperimentGVR()).Namespace(wfNS).Get(t.Context(), "pod-delete", metav1.GetOptions{}); err != nil {
			t.Errorf("ChaosExperiment: %v", err)
		}
		wf := w.workflow(t, "wf")
		for _, n := range wf.Status.Nodes {
			if n.DisplayName == "fault-a" && !strings.Contains(n.Message, "verdict Pass") {
				t.Errorf("fault node message %q", n.Message)
			}
		}
	})
}

// TestControllerFast: the controller runs each new Workflow of its selector once, and ignores
// Workflows that already have a phase (another controller's, or finished).
func TestControllerFast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWorld()
		ctx, cancel := context.WithCancel(t.Context())
		var bg sync.WaitGroup
		bg.Go(func() { w.executor(ctx, t, time.Second) })
		c := &Controller{Engine: &Engine{Argo: w.argo, Dynamic: w.dyn, Log: zaptest.NewLogger(t)}, Namespace: wfNS,
			Selector: "workflows.argoproj.io/controller-instanceid=native-test", Log: zaptest.NewLogger(t)}
		bg.Go(func() {
			if err := c.Run(ctx); err != nil {
				t.Errorf("controller: %v", err)
			}
		})
		defer func() { cancel(); bg.Wait() }()
		w.createWorkflow(t, "wf", chaosWorkflow(wfNS, [][]string{{"fault-a"}}, tmplFault("fault-a", "a-")))
		done := chaosWorkflow(wfNS, [][]string{{"fault-a"}}, tmplFault("fault-a", "a-"))
		done.Status.Phase = wfv1.WorkflowSucceeded
		done.Name = "old"
		if _, err := w.argo.ArgoprojV1alpha1().Workflows(wfNS).Create(t.Context(), done, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		other := chaosWorkflow(wfNS, [][]string{{"fault-a"}}, tmplFault("fault-a", "a-"))
		other.Name, other.GenerateName, other.Labels = "other", "", map[string]string{"workflows.argoproj.io/controller-instanceid": "someone-else"}
		if _, err := w.argo.ArgoprojV1alpha1().Workflows(wfNS).Create(t.Context(), other, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Hour); w.workflow(t, "wf").Status.Phase != wfv1.WorkflowSucceeded; {
			if time.Now().After(deadline) {
				t.Fatalf("Workflow %s after an hour", w.workflow(t, "wf").Status.Phase)
			}
			time.Sleep(time.Second)
		}
		if p := w.workflow(t, "other").Status.Phase; p != "" {
			t.Errorf("another controller's Workflow was run: %s", p)
		}
		if n := len(w.engines(t)); n != 1 {
			t.Errorf("%d engines, want 1 (the finished Workflow is not run again)", n)
		}
	})
}
