package subscriber

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaos-agent/chaos-agent/executor/target"
	"github.com/chaos-agent/chaos-agent/internal/clockutil"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	"github.com/chaos-agent/chaos-agent/internal/wfvars"
	"github.com/chaos-agent/chaos-agent/policy"
)

// handle executes one action. Failures are logged, counted and — for applies of runs — reported
// to the control plane as a failed run; the agent never stops because of an action.
func (s *Subscriber) handle(ctx context.Context, a Action) {
	log := s.log.With(zap.String("requestType", a.RequestType), zap.String("requestID", a.RequestID))
	rt, err := normalizeRequestType(a.RequestType)
	if err != nil {
		s.o.Metrics.actions.WithLabelValues("unknown", "refused").Inc()
		log.Warn("ignoring an action of unknown type", zap.Error(err))
		return
	}
	defer func() {
		if r := recover(); r != nil { // a bug must not take the link down
			s.o.Metrics.actions.WithLabelValues(string(rt), "panic").Inc()
			log.Error("action handler panicked", zap.Any("panic", r))
		}
	}()
	switch rt {
	case RequestCreate, RequestUpdate, RequestDelete, RequestGet:
		err = s.apply(ctx, rt, a)
	case RequestLogs:
		err = s.podLogs(ctx, a)
	case RequestKubeObject:
		err = s.kubeObjects(ctx, a)
	case RequestNamespace:
		err = s.namespaces(ctx, a)
	case RequestWorkflowRunStop:
		err = s.stopRun(ctx, a.externalData())
	case RequestWorkflowRunDelete:
		err = s.deleteRun(ctx, a.externalData())
	case RequestWorkflowDelete:
		err = s.deleteExperiment(ctx, a.externalData())
	case RequestHaltAll:
		if s.o.HaltAll == nil {
			err = errors.New("halt_all: this agent has no executor to halt")
			break
		}
		s.o.HaltAll("ordered by the control plane (" + a.RequestID + ")")
	}
	if err != nil {
		s.o.Metrics.actions.WithLabelValues(string(rt), "error").Inc()
		log.Error("action failed", zap.Error(err))
		return
	}
	s.o.Metrics.actions.WithLabelValues(string(rt), "ok").Inc()
	log.Info("action done")
}

// parseManifest decodes a single object given as YAML or JSON.
func parseManifest(text string) (*unstructured.Unstructured, error) {
	u, err := kube.DecodeObject(text)
	if err != nil {
		return nil, err
	}
	if u.GetAPIVersion() == "" {
		return nil, errors.New("manifest has no apiVersion or kind")
	}
	if _, err := schema.ParseGroupVersion(u.GetAPIVersion()); err != nil {
		return nil, fmt.Errorf("manifest apiVersion: %w", err)
	}
	return u, nil
}

// updatedBy encodes a username as the updated_by label value: unpadded base64url (the server
// decodes it that way). A value that is not a valid label is left out.
func updatedBy(username string) string {
	if username == "" {
		return ""
	}
	v := base64.RawURLEncoding.EncodeToString([]byte(username))
	if len(v) > 63 || strings.HasSuffix(v, "-") || strings.HasSuffix(v, "_") {
		return ""
	}
	return v
}

