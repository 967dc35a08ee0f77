// Package runner runs chaos experiments from manifests without a control plane — the engine of
// `chaos-agent run` (CI pipelines) and `chaos-agent check` (the litmus-checker drop-in): it
// applies ChaosExperiments, creates ChaosEngines, runs an in-process executor, streams progress,
// and reports verdicts, the resilience score, JUnit XML and JSON.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/yaml"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/executor/faults"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	"github.com/chaos-agent/chaos-agent/internal/score"
	"github.com/chaos-agent/chaos-agent/internal/wfvars"
	"github.com/chaos-agent/chaos-agent/workflow"
)

// Manifests is what a file holds.
type Manifests struct {
	Experiments []*litmus.ChaosExperiment
	Engines     []*litmus.ChaosEngine
	Workflows   []*wfv1.Workflow // chaos Workflows, run by the native workflow engine
	// Warnings name what the file asks for that `run` does not honour (printed before the run).
	Warnings []string
}

// Parse splits a multi-document YAML file into experiments and engines; anything else is an error.
func Parse(data []byte, defaultNamespace string) (*Manifests, error) {
	m := &Manifests{}
	for i, doc := range splitYAML(data) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		switch tm.Kind {
		case "":
			continue
		case litmus.KindChaosEngine:
			// A ChaosEngine outside a Workflow has no workflow variables to resolve: any {{ }}
			// left would reach the API server (or the targets) verbatim.
			if _, err := wfvars.Resolve(string(doc), wfvars.Vars{}, fmt.Sprintf("document %d (a ChaosEngine outside a Workflow, which has no workflow parameters)", i+1)); err != nil {
				return nil, err
			}
			var e litmus.ChaosEngine
			if err := yaml.Unmarshal(doc, &e); err != nil {
				return nil, fmt.Errorf("document %d (ChaosEngine): %w", i+1, err)
			}
			if e.Namespace == "" {
				e.Namespace = defaultNamespace
			}
			if err := checkProbeRefs(&e); err != nil {
				return nil, fmt.Errorf("document %d (ChaosEngine %s): %w", i+1, nameOf(&e), err)
			}
			m.Warnings = append(m.Warnings, engineWarnings(doc, nameOf(&e))...)
			m.Engines = append(m.Engines, &e)
		case litmus.KindChaosExperiment:
			var x litmus.ChaosExperiment
			if err := yaml.Unmarshal(doc, &x); err != nil {
				return nil, fmt.Errorf("document %d (ChaosExperiment): %w", i+1, err)
			}
			if x.Namespace == "" {
				x.Namespace = defaultNamespace
			}
			m.Experiments = append(m.Experiments, &x)
		case "Workflow", "CronWorkflow":
			wf, warnings, err := parseWorkflow(doc, tm.Kind, defaultNamespace)
			if err != nil {
				return nil, fmt.Errorf("document %d (%s %s): %w", i+1, tm.Kind, wf.Name, err)
			}
			m.Workflows = append(m.Workflows, wf)
			m.Warnings = append(m.Warnings, warnings...)
		default:
			return nil, fmt.Errorf("document %d: kind %q is not a ChaosEngine or ChaosExperiment", i+1, tm.Kind)
		}
	}
	if len(m.Engines) == 0 && len(m.Workflows) == 0 {
		return nil, errors.New("no ChaosEngine or Workflow in the file")
	}
	return m, nil
}

