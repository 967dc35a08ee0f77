// Package workflow is chaos-agent's native workflow engine: it runs the chaos experiment
// Workflows that ChaosCenter and ChaosHub generate — an install step whose artifacts are
// ChaosExperiments, fault steps whose artifact is a ChaosEngine (run upstream by litmus-checker),
// and a cleanup step — without Argo's controller. Step groups run in order, the steps of a group
// in parallel, and the Workflow's status and nodes are kept up to date as Argo would, so that run
// events and the control plane see the same thing. Steps of any other shape are refused.
package workflow

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
	"github.com/chaos-agent/chaos-agent/internal/wfvars"
)

// stepKind is what a step does.
type stepKind int

const (
	stepInstall stepKind = iota + 1 // apply the ChaosExperiments of its artifacts
	stepFault                       // create its ChaosEngine and wait for it
	stepCleanup                     // delete the run's ChaosEngines
)

type step struct {
	name     string
	template *wfv1.Template
	kind     stepKind
}

// plan is a validated Workflow: its step groups.
type plan struct {
	groups [][]step
}

// Validate checks that the Workflow has the shape the native engine runs.
func Validate(wf *wfv1.Workflow) error {
	_, err := makePlan(wf)
	return err
}

func makePlan(wf *wfv1.Workflow) (*plan, error) {
	templates := map[string]*wfv1.Template{}
	for i := range wf.Spec.Templates {
		templates[wf.Spec.Templates[i].Name] = &wf.Spec.Templates[i]
	}
	entry := templates[wf.Spec.Entrypoint]
	if entry == nil {
		return nil, fmt.Errorf("entrypoint %q is not a template of the Workflow", wf.Spec.Entrypoint)
	}
	if len(entry.Steps) == 0 {
		return nil, fmt.Errorf("entrypoint %q has no steps: the native engine runs step-based chaos workflows", entry.Name)
	}
	p := &plan{}
	for _, group := range entry.Steps {
		var g []step
		for _, s := range group.Steps {
			t := templates[s.Template]
			if t == nil {
				return nil, fmt.Errorf("step %q names template %q, which does not exist", s.Name, s.Template)
			}
			kind, err := classify(t)
			if err != nil {
				return nil, fmt.Errorf("step %q (template %q): %w", s.Name, t.Name, err)
			}
			g = append(g, step{name: s.Name, template: t, kind: kind})
		}
		p.groups = append(p.groups, g)
	}
	return p, nil
}

func classify(t *wfv1.Template) (stepKind, error) {
	if t.Container == nil {
		return 0, errors.New("not a container step: the native engine runs ChaosHub install, fault and cleanup steps only")
	}
	var engines, experiments int
	for _, a := range t.Inputs.Artifacts {
		if a.Raw == nil {
			return 0, fmt.Errorf("artifact %q is not raw data", a.Name)
		}
		switch litmus.ArtifactKind(a.Raw.Data) {
		case litmus.KindChaosEngine:
			engines++
		case litmus.KindChaosExperiment:
			experiments++
		default:
			return 0, fmt.Errorf("artifact %q is neither a ChaosEngine nor a ChaosExperiment", a.Name)
		}
	}
	cmd := strings.Join(append(append([]string{}, t.Container.Command...), t.Container.Args...), " ")
	switch {
	case engines == 1 && experiments == 0:
		return stepFault, nil
	case experiments > 0 && engines == 0:
		return stepInstall, nil
	case len(t.Inputs.Artifacts) == 0 && strings.Contains(cmd, "kubectl delete chaosengine"):
		return stepCleanup, nil
	default:
		return 0, errors.New("not a ChaosHub install (ChaosExperiment artifacts), fault (one ChaosEngine artifact) or cleanup (kubectl delete chaosengine) step")
	}
}