// apply runs create/update/delete/get of one object, after the cluster owner's policy allows it.
func (s *Subscriber) apply(ctx context.Context, rt RequestType, a Action) error {
	obj, err := parseManifest(a.K8sManifest)
	if err != nil {
		return fmt.Errorf("%s: %w", rt, err) // no ids to report a run with
	}
	fail := func(err error) error {
		if rt == RequestCreate || rt == RequestUpdate {
			s.reportFailedRun(ctx, obj, a.username(), err)
		}
		return err
	}
	if rt == RequestCreate || rt == RequestUpdate {
		// Argo resolves only templates, at run time: the Workflow's own metadata must be
		// resolved here, or the API server rejects (or stores) {{workflow.parameters.*}}.
		if err := resolveWorkflowMeta(obj, s.o.Clock.Now()); err != nil {
			return fail(fmt.Errorf("%s %s %s: %w", rt, obj.GetKind(), nameOf(obj), err))
		}
	}
	gvk := obj.GroupVersionKind()
	mapping, err := s.o.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fail(fmt.Errorf("%s %s: unknown kind: %w", rt, gvk.Kind, err))
	}
	ns := ""
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns = a.Namespace
		if ns == "" {
			ns = obj.GetNamespace()
		}
		if ns == "" {
			ns = s.o.Namespace
		}
		obj.SetNamespace(ns)
	}
	if rt != RequestGet {
		if err := s.checkPolicy(ctx, rt, obj, ns, mapping.Scope.Name() == meta.RESTScopeNameNamespace); err != nil {
			return fail(err)
		}
	}
	if rt == RequestCreate || rt == RequestUpdate {
		if n := mirrorImages(obj, s.o.ImageRegistry); n > 0 {
			s.log.Info("step images pointed at the image registry", zap.String("registry", s.o.ImageRegistry), zap.Int("images", n))
		}
		if v := updatedBy(a.username()); v != "" {
			l := obj.GetLabels()
			if l == nil {
				l = map[string]string{}
			}
			l[litmus.LabelUpdatedBy] = v
			obj.SetLabels(l)
		}
	}
	ri := s.o.Dynamic.Resource(mapping.Resource).Namespace(ns)
	switch rt {
	case RequestCreate:
		if err := s.create(ctx, obj, mapping.Resource, ns); err != nil && !apierrors.IsAlreadyExists(err) {
			return fail(fmt.Errorf("create %s %s/%s: %w", gvk.Kind, ns, nameOf(obj), err))
		}
	case RequestUpdate:
		live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil // upstream semantics: nothing to update
		}
		if err != nil {
			return fail(fmt.Errorf("update %s %s/%s: %w", gvk.Kind, ns, obj.GetName(), err))
		}
		obj.SetResourceVersion(live.GetResourceVersion())
		if _, err := ri.Update(ctx, obj, metav1.UpdateOptions{FieldManager: "chaos-agent"}); err != nil {
			return fail(fmt.Errorf("update %s %s/%s: %w", gvk.Kind, ns, obj.GetName(), err))
		}
	case RequestDelete:
		if name := obj.GetName(); name != "" {
			if err := ri.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete %s %s/%s: %w", gvk.Kind, ns, name, err)
			}
			return nil
		}
		sel := obj.GetLabels()
		delete(sel, litmus.LabelUpdatedBy)
		if len(sel) == 0 {
			return errors.New("delete: the manifest has neither a name nor labels")
		}
		if err := ri.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()}); err != nil {
			return fmt.Errorf("delete %s %s by labels: %w", gvk.Kind, ns, err)
		}
	case RequestGet:
		if _, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{}); err != nil {
			return fmt.Errorf("get %s %s/%s: %w", gvk.Kind, ns, obj.GetName(), err)
		}
	}
	return nil
}

func nameOf(u *unstructured.Unstructured) string {
	if n := u.GetName(); n != "" {
		return n
	}
	return u.GetGenerateName() + "*"
}

// create uses Argo's typed client for Workflows and CronWorkflows (so their schema is checked
// by the Go types too) and the dynamic client for anything else.
func (s *Subscriber) create(ctx context.Context, obj *unstructured.Unstructured, gvr schema.GroupVersionResource, ns string) error {
	switch obj.GroupVersionKind().GroupKind() {
	case schema.GroupKind{Group: "argoproj.io", Kind: "Workflow"}:
		var wf wfv1.Workflow
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &wf); err != nil {
			return fmt.Errorf("not a valid Workflow: %w", err)
		}
		created, err := s.o.Argo.ArgoprojV1alpha1().Workflows(ns).Create(ctx, &wf, metav1.CreateOptions{FieldManager: "chaos-agent"})
		if err == nil {
			s.earlyEvent(ctx, created)
		}
		return err
	case schema.GroupKind{Group: "argoproj.io", Kind: "CronWorkflow"}:
		var cwf wfv1.CronWorkflow
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &cwf); err != nil {
			return fmt.Errorf("not a valid CronWorkflow: %w", err)
		}
		_, err := s.o.Argo.ArgoprojV1alpha1().CronWorkflows(ns).Create(ctx, &cwf, metav1.CreateOptions{FieldManager: "chaos-agent"})
		return err
	}
	_, err := s.o.Dynamic.Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{FieldManager: "chaos-agent"})
	return err
}