// parseWorkflow reads a Workflow, or a CronWorkflow as the one Workflow it would spawn (`run`
// runs it once, now), resolves its metadata and checks that every variable its steps use
// resolves.
func parseWorkflow(doc []byte, kind, defaultNamespace string) (*wfv1.Workflow, []string, error) {
	wf := &wfv1.Workflow{}
	var warnings []string
	if kind == "CronWorkflow" {
		var cwf wfv1.CronWorkflow
		if err := yaml.Unmarshal(doc, &cwf); err != nil {
			return wf, nil, err
		}
		wf.Name, wf.Namespace, wf.Spec = cwf.Name, cwf.Namespace, cwf.Spec.WorkflowSpec
		wf.Labels = map[string]string{}
		for _, src := range []map[string]string{cwf.Labels, workflowMetadataLabels(cwf.Spec.WorkflowMetadata)} {
			for k, v := range src {
				wf.Labels[k] = v
			}
		}
		if cwf.Spec.WorkflowMetadata != nil {
			wf.Annotations = cwf.Spec.WorkflowMetadata.Annotations
		}
		warnings = append(warnings, fmt.Sprintf("CronWorkflow %s: run runs its workflowSpec once, now; spec.schedule %q and the other cron settings are ignored",
			cwf.Name, strings.Join(append([]string{cwf.Spec.Schedule}, cwf.Spec.Schedules...), ",")))
	} else if err := yaml.Unmarshal(doc, wf); err != nil {
		return wf, nil, err
	}
	if err := workflow.Validate(wf); err != nil {
		return wf, nil, err
	}
	if wf.Namespace == "" {
		wf.Namespace = defaultNamespace
	}
	// The native engine keeps the Workflow object with its engines, in the admin-mode namespace
	// the user chose by parameter: a downloaded file's metadata.namespace (ChaosHub: litmus)
	// need not exist.
	if ns := workflowNamespace(wf); ns != wf.Namespace && !strings.Contains(ns, "{{") {
		warnings = append(warnings, fmt.Sprintf("Workflow %s: kept in namespace %s (parameter adminModeNamespace), not %s (metadata.namespace)", wf.Name, ns, wf.Namespace))
		wf.Namespace = ns
	}
	now := time.Now()
	if err := wfvars.ResolveWorkflowMeta(wf, now); err != nil {
		return wf, nil, err
	}
	meta := wf.ObjectMeta.DeepCopy()
	meta.CreationTimestamp = metav1.NewTime(now)
	vars, err := wfvars.ForWorkflow(meta, &wf.Spec)
	if err != nil {
		return wf, nil, err
	}
	if err := wfvars.CheckTemplates(&wf.Spec, vars); err != nil {
		return wf, nil, err
	}
	for _, e := range workflowEngines(wf) {
		if err := checkProbeRefs(e); err != nil {
			return wf, nil, fmt.Errorf("ChaosEngine %s: %w", nameOf(e), err)
		}
	}
	for _, w := range workflow.Ignored(&wf.Spec) {
		warnings = append(warnings, "Workflow "+wf.Name+": "+w)
	}
	return wf, warnings, nil
}

// engineWarnings names what a ChaosEngine document asks for that chaos-agent does not honour
// (fields unknown to the typed engine never reach the cluster, so they are named here).
func engineWarnings(doc []byte, name string) []string {
	var raw map[string]any
	if yaml.Unmarshal(doc, &raw) != nil {
		return nil
	}
	var out []string
	for _, w := range litmus.EngineWarnings(raw) {
		out = append(out, "ChaosEngine "+name+": "+w)
	}
	return out
}

// checkProbeRefs refuses an engine whose probeRef annotation names probes it does not carry:
// they are stored in ChaosCenter, and `run` has no control plane to expand them.
func checkProbeRefs(e *litmus.ChaosEngine) error {
	missing, err := litmus.UnexpandedProbeRefs(e)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("annotation %s names probe(s) %s, stored in ChaosCenter: run has no control plane to fetch them from; "+
			"add them under spec.experiments[].spec.probe (ChaosCenter does so when it sends a run)", litmus.AnnotationProbeRef, strings.Join(missing, ", "))
	}
	return nil
}

func workflowMetadataLabels(m *metav1.ObjectMeta) map[string]string {
	if m == nil {
		return nil
	}
	return m.Labels
}

func splitYAML(data []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		if len(bytes.TrimSpace(part)) > 0 {
			out = append(out, part)
		}
	}
	return out
}