// Engine drives Workflows.
type Engine struct {
	Argo    argoclient.Interface
	Dynamic dynamic.Interface
	Log     *zap.Logger
	// Poll is how often a fault step checks its ChaosEngine (default 1 s).
	Poll time.Duration
	// OnFault, if set, receives each fault step's ChaosEngine once it is completed or stopped
	// (the cleanup step deletes it afterwards).
	OnFault func(*litmus.ChaosEngine)
	// StopGrace bounds how long a fault step waits, once Run's ctx has ended, for its
	// ChaosEngine to be stopped (default 30 s): the executor may be shutting down too, and an
	// engine nobody runs any more would never stop.
	StopGrace time.Duration
	// EngineLabels are added to every ChaosEngine a fault step creates (`run` marks its own).
	EngineLabels map[string]string
	// OnWarning, if set, receives each warning about a part of the Workflow the native engine
	// does not honour (also logged).
	OnWarning func(string)
}

// nodeID is Argo's node id: the workflow name and a hash of the node name.
func nodeID(wf *wfv1.Workflow, name string) string {
	if name == wf.Name {
		return wf.Name
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return fmt.Sprintf("%s-%v", wf.Name, h.Sum32())
}

// podName is the name Argo (pod names v2) gives a step's pod: <workflow>-<template>-<hash>.
func podName(wf *wfv1.Workflow, id, template string) string {
	return wf.Name + "-" + template + "-" + strings.TrimPrefix(id, wf.Name+"-")
}

// Run drives a Workflow that exists in the cluster until it ends or ctx ends; its status is
// written as Argo would. A Workflow of an unsupported shape ends Failed with the reason.
func (e *Engine) Run(ctx context.Context, namespace, name string) error {
	if e.Log == nil {
		e.Log = zap.NewNop()
	}
	if e.Poll == 0 {
		e.Poll = time.Second
	}
	if e.StopGrace == 0 {
		e.StopGrace = 30 * time.Second
	}
	wf, err := e.Argo.ArgoprojV1alpha1().Workflows(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	log := e.Log.With(zap.String("workflow", namespace+"/"+name))
	vars, verr := wfvars.ForWorkflow(&wf.ObjectMeta, &wf.Spec)
	r := &run{e: e, log: log, ns: namespace, name: name, uid: wf.UID, vars: vars}
	p, err := makePlan(wf)
	if err == nil {
		err = verr
	}
	if err == nil {
		for _, w := range Ignored(&wf.Spec) {
			e.warn(log, w)
		}
	}
	now := metav1.Now()
	r.update(ctx, func(w *wfv1.Workflow) {
		w.Status.Phase, w.Status.StartedAt = wfv1.WorkflowRunning, now
		if w.Status.Nodes == nil {
			w.Status.Nodes = wfv1.Nodes{}
		}
		w.Status.Nodes[w.Name] = wfv1.NodeStatus{ID: w.Name, Name: w.Name, DisplayName: w.Name, Type: wfv1.NodeTypeSteps,
			TemplateName: w.Spec.Entrypoint, Phase: wfv1.NodeRunning, StartedAt: now}
	})
	if err != nil {
		log.Warn("refusing a Workflow the native engine cannot run", zap.Error(err))
		r.finish(ctx, wfv1.WorkflowFailed, "chaos-agent's native workflow engine cannot run this Workflow: "+err.Error())
		return nil
	}
	var failed error
	prev := wf.Name
	for i, group := range p.groups {
		groupName := fmt.Sprintf("%s[%d]", wf.Name, i)
		gid := nodeID(wf, groupName)
		start := metav1.Now()
		r.update(ctx, func(w *wfv1.Workflow) {
			w.Status.Nodes[gid] = wfv1.NodeStatus{ID: gid, Name: groupName, DisplayName: fmt.Sprintf("[%d]", i), Type: wfv1.NodeTypeStepGroup,
				TemplateName: w.Spec.Entrypoint, Phase: wfv1.NodeRunning, StartedAt: start, BoundaryID: w.Name}
			addChild(w, prev, gid)
		})
		// After a failure or a stop only cleanup steps still run (upstream skips them:
		// litmus#4489); a stopped Workflow (spec.shutdown, as Argo's stop sets it) starts no new
		// fault, as Argo starts no new step.
		skip := ""
		switch {
		case failed != nil:
			skip = "skipped: an earlier step failed"
		case ctx.Err() != nil || r.shutdown(ctx):
			skip = "skipped: the Workflow was stopped"
		}
		var wg sync.WaitGroup
		errs := make([]error, len(group))
		for j, s := range group {
			sname := groupName + "." + s.name
			id := nodeID(wf, sname)
			if skip != "" && s.kind != stepCleanup {
				r.node(ctx, wf, gid, id, sname, s, wfv1.NodeSkipped, skip, nil)
				continue
			}
			wg.Go(func() { errs[j] = r.runStep(ctx, wf, gid, id, sname, s) })
		}
		wg.Wait()
		phase := wfv1.NodeSucceeded
		for _, err := range errs {
			if err != nil && failed == nil {
				failed = err
			}
			if err != nil {
				phase = wfv1.NodeFailed
			}
		}
		end := metav1.Now()
		r.update(ctx, func(w *wfv1.Workflow) {
			n := w.Status.Nodes[gid]
			n.Phase, n.FinishedAt = phase, end
			w.Status.Nodes[gid] = n
		})
		prev = gid
	}
	switch {
	case ctx.Err() != nil:
		// Interrupted (SIGINT in `run`, agent shutdown): marked stopped as Argo marks a stopped run.
		r.update(ctx, func(w *wfv1.Workflow) { w.Spec.Shutdown = wfv1.ShutdownStrategyStop })
		r.finish(ctx, wfv1.WorkflowFailed, "Stopped with strategy 'Stop'")
	case r.shutdown(ctx):
		r.finish(ctx, wfv1.WorkflowFailed, "Stopped with strategy 'Stop'")
	case failed != nil:
		r.finish(ctx, wfv1.WorkflowFailed, failed.Error())
	default:
		r.finish(ctx, wfv1.WorkflowSucceeded, "")
	}
	return nil
}

func (e *Engine) warn(log *zap.Logger, msg string) {
	log.Warn(msg)
	if e.OnWarning != nil {
		e.OnWarning(msg)
	}
}

type run struct {
	e    *Engine
	log  *zap.Logger
	ns   string
	name string
	uid  types.UID
	vars wfvars.Vars
	mu   sync.Mutex // serializes status updates
}

func (r *run) update(ctx context.Context, mutate func(*wfv1.Workflow)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	api := r.e.Argo.ArgoprojV1alpha1().Workflows(r.ns)
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		wf, err := api.Get(context.WithoutCancel(ctx), r.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(wf)
		_, err = api.Update(context.WithoutCancel(ctx), wf, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		r.log.Warn("cannot update the Workflow's status", zap.Error(err))
	}
}

func (r *run) shutdown(ctx context.Context) bool {
	wf, err := r.e.Argo.ArgoprojV1alpha1().Workflows(r.ns).Get(context.WithoutCancel(ctx), r.name, metav1.GetOptions{})
	return err == nil && wf.Spec.Shutdown != ""
}

func (r *run) finish(ctx context.Context, phase wfv1.WorkflowPhase, message string) {
	now := metav1.Now()
	r.update(ctx, func(w *wfv1.Workflow) {
		w.Status.Phase, w.Status.FinishedAt, w.Status.Message = phase, now, message
		root := w.Status.Nodes[w.Name]
		root.FinishedAt = now
		root.Phase = wfv1.NodeSucceeded
		if phase != wfv1.WorkflowSucceeded {
			root.Phase, root.Message = wfv1.NodeFailed, message
		}
		w.Status.Nodes[w.Name] = root
	})
	r.log.Info("workflow finished", zap.String("phase", string(phase)), zap.String("message", message))
}

func addChild(w *wfv1.Workflow, parent, child string) {
	n := w.Status.Nodes[parent]
	for _, c := range n.Children {
		if c == child {
			return
		}
	}
	n.Children = append(n.Children, child)
	w.Status.Nodes[parent] = n
}

// node writes a step's node.
func (r *run) node(ctx context.Context, wf *wfv1.Workflow, parent, id, name string, s step, phase wfv1.NodePhase, message string, inputs *wfv1.Inputs) {
	now := metav1.Now()
	r.update(ctx, func(w *wfv1.Workflow) {
		n, ok := w.Status.Nodes[id]
		if !ok {
			n = wfv1.NodeStatus{ID: id, Name: name, DisplayName: s.name, Type: wfv1.NodeTypePod, TemplateName: s.template.Name,
				StartedAt: now, BoundaryID: w.Name}
		}
		n.Phase, n.Message = phase, message
		if inputs != nil {
			n.Inputs = inputs
		}
		if phase.Fulfilled(nil) {
			n.FinishedAt = now
		}
		w.Status.Nodes[id] = n
		addChild(w, parent, id)
	})
}

func (r *run) runStep(ctx context.Context, wf *wfv1.Workflow, parent, id, name string, s step) error {
	vars := r.vars.With("pod.name", podName(wf, id, s.template.Name))
	inputs := s.template.Inputs.DeepCopy()
	var err error
	for i := range inputs.Artifacts {
		a := &inputs.Artifacts[i]
		if a.Raw.Data, err = wfvars.Resolve(a.Raw.Data, vars, "artifact "+a.Name); err != nil {
			break
		}
	}
	var cmd []string
	if err == nil {
		cmd, err = resolveCommand(s.template.Container, vars)
	}
	if err != nil {
		r.node(ctx, wf, parent, id, name, s, wfv1.NodeFailed, err.Error(), nil)
		return fmt.Errorf("step %s: %w", s.name, err)
	}
	r.node(ctx, wf, parent, id, name, s, wfv1.NodeRunning, "", inputs)
	msg := ""
	switch s.kind {
	case stepInstall:
		err = r.install(ctx, inputs, cmd)
	case stepFault:
		msg, err = r.fault(ctx, inputs)
	case stepCleanup:
		msg, err = r.cleanup(ctx, cmd)
	}
	if err != nil {
		r.node(ctx, wf, parent, id, name, s, wfv1.NodeFailed, err.Error(), nil)
		return fmt.Errorf("step %s: %w", s.name, err)
	}
	r.node(ctx, wf, parent, id, name, s, wfv1.NodeSucceeded, msg, nil)
	return nil
}

func (r *run) namespace() string {
	if ns := r.vars["workflow.parameters.adminModeNamespace"]; ns != "" {
		return ns
	}
	return r.ns
}

func (r *run) install(ctx context.Context, inputs *wfv1.Inputs, cmd []string) error {
	ns := r.namespace()
	if k := parseKubectl(cmd); k.namespace != "" { // kubectl apply -f /tmp/... -n NS
		ns = k.namespace
	}
	for _, a := range inputs.Artifacts {
		x, err := litmus.DecodeExperiment(a.Raw.Data)
		if err != nil {
			return fmt.Errorf("ChaosExperiment %s: %w", a.Name, err)
		}
		if x.Namespace == "" {
			x.Namespace = ns
		}
		u, err := litmus.ToUnstructured(x)
		if err != nil {
			return err
		}
		api := r.e.Dynamic.Resource(litmus.ChaosExperimentGVR()).Namespace(x.Namespace)
		if _, err := api.Create(ctx, u, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			live, gerr := api.Get(ctx, x.Name, metav1.GetOptions{})
			if gerr != nil {
				return gerr
			}
			u.SetResourceVersion(live.GetResourceVersion())
			if _, err := api.Update(ctx, u, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("update ChaosExperiment %s: %w", x.Name, err)
			}
		} else if err != nil {
			return fmt.Errorf("create ChaosExperiment %s: %w", x.Name, err)
		}
	}
	return nil
}

// fault creates the step's ChaosEngine and waits until the executor has completed or stopped it,
// like litmus-checker (the step succeeds whatever the verdict; the verdict is in the message).
func (r *run) fault(ctx context.Context, inputs *wfv1.Inputs) (string, error) {
	en, err := litmus.DecodeEngine(inputs.Artifacts[0].Raw.Data)
	if err != nil {
		return "", fmt.Errorf("ChaosEngine: %w", err)
	}
	var raw map[string]any
	if yaml.Unmarshal([]byte(inputs.Artifacts[0].Raw.Data), &raw) == nil {
		for _, w := range litmus.EngineWarnings(raw) {
			r.e.warn(r.log, "ChaosEngine "+en.Name+en.GenerateName+": "+w)
		}
	}
	if en.Namespace == "" {
		en.Namespace = r.namespace()
	}
	if len(r.e.EngineLabels) > 0 {
		if en.Labels == nil {
			en.Labels = map[string]string{}
		}
		for k, v := range r.e.EngineLabels {
			en.Labels[k] = v
		}
	}
	u, err := litmus.ToUnstructured(en)
	if err != nil {
		return "", err
	}
	api := r.e.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(en.Namespace)
	created, err := api.Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create ChaosEngine: %w", err)
	}
	r.log.Info("ChaosEngine created", zap.String("engine", created.GetName()))
	t := time.NewTicker(r.e.Poll)
	defer t.Stop()
	stopped := false
	var giveUp <-chan time.Time // once ctx has ended
	for {
		obj, err := api.Get(context.WithoutCancel(ctx), created.GetName(), metav1.GetOptions{})
		if err == nil {
			var cur litmus.ChaosEngine
			if litmus.FromUnstructured(obj, &cur) == nil {
				if s := cur.Status.EngineStatus; s == litmus.EngineStatusCompleted || s == litmus.EngineStatusStopped {
					verdict := ""
					if len(cur.Status.Experiments) > 0 {
						verdict = string(cur.Status.Experiments[0].Verdict)
					}
					if r.e.OnFault != nil {
						r.e.OnFault(&cur)
					}
					return fmt.Sprintf("ChaosEngine %s %s, verdict %s", cur.Name, s, verdict), nil
				}
			}
		} else if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("ChaosEngine %s was deleted", created.GetName())
		}
		if !stopped && (ctx.Err() != nil || r.shutdown(ctx)) {
			stopped = true
			_, _ = api.Patch(context.WithoutCancel(ctx), created.GetName(), types.MergePatchType, []byte(`{"spec":{"engineState":"stop"}}`), metav1.PatchOptions{})
		}
		if giveUp == nil && ctx.Err() != nil {
			giveUp = time.After(r.e.StopGrace)
		}
		select {
		case <-t.C:
		case <-giveUp:
			return "", fmt.Errorf("ChaosEngine %s did not stop within %s of the run's end", created.GetName(), r.e.StopGrace)
		}
	}
}

// cleanup does what the step's `kubectl delete chaosengine ...` says: the named engines, or those
// matching -l, in -n (default: the admin-mode namespace). Without names or -l, the run's engines.
func (r *run) cleanup(ctx context.Context, cmd []string) (string, error) {
	k := parseKubectl(cmd)
	ns := k.namespace
	if ns == "" {
		ns = r.namespace()
	}
	api := r.e.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns)
	ctx = context.WithoutCancel(ctx)
	if len(k.names) > 0 {
		for _, n := range k.names {
			if err := api.Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return "", fmt.Errorf("delete ChaosEngine %s/%s: %w", ns, n, err)
			}
		}
		return fmt.Sprintf("deleted ChaosEngine(s) %s in %s", strings.Join(k.names, ", "), ns), nil
	}
	sel := k.selector
	if sel == "" {
		sel = litmus.LabelWorkflowRunID + "=" + string(r.uid)
	}
	if err := api.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: sel}); err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("delete ChaosEngines %s in %s: %w", sel, ns, err)
	}
	return fmt.Sprintf("deleted the ChaosEngines %s in %s", sel, ns), nil
}