// resolveWorkflowMeta resolves the workflow variables in an argoproj.io Workflow's or
// CronWorkflow's metadata and workflowMetadata (anything else is left as it is).
func resolveWorkflowMeta(obj *unstructured.Unstructured, now time.Time) error {
	if obj.GroupVersionKind().Group != "argoproj.io" {
		return nil
	}
	var meta *metav1.ObjectMeta
	var wmLabels, wmAnnotations map[string]string
	var wmPath []string
	switch obj.GetKind() {
	case "Workflow":
		var wf wfv1.Workflow
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &wf); err != nil {
			return fmt.Errorf("not a valid Workflow: %w", err)
		}
		if err := wfvars.ResolveWorkflowMeta(&wf, now); err != nil {
			return err
		}
		meta, wmPath = &wf.ObjectMeta, []string{"spec", "workflowMetadata"}
		if wf.Spec.WorkflowMetadata != nil {
			wmLabels, wmAnnotations = wf.Spec.WorkflowMetadata.Labels, wf.Spec.WorkflowMetadata.Annotations
		}
	case "CronWorkflow":
		var cwf wfv1.CronWorkflow
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &cwf); err != nil {
			return fmt.Errorf("not a valid CronWorkflow: %w", err)
		}
		if err := wfvars.ResolveCronWorkflowMeta(&cwf, now); err != nil {
			return err
		}
		meta, wmPath = &cwf.ObjectMeta, []string{"spec", "workflowMetadata"}
		if cwf.Spec.WorkflowMetadata != nil {
			wmLabels, wmAnnotations = cwf.Spec.WorkflowMetadata.Labels, cwf.Spec.WorkflowMetadata.Annotations
		}
	default:
		return nil
	}
	obj.SetName(meta.Name)
	obj.SetGenerateName(meta.GenerateName)
	obj.SetNamespace(meta.Namespace)
	obj.SetLabels(meta.Labels)
	obj.SetAnnotations(meta.Annotations)
	if wmLabels != nil {
		if err := unstructured.SetNestedStringMap(obj.Object, wmLabels, append(wmPath, "labels")...); err != nil {
			return err
		}
	}
	if wmAnnotations != nil {
		if err := unstructured.SetNestedStringMap(obj.Object, wmAnnotations, append(wmPath, "annotations")...); err != nil {
			return err
		}
	}
	return nil
}

func (s *Subscriber) checkPolicy(ctx context.Context, rt RequestType, obj *unstructured.Unstructured, ns string, namespaced bool) error {
	pol, err := s.o.Policy.Get(ctx)
	if err != nil {
		s.log.Error("invalid cluster policy: refusing every action until it is fixed", zap.Error(err))
	}
	if rt != RequestDelete {
		if err := pol.CheckKillSwitch(); err != nil {
			return err
		}
	}
	if !pol.AllowsKind(obj.GetKind()) {
		return &policy.Refusal{Rule: "allowedKinds", Value: obj.GetKind(),
			Reason: fmt.Sprintf("kind %s is not allowed (allowed: %s)", obj.GetKind(), strings.Join(pol.AllowedKinds, ", "))}
	}
	if !namespaced {
		return &policy.Refusal{Rule: "allowedKinds", Value: obj.GetKind(), Reason: fmt.Sprintf("cluster-scoped %s objects are not allowed", obj.GetKind())}
	}
	if err := pol.CheckNamespace(obj.GetKind()+" "+nameOf(obj), ns); err != nil {
		return err
	}
	if rt == RequestDelete {
		return nil
	}
	// What the Workflow's own pods may be (service account, host access, privileges).
	if obj.GroupVersionKind().Group == "argoproj.io" {
		if err := policy.CheckWorkflow(pol.Argo, s.o.AgentServiceAccount, obj); err != nil {
			return err
		}
	}
	// Look inside the experiment: the ChaosEngines it would create, with the Workflow's
	// parameters substituted. This is the early check; the executor checks again at run time,
	// on the engine's fully resolved inputs.
	engines, err := embeddedEngines(obj)
	if err != nil {
		return err
	}
	if obj.GetKind() == litmus.KindChaosEngine { // applied directly (allowedKinds lists it)
		var en litmus.ChaosEngine
		if err := litmus.FromUnstructured(obj, &en); err != nil {
			return &policy.Refusal{Rule: "decode", Value: litmus.KindChaosEngine, Reason: "the ChaosEngine cannot be decoded: " + err.Error()}
		}
		engines = append(engines, &en)
	}
	for _, en := range engines {
		if err := checkEngine(pol, en, ns); err != nil {
			return err
		}
	}
	return nil
}