// Options configure a run.
type Options struct {
	Clients kube.Clients
	Argo    argoclient.Interface // for Workflow manifests
	// Impersonating builds clients for chaos service accounts (executor.ClientFactory).
	Impersonating executor.ClientFactory
	// Access answers whether the user may do something (SelfSubjectAccessReview); it decides
	// whether `run` can watch every namespace (nil: assumed yes). See Scope.
	Access AccessChecker
	Probes executor.ProbeRunner
	// Policy is the cluster owner's policy, enforced at run time when the cluster has one.
	Policy   executor.PolicySource
	DryRun   bool          // DRY_RUN=true for every experiment; probes are listed, not run
	Timeout  time.Duration // bound of the whole run, Workflows included (0: none); the engines are then stopped
	Progress io.Writer     // one line per event
	// TTY adds a status line, redrawn in place, under the event lines (Progress is a terminal).
	TTY bool
	Log *zap.Logger
}

// FaultResult is one engine's outcome.
type FaultResult struct {
	Engine, Namespace, Experiment string
	Weight                        int
	Verdict                       string
	Phase                         string
	ProbeSuccessPercentage        string
	FailStep                      string
	Probes                        []litmus.ProbeStatus
	Recoveries                    []litmus.PodRecovery
	Duration                      time.Duration
}

// Result is a whole run's outcome.
type Result struct {
	Faults []FaultResult
	Score  float64
}

// Errored reports whether any fault ended in Error.
func (r *Result) Errored() bool {
	for _, f := range r.Faults {
		if f.Verdict == string(litmus.VerdictError) {
			return true
		}
	}
	return false
}