// checkEngine is the early check of an embedded ChaosEngine: its namespace, its targets, the
// PODS_AFFECTED_PERC it sets, and its probes.
func checkEngine(pol policy.Policy, en *litmus.ChaosEngine, wfNamespace string) error {
	name := litmus.EngineKey(en)
	engineNS := en.Namespace
	if engineNS == "" {
		engineNS = wfNamespace
	}
	if err := pol.CheckNamespace("fault "+name, engineNS); err != nil {
		return err
	}
	engineCopy := *en
	engineCopy.Namespace = engineNS
	entries, err := target.FromEngine(&engineCopy)
	if err != nil {
		return &policy.Refusal{Rule: "targets", Value: err.Error(), Reason: "fault " + name + ": its targets cannot be parsed"}
	}
	for _, t := range entries {
		if err := pol.CheckNamespace("fault "+name+" target "+t.String(), t.Namespace); err != nil {
			return err
		}
	}
	for _, x := range en.Spec.Experiments {
		for _, e := range x.Spec.Components.Env {
			if e.Name == "PODS_AFFECTED_PERC" {
				if err := pol.CheckPodsAffectedPerc(e.Value); err != nil {
					return fmt.Errorf("fault %s: %w", name, err)
				}
			}
		}
		for _, p := range x.Spec.Probe {
			if err := pol.CheckProbe(p, engineNS); err != nil {
				return fmt.Errorf("fault %s: %w", name, err)
			}
		}
	}
	return nil
}

// embeddedEngines returns the ChaosEngines carried as raw input artifacts of a Workflow's (or a
// CronWorkflow's) templates, with the Workflow's parameters substituted. Kinds are compared after
// decoding, so no spelling of "ChaosEngine" escapes the check; a ChaosEngine that cannot be
// decoded is refused, and so are checked values (namespaces, PODS_AFFECTED_PERC) that are still
// templated after substitution.
func embeddedEngines(obj *unstructured.Unstructured) ([]*litmus.ChaosEngine, error) {
	var templates []any
	specPath := []string{"spec"}
	switch obj.GetKind() {
	case "Workflow":
		templates, _, _ = unstructured.NestedSlice(obj.Object, "spec", "templates")
	case "CronWorkflow":
		templates, _, _ = unstructured.NestedSlice(obj.Object, "spec", "workflowSpec", "templates")
		specPath = []string{"spec", "workflowSpec"}
	}
	vars := artifactVars(obj, specPath)
	var out []*litmus.ChaosEngine
	for _, t := range templates {
		tm, _ := t.(map[string]any)
		arts, _, _ := unstructured.NestedSlice(tm, "inputs", "artifacts")
		for _, art := range arts {
			am, _ := art.(map[string]any)
			data, _, _ := unstructured.NestedString(am, "raw", "data")
			if strings.TrimSpace(data) == "" {
				continue
			}
			if resolved, err := wfvars.Resolve(data, vars, ""); err == nil {
				data = resolved // what Argo will create; what stays templated is refused where it is checked
			}
			en, err := parseEngine(data)
			if err != nil {
				return nil, err
			}
			if en != nil {
				out = append(out, en)
			}
		}
	}
	return out, nil
}

// artifactVars are the workflow variables as they will be when Argo runs the steps (the run's
// uid, name and pods are placeholders: only parameters matter to the policy).
func artifactVars(obj *unstructured.Unstructured, specPath []string) wfvars.Vars {
	var spec wfv1.WorkflowSpec
	m, _, _ := unstructured.NestedMap(obj.Object, specPath...)
	if runtime.DefaultUnstructuredConverter.FromUnstructured(m, &spec) != nil {
		return wfvars.Vars{}
	}
	meta := metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), Labels: obj.GetLabels()}
	vars, err := wfvars.ForWorkflow(&meta, &spec)
	if err != nil {
		return wfvars.Vars{}
	}
	return vars.With("workflow.uid", "uid", "pod.name", "pod", "workflow.name", "name")
}