// Run applies the manifests, executes every engine and waits for their results. On ctx
// cancellation (SIGINT) the engines are stopped and their Stopped results reported.
func Run(ctx context.Context, m *Manifests, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	o.Progress = &lockedWriter{w: o.Progress} // several goroutines report progress
	start := time.Now()
	if o.Timeout < 0 {
		return nil, fmt.Errorf("timeout %s: must not be negative", o.Timeout)
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Timeout, fmt.Errorf("the run's timeout (%s) passed", o.Timeout))
		defer cancel()
	}
	for _, w := range m.Warnings {
		fmt.Fprintf(o.Progress, "warning: %s\n", w)
	}
	runID := strings.ToLower(utilrand.String(8))
	scope, err := Scope(ctx, o.Access, m)
	if err != nil {
		return nil, err
	}
	registry, err := faults.Builtin()
	if err != nil {
		return nil, err
	}
	ex, err := executor.New(executor.Options{Namespace: scope, Kube: o.Clients.Kube, Dynamic: o.Clients.Dynamic, Faults: registry,
		Clients: o.Impersonating, Probes: o.Probes, Policy: o.Policy, Log: o.Log.Named("executor"), Identity: runIdentity(),
		EngineSelector: RunLabel + "=" + runID})
	if err != nil {
		return nil, err
	}
	exCtx, stopEx := context.WithCancel(context.WithoutCancel(ctx))
	exDone := make(chan struct{})
	go func() { defer close(exDone); _ = ex.Run(exCtx) }()
	defer func() { stopEx(); <-exDone }()

	for _, x := range m.Experiments {
		if err := apply(ctx, o.Clients, litmus.ChaosExperimentGVR().Resource, x.Namespace, x); err != nil {
			return nil, fmt.Errorf("ChaosExperiment %s: %w", x.Name, err)
		}
	}
	type started struct {
		engine *litmus.ChaosEngine
		uid    types.UID
	}
	var runs []started
	for _, e := range m.Engines {
		e := e
		if o.DryRun {
			for i := range e.Spec.Experiments {
				x := &e.Spec.Experiments[i]
				x.Spec.Components.Env = append(x.Spec.Components.Env, envVar("DRY_RUN", "true"))
				for _, p := range x.Spec.Probe {
					fmt.Fprintf(o.Progress, "dry run: probe %s (%s, %s) would run\n", p.Name, p.Type, p.Mode)
				}
				x.Spec.Probe = nil
			}
		}
		e.Spec.EngineState = litmus.EngineStateActive
		e.Status = litmus.ChaosEngineStatus{}
		if e.Labels == nil {
			e.Labels = map[string]string{}
		}
		e.Labels[RunLabel] = runID
		u, err := litmus.ToUnstructured(e)
		if err != nil {
			return nil, err
		}
		created, err := o.Clients.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(e.Namespace).Create(ctx, u, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("create ChaosEngine %s: %w", nameOf(e), err)
		}
		e.Name = created.GetName()
		fmt.Fprintf(o.Progress, "ChaosEngine Name : %s\n", e.Name)
		runs = append(runs, started{engine: e, uid: created.GetUID()})
	}

	// Workflows: the native engine runs their steps; their faults' results are collected as they end.
	var workflowFaults []FaultResult
	if len(m.Workflows) > 0 {
		if o.Argo == nil {
			return nil, errors.New("the manifests hold Workflows, which need an Argo client")
		}
		faults, err := runWorkflows(ctx, m.Workflows, o, start, map[string]string{RunLabel: runID})
		if err != nil {
			return nil, err
		}
		workflowFaults = faults
	}

	waitCtx := ctx
	seen := map[string]bool{}
	var mu sync.Mutex
	res := &Result{}
	done := make([]bool, len(runs))
	pending := len(runs)
	var stopDeadline time.Time // set once the run is interrupted
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	for {
		if waitCtx.Err() != nil && stopDeadline.IsZero() {
			stopDeadline = time.Now().Add(time.Minute)
			fmt.Fprintf(o.Progress, "interrupted (%v): stopping the engines\n", context.Cause(waitCtx))
			for _, r := range runs {
				stopEngine(context.WithoutCancel(ctx), o.Clients, r.engine)
			}
		}
		for i, r := range runs {
			if done[i] {
				continue
			}
			printEvents(context.WithoutCancel(ctx), o, r.engine, r.uid, seen, &mu)
			en, err := getEngine(context.WithoutCancel(ctx), o.Clients, r.engine)
			if err != nil {
				continue
			}
			if s := en.Status.EngineStatus; s == litmus.EngineStatusCompleted || s == litmus.EngineStatusStopped {
				done[i] = true
				pending--
				fr := faultResult(context.WithoutCancel(ctx), o.Clients, en, time.Since(start))
				if w := r.engine.Labels[litmus.LabelWeight]; w != "" {
					fr.Weight = score.Weight(w)
				}
				res.Faults = append(res.Faults, fr)
			}
		}
		if pending == 0 {
			break
		}
		if o.TTY {
			fmt.Fprintf(o.Progress, "\r\033[K⟳ %d/%d fault(s) running · %s elapsed", pending, len(runs), time.Since(start).Round(time.Second))
		}
		if !stopDeadline.IsZero() && time.Now().After(stopDeadline) {
			return res, errors.New("interrupted, and the engines did not stop within a minute")
		}
		<-poll.C // polling the API every 500 ms; also after an interrupt, until the Stopped results are in
	}
	if o.TTY {
		fmt.Fprint(o.Progress, "\r\033[K")
	}
	res.Faults = append(res.Faults, workflowFaults...)
	sort.Slice(res.Faults, func(i, j int) bool { return res.Faults[i].Engine < res.Faults[j].Engine })
	var sf []score.Fault
	for _, f := range res.Faults {
		sf = append(sf, score.Fault{Name: f.Engine, Weight: f.Weight, PSP: f.ProbeSuccessPercentage})
	}
	res.Score = score.Resilience(sf)
	if !stopDeadline.IsZero() {
		return res, fmt.Errorf("interrupted: %w", context.Cause(waitCtx))
	}
	return res, nil
}

func nameOf(e *litmus.ChaosEngine) string {
	if e.Name != "" {
		return e.Name
	}
	return e.GenerateName + "*"
}