// parseEngine decodes an artifact for the policy check: a ChaosEngine, nil for anything else
// (other kinds, scripts). Unlike litmus.EngineArtifact it has no textual pre-filter (an escaped
// kind is still a ChaosEngine) and refuses what it cannot check: an oversize artifact, or a
// ChaosEngine that does not decode.
func parseEngine(data string) (*litmus.ChaosEngine, error) {
	if len(data) > litmus.MaxArtifactBytes {
		return nil, &policy.Refusal{Rule: "decode", Value: fmt.Sprintf("%d bytes", len(data)),
			Reason: fmt.Sprintf("an artifact larger than %d bytes cannot be checked", litmus.MaxArtifactBytes)}
	}
	if litmus.ArtifactKind(data) != litmus.KindChaosEngine {
		return nil, nil // not a ChaosEngine (a script, a file): the executor still checks any engine at run time
	}
	en, err := litmus.DecodeEngine(data)
	if err != nil {
		return nil, &policy.Refusal{Rule: "decode", Value: litmus.KindChaosEngine, Reason: "a ChaosEngine cannot be decoded: " + err.Error()}
	}
	return en, nil
}

// reportFailedRun tells the control plane that a run could not even start, so that it never
// stays Queued: a completed run event in phase Error with the reason.
func (s *Subscriber) reportFailedRun(ctx context.Context, obj *unstructured.Unstructured, username string, cause error) {
	l := obj.GetLabels()
	experimentID := l[litmus.LabelWorkflowID]
	if experimentID == "" {
		s.log.Warn("cannot report the failed apply as a run: the manifest has no workflow_id label", zap.Error(cause))
		return
	}
	runID := l[litmus.LabelNotifyID]
	if runID == "" {
		runID = "failed-" + obj.GetName()
	}
	now := s.o.Clock.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	ev := executionData{
		ExperimentType: "events", RevisionID: l[litmus.LabelRevisionID], ExperimentID: experimentID, EventType: "ADD",
		UID: runID, Namespace: obj.GetNamespace(), Name: obj.GetName(), CreationTimestamp: ts,
		Phase: "Error", Message: "chaos-agent could not start this run: " + cause.Error(),
		StartedAt: ts, FinishedAt: ts, Nodes: map[string]node{}, UpdatedBy: updatedBy(username),
	}
	if n := l[litmus.LabelNotifyID]; n != "" {
		ev.NotifyID = &n
	}
	s.queueEvent(ctx, &ev, obj.GetName(), true)
}

// findWorkflow finds a Workflow in the agent's namespace by UID (from the informer cache).
func (s *Subscriber) findWorkflow(uid string) (*runState, error) {
	if uid == "" {
		return nil, errors.New("no workflow UID given")
	}
	wf, err := s.findWorkflowAnywhere(uid)
	if err != nil || wf.Namespace != s.o.Namespace {
		return nil, fmt.Errorf("no Workflow with UID %s in namespace %s", uid, s.o.Namespace)
	}
	return wf, nil
}

// stopRun stops one run: its ChaosEngines go to engineState stop, the Workflow is shut down with
// Stop (exit handlers, such as the cleanup step, still run).
func (s *Subscriber) stopRun(ctx context.Context, uid string) error {
	wf, err := s.findWorkflow(uid)
	if err != nil {
		return fmt.Errorf("stop run: %w", err)
	}
	return s.stopWorkflow(ctx, wf)
}

func (s *Subscriber) stopWorkflow(ctx context.Context, wf *runState) error {
	errs := []error{s.stopEngines(ctx, string(wf.UID))}
	patch := []byte(`{"spec":{"shutdown":"Stop"}}`)
	if _, err := s.o.Argo.ArgoprojV1alpha1().Workflows(wf.Namespace).Patch(ctx, wf.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("shut down Workflow %s: %w", wf.Name, err))
	}
	return errors.Join(errs...)
}

// selectorFor builds key=value, refusing values that are not label values (they come from the
// control plane).
func selectorFor(key, value string) (string, error) {
	r, err := labels.NewRequirement(key, selection.Equals, []string{value})
	if err != nil {
		return "", fmt.Errorf("%q is not a valid %s: %w", value, key, err)
	}
	return labels.NewSelector().Add(*r).String(), nil
}