func apply(ctx context.Context, c kube.Clients, resource, ns string, obj any) error {
	u, err := litmus.ToUnstructured(obj)
	if err != nil {
		return err
	}
	api := c.Dynamic.Resource(litmus.GroupVersion().WithResource(resource)).Namespace(ns)
	_, err = api.Create(ctx, u, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		live, gerr := api.Get(ctx, u.GetName(), metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		u.SetResourceVersion(live.GetResourceVersion())
		_, err = api.Update(ctx, u, metav1.UpdateOptions{})
	}
	return err
}

func getEngine(ctx context.Context, c kube.Clients, e *litmus.ChaosEngine) (*litmus.ChaosEngine, error) {
	u, err := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(e.Namespace).Get(ctx, e.Name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var en litmus.ChaosEngine
	return &en, litmus.FromUnstructured(u, &en)
}

func stopEngine(ctx context.Context, c kube.Clients, e *litmus.ChaosEngine) {
	_, _ = c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(e.Namespace).Patch(ctx, e.Name, types.MergePatchType,
		[]byte(`{"spec":{"engineState":"stop"}}`), metav1.PatchOptions{})
}

func printEvents(ctx context.Context, o Options, e *litmus.ChaosEngine, uid types.UID, seen map[string]bool, mu *sync.Mutex) {
	evs, err := o.Clients.Kube.CoreV1().Events(e.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	sort.Slice(evs.Items, func(i, j int) bool { return evs.Items[i].LastTimestamp.Before(&evs.Items[j].LastTimestamp) })
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range evs.Items {
		switch {
		case uid == "" && e.Name == "":
			if ev.InvolvedObject.Kind != litmus.KindChaosEngine && ev.InvolvedObject.Kind != litmus.KindChaosResult {
				continue
			}
		case ev.InvolvedObject.UID != uid && !strings.HasPrefix(ev.InvolvedObject.Name, e.Name+"-"):
			continue
		}
		key := fmt.Sprintf("%s/%d", ev.Name, ev.Count)
		if seen[key] {
			continue
		}
		seen[key] = true
		if o.TTY {
			fmt.Fprint(o.Progress, "\r\033[K") // clear the status line first
		}
		fmt.Fprintf(o.Progress, "%s  %-22s %-26s %s\n", ev.LastTimestamp.Local().Format("15:04:05"), ev.InvolvedObject.Name, ev.Reason, ev.Message)
	}
}

func faultResult(ctx context.Context, c kube.Clients, en *litmus.ChaosEngine, d time.Duration) FaultResult {
	f := FaultResult{Engine: en.Name, Namespace: en.Namespace, Weight: score.Weight(en.Labels[litmus.LabelWeight]), Duration: d,
		ProbeSuccessPercentage: "0"}
	if len(en.Spec.Experiments) > 0 {
		f.Experiment = en.Spec.Experiments[0].Name
	}
	if len(en.Status.Experiments) > 0 {
		f.Verdict = string(en.Status.Experiments[0].Verdict)
	}
	u, err := c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(en.Namespace).Get(ctx, litmus.ResultName(en.Name, f.Experiment, ""), metav1.GetOptions{})
	if err != nil {
		return f
	}
	var r litmus.ChaosResult
	if litmus.FromUnstructured(u, &r) != nil {
		return f
	}
	st := r.Status.ExperimentStatus
	f.Verdict, f.Phase, f.ProbeSuccessPercentage = string(st.Verdict), string(st.Phase), st.ProbeSuccessPercentage
	if st.ErrorOutput != nil {
		f.FailStep = string(st.ErrorOutput.ErrorCode) + " : " + st.ErrorOutput.Reason
	}
	f.Probes, f.Recoveries = r.Status.ProbeStatuses, r.Status.Recoveries
	return f
}

func envVar(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

// nativeInstanceID keeps any Argo workflow-controller away from Workflows that `run` drives.
const nativeInstanceID = "chaos-agent-native"

func workflowNamespace(wf *wfv1.Workflow) string {
	for _, p := range wf.Spec.Arguments.Parameters {
		if p.Name == "adminModeNamespace" && p.Value != nil && p.Value.String() != "" {
			return p.Value.String()
		}
	}
	return wf.Namespace
}

// runWorkflows creates each Workflow, drives it with the native engine while streaming the
// chaos events of its namespace, and returns the results of the faults its steps ran (weights
// from the step templates' weight labels).
func runWorkflows(ctx context.Context, wfs []*wfv1.Workflow, o Options, start time.Time, engineLabels map[string]string) ([]FaultResult, error) {
	var mu sync.Mutex
	var out []FaultResult
	weights := map[string]string{} // by ChaosEngine generateName / name
	for _, wf := range wfs {
		for _, t := range wf.Spec.Templates {
			for _, a := range t.Inputs.Artifacts {
				if a.Raw == nil {
					continue
				}
				if en := litmus.EngineArtifact(a.Raw.Data); en != nil {
					weights[litmus.EngineKey(en)] = t.Metadata.Labels[litmus.LabelWeight]
				}
			}
		}
	}
	eng := &workflow.Engine{Argo: o.Argo, Dynamic: o.Clients.Dynamic, Log: o.Log.Named("workflow"), EngineLabels: engineLabels,
		OnWarning: func(w string) { fmt.Fprintf(o.Progress, "warning: %s\n", w) },
		OnFault: func(en *litmus.ChaosEngine) {
			f := faultResult(context.WithoutCancel(ctx), o.Clients, en, time.Since(start))
			w, ok := weights[en.GenerateName]
			if !ok {
				w = weights[en.Name]
			}
			f.Weight = score.Weight(w)
			mu.Lock()
			out = append(out, f)
			mu.Unlock()
		}}
	printCtx, stopPrinting := context.WithCancel(context.WithoutCancel(ctx))
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		seen := map[string]bool{}
		var pm sync.Mutex
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			for _, wf := range wfs {
				printEvents(printCtx, o, &litmus.ChaosEngine{ObjectMeta: metav1.ObjectMeta{Namespace: workflowNamespace(wf)}}, "", seen, &pm)
			}
			select {
			case <-printCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	defer func() { stopPrinting(); <-printed }()

	var wg sync.WaitGroup
	var errs []error
	for _, wf := range wfs {
		wf := wf.DeepCopy()
		if wf.Labels == nil {
			wf.Labels = map[string]string{}
		}
		wf.Labels[litmus.LabelArgoInstanceID] = nativeInstanceID
		wf.Status = wfv1.WorkflowStatus{}
		if wf.Name != "" { // every run is a new Workflow, named as ChaosCenter names runs
			wf.Name = fmt.Sprintf("%s-%d", wf.Name, time.Now().UnixMilli())
		}
		created, err := o.Argo.ArgoprojV1alpha1().Workflows(wf.Namespace).Create(ctx, wf, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("create Workflow %s: %w", wf.Name+wf.GenerateName, err)
		}
		fmt.Fprintf(o.Progress, "Workflow %s/%s: running its steps with the native workflow engine\n", created.Namespace, created.Name)
		wg.Go(func() {
			if err := eng.Run(ctx, created.Namespace, created.Name); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			if final, err := o.Argo.ArgoprojV1alpha1().Workflows(created.Namespace).Get(context.WithoutCancel(ctx), created.Name, metav1.GetOptions{}); err == nil {
				fmt.Fprintf(o.Progress, "Workflow %s: %s %s\n", created.Name, final.Status.Phase, final.Status.Message)
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// lockedWriter serializes writes (progress lines come from several goroutines).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// runIdentity names this `run` process in engine claims: unique, so that an installed agent (or
// another `run`) watching the same namespace never takes it for itself.
func runIdentity() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("chaos-agent-run-%s-%d", host, os.Getpid())
}