// stopEngines sets engineState stop on the run's ChaosEngines in the agent's namespace (found in
// the watcher's cache, which holds every engine labelled workflow_run_id).
func (s *Subscriber) stopEngines(ctx context.Context, uid string) error {
	api := s.o.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(s.o.Namespace)
	var errs []error
	for _, en := range s.enginesOfRun(uid) {
		if en.GetNamespace() != s.o.Namespace {
			continue
		}
		if _, err := api.Patch(ctx, en.GetName(), types.MergePatchType, []byte(`{"spec":{"engineState":"stop"}}`), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("stop ChaosEngine %s: %w", en.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

func (s *Subscriber) deleteRun(ctx context.Context, uid string) error {
	wf, err := s.findWorkflow(uid)
	if err != nil {
		return fmt.Errorf("delete run: %w", err)
	}
	err = s.o.Argo.ArgoprojV1alpha1().Workflows(wf.Namespace).Delete(ctx, wf.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Workflow %s: %w", wf.Name, err)
	}
	return nil
}

func (s *Subscriber) deleteExperiment(ctx context.Context, experimentID string) error {
	if experimentID == "" {
		return errors.New("delete experiment: no experiment ID given")
	}
	var errs []error
	for _, obj := range s.workflowStore().List() {
		wf, ok := obj.(*runState)
		if !ok || wf.Namespace != s.o.Namespace || wf.Labels[litmus.LabelWorkflowID] != experimentID {
			continue
		}
		errs = append(errs, s.stopEngines(ctx, string(wf.UID)))
		if err := s.o.Argo.ArgoprojV1alpha1().Workflows(wf.Namespace).Delete(ctx, wf.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete Workflow %s: %w", wf.Name, err))
		}
	}
	return errors.Join(errs...)
}

// reply posts a response mutation, retrying transient failures a few times.
func (s *Subscriber) reply(ctx context.Context, doc, field string, req map[string]any) error {
	req["infraID"] = s.identity()
	var err error
	for attempt := range 4 {
		if err = s.gql.do(ctx, doc, map[string]any{"request": req}, field, nil); err == nil || !IsTransient(err) {
			return err
		}
		if clockutil.Sleep(ctx, s.o.Clock, time.Duration(attempt+1)*500*time.Millisecond) != nil {
			break
		}
	}
	return err
}

// podLogs answers a logs request: the step pod's main container log and, for a fault step, the
// history of the ChaosEngine (chaos-agent runs faults in-process: there is no experiment pod).
func (s *Subscriber) podLogs(ctx context.Context, a Action) error {
	var req struct {
		ExperimentRunID string  `json:"experimentRunID"`
		PodName         string  `json:"podName"`
		PodNamespace    string  `json:"podNamespace"`
		PodType         string  `json:"podType"`
		ExpPod          *string `json:"expPod"`
		RunnerPod       *string `json:"runnerPod"`
		ChaosNamespace  *string `json:"chaosNamespace"`
	}
	if err := json.Unmarshal([]byte(a.externalData()), &req); err != nil {
		return fmt.Errorf("logs: bad request: %w", err)
	}
	out := struct {
		MainLogs  string            `json:"mainLogs"`
		ChaosLogs map[string]string `json:"chaosLogs,omitempty"`
	}{}
	if req.PodNamespace != s.o.Namespace && !s.o.ClusterScope {
		out.MainLogs = fmt.Sprintf("namespace %q is outside this chaos-agent's scope", req.PodNamespace)
	} else {
		out.MainLogs = s.readLog(ctx, req.PodNamespace, req.PodName, "main")
	}
	if strings.EqualFold(req.PodType, "chaosengine") && req.ChaosNamespace != nil && req.ExpPod != nil {
		out.ChaosLogs = map[string]string{*req.ExpPod: s.engineHistory(ctx, *req.ChaosNamespace, req.PodName)}
	}
	b, _ := json.Marshal(out)
	return s.reply(ctx, docPodLog, "podLog", map[string]any{
		"requestID": a.RequestID, "experimentRunID": req.ExperimentRunID, "podName": req.PodName, "podType": req.PodType, "log": string(b),
	})
}

func (s *Subscriber) readLog(ctx context.Context, ns, pod, container string) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	limit := int64(1 << 20)
	rc, err := s.o.Kube.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, LimitBytes: &limit}).Stream(ctx)
	if err != nil {
		return "Failed to get pod logs: " + err.Error()
	}
	defer func() { _ = rc.Close() }() // read side: nothing to lose
	b, err := io.ReadAll(rc)
	if err != nil {
		return "Failed to read pod logs: " + err.Error()
	}
	return string(b)
}

// engineHistory renders the events of the ChaosEngines created by a step pod.
func (s *Subscriber) engineHistory(ctx context.Context, ns, stepPod string) string {
	sel, err := selectorFor(litmus.LabelStepPodName, stepPod)
	if err != nil {
		return err.Error()
	}
	engines, err := s.o.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return "cannot list ChaosEngines: " + err.Error()
	}
	var b strings.Builder
	b.WriteString("chaos-agent runs faults in-process; the fault's events:\n")
	for _, en := range engines.Items {
		evs, err := s.o.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(en.GetUID())})
		if err != nil {
			fmt.Fprintf(&b, "%s: cannot list events: %v\n", en.GetName(), err)
			continue
		}
		sort.Slice(evs.Items, func(i, j int) bool { return evs.Items[i].LastTimestamp.Before(&evs.Items[j].LastTimestamp) })
		for _, ev := range evs.Items {
			fmt.Fprintf(&b, "%s %s %s/%s: %s\n", ev.LastTimestamp.UTC().Format(time.RFC3339), ev.Type, en.GetName(), ev.Reason, ev.Message)
		}
	}
	return b.String()
}

// kubeObjects answers a kubeobject request: the objects of one resource in a namespace.
func (s *Subscriber) kubeObjects(ctx context.Context, a Action) error {
	var req struct {
		KubeObjRequest struct {
			Group    string `json:"group"`
			Version  string `json:"version"`
			Resource string `json:"resource"`
		} `json:"kubeObjRequest"`
		Namespace string `json:"namespace"`
	}
	if err := json.Unmarshal([]byte(a.externalData()), &req); err != nil {
		return fmt.Errorf("kubeobject: bad request: %w", err)
	}
	type item struct {
		Name              string   `json:"name"`
		UID               string   `json:"uid"`
		Namespace         string   `json:"namespace"`
		APIVersion        string   `json:"apiVersion"`
		CreationTimestamp string   `json:"creationTimestamp"`
		Containers        any      `json:"containers"`
		TermGrace         *int64   `json:"terminationGracePeriods"`
		Volumes           any      `json:"volumes"`
		Labels            []string `json:"labels"`
	}
	data := []item{}
	var listErr error
	if req.Namespace != s.o.Namespace && !s.o.ClusterScope {
		listErr = fmt.Errorf("namespace %q is outside this chaos-agent's scope", req.Namespace)
	} else {
		gvr := schema.GroupVersionResource{Group: req.KubeObjRequest.Group, Version: req.KubeObjRequest.Version, Resource: req.KubeObjRequest.Resource}
		var list *unstructured.UnstructuredList
		if _, err := s.o.Mapper.KindFor(gvr); err != nil || gvr.Version == "" || gvr.Resource == "" {
			listErr = fmt.Errorf("unknown resource %q in %s/%s", gvr.Resource, gvr.Group, gvr.Version)
		} else {
			list, listErr = s.o.Dynamic.Resource(gvr).Namespace(req.Namespace).List(ctx, metav1.ListOptions{})
		}
		if listErr == nil {
			for _, o := range list.Items {
				var ls []string
				for k, v := range o.GetLabels() {
					ls = append(ls, k+"="+v)
				}
				sort.Strings(ls)
				data = append(data, item{Name: o.GetName(), UID: string(o.GetUID()), Namespace: o.GetNamespace(), APIVersion: o.GetAPIVersion(),
					CreationTimestamp: o.GetCreationTimestamp().String(), TermGrace: o.GetDeletionGracePeriodSeconds(), Labels: ls})
			}
		}
	}
	if listErr != nil {
		s.log.Warn("kubeobject: listing failed; replying with an empty list", zap.Error(listErr))
	}
	b, _ := json.Marshal(map[string]any{"namespace": req.Namespace, "data": data})
	return s.reply(ctx, docKubeObj, "kubeObj", map[string]any{"requestID": a.RequestID, "kubeObj": string(b)})
}

// namespaces answers a namespace request: the agent's namespace, or every namespace in cluster scope.
func (s *Subscriber) namespaces(ctx context.Context, a Action) error {
	names := []map[string]string{{"name": s.o.Namespace}}
	if s.o.ClusterScope {
		list, err := s.o.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list namespaces: %w", err)
		}
		names = names[:0]
		for _, n := range list.Items {
			names = append(names, map[string]string{"name": n.Name})
		}
	}
	b, _ := json.Marshal(names)
	return s.reply(ctx, docKubeNamespace, "kubeNamespace", map[string]any{"requestID": a.RequestID, "kubeNamespace": string(b)})
}
