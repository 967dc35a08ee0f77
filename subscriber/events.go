package subscriber

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argoinformers "github.com/argoproj/argo-workflows/v3/pkg/client/informers/externalversions"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// executionData is the run event's payload (base64 JSON in chaosExperimentRun).
type executionData struct {
	ExperimentType    string          `json:"experimentType"`
	RevisionID        string          `json:"revisionID"`
	NotifyID          *string         `json:"notifyID"`
	ExperimentID      string          `json:"experimentID"`
	EventType         string          `json:"eventType"`
	UID               string          `json:"uid"`
	Namespace         string          `json:"namespace"`
	Name              string          `json:"name"`
	CreationTimestamp string          `json:"creationTimestamp"`
	Phase             string          `json:"phase"`
	Message           string          `json:"message"`
	StartedAt         string          `json:"startedAt"`
	FinishedAt        string          `json:"finishedAt"`
	Nodes             map[string]node `json:"nodes"`
	UpdatedBy         string          `json:"updatedBy"`
}

type node struct {
	Name       string     `json:"name"`
	Phase      string     `json:"phase"`
	Message    string     `json:"message"`
	StartedAt  string     `json:"startedAt"`
	FinishedAt string     `json:"finishedAt"`
	Children   []string   `json:"children"`
	Type       string     `json:"type"`
	ChaosData  *chaosData `json:"chaosData,omitempty"`
}

type chaosData struct {
	EngineUID              string              `json:"engineUID"`
	EngineContext          string              `json:"engineContext"`
	EngineName             string              `json:"engineName"`
	Namespace              string              `json:"namespace"`
	ExperimentName         string              `json:"experimentName"`
	ExperimentStatus       string              `json:"experimentStatus"`
	LastUpdatedAt          string              `json:"lastUpdatedAt"`
	ExperimentVerdict      string              `json:"experimentVerdict"`
	ExperimentPod          string              `json:"experimentPod"`
	RunnerPod              string              `json:"runnerPod"`
	ProbeSuccessPercentage string              `json:"probeSuccessPercentage"`
	FailStep               string              `json:"failStep"`
	ChaosResult            *litmus.ChaosResult `json:"chaosResult"`
}

// watcher feeds run events from Workflows and from the ChaosEngines/ChaosResults they create.
type watcher struct {
	wfFactory  argoinformers.SharedInformerFactory
	dynFactory dynamicinformer.DynamicSharedInformerFactory
	workflows  cache.SharedIndexInformer
	engines    cache.SharedIndexInformer
	results    cache.SharedIndexInformer

	mu    sync.Mutex
	last  map[string]*executionData // last event per run (carry-over of chaos data, §4.4)
	early sync.Map                  // run UID → resource version of the event sent on create
}

func (s *Subscriber) workflowStore() cache.Store { return s.w.workflows.GetStore() }

// newWatcher builds (without starting) the informers run events come from: Workflows with the
// infrastructure's two labels, and the ChaosEngines/ChaosResults of runs (label workflow_run_id).
func (s *Subscriber) newWatcher() *watcher {
	ns := s.o.Namespace
	if s.o.ClusterScope {
		ns = metav1.NamespaceAll
	}
	sel := litmus.LabelInfraID + "=" + s.o.InfraID + "," + litmus.LabelArgoInstanceID + "=" + s.o.InfraID
	wfFactory := argoinformers.NewSharedInformerFactoryWithOptions(s.o.Argo, 0, argoinformers.WithNamespace(ns),
		argoinformers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	dynFactory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(s.o.Dynamic, 0, ns, func(o *metav1.ListOptions) {
		o.LabelSelector = litmus.LabelWorkflowRunID
	})
	w := &watcher{
		wfFactory:  wfFactory,
		dynFactory: dynFactory,
		workflows:  wfFactory.Argoproj().V1alpha1().Workflows().Informer(),
		engines:    dynFactory.ForResource(litmus.ChaosEngineGVR()).Informer(),
		results:    dynFactory.ForResource(litmus.ChaosResultGVR()).Informer(),
		last:       map[string]*executionData{},
	}
	_ = w.workflows.SetTransform(compactWorkflow)
	for _, inf := range []cache.SharedIndexInformer{w.engines, w.results} {
		_ = inf.SetTransform(kube.StripManagedFields)
	}
	// Runs are looked up by UID (actions, chaos object events), engines by their run.
	_ = w.workflows.AddIndexers(cache.Indexers{indexByUID: func(obj any) ([]string, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		return []string{string(m.GetUID())}, nil
	}})
	_ = w.engines.AddIndexers(cache.Indexers{indexByRun: func(obj any) ([]string, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		if run := m.GetLabels()[litmus.LabelWorkflowRunID]; run != "" {
			return []string{run}, nil
		}
		return nil, nil
	}})
	return w
}

// Informer indexes.
const (
	indexByUID = "uid" // Workflows by UID
	indexByRun = "run" // ChaosEngines by their workflow_run_id label
)

// enginesOfRun returns the cached ChaosEngines of a run (label workflow_run_id = its UID).
func (s *Subscriber) enginesOfRun(uid string) []*unstructured.Unstructured {
	objs, _ := s.w.engines.GetIndexer().ByIndex(indexByRun, uid)
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			out = append(out, u)
		}
	}
	return out
}

// watch runs the informers until ctx ends and turns every change into a run event.
func (s *Subscriber) watch(ctx context.Context) error {
	w := s.w
	_, _ = w.workflows.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			switch sent, same := s.sentEarly(obj); {
			case same: // this very version went out from the create's answer
			case sent: // a later version: the control plane already has the run's ADD
				s.onWorkflow(ctx, obj, "UPDATE")
			default:
				s.onWorkflow(ctx, obj, "ADD")
			}
		},
		UpdateFunc: func(_, obj any) { s.onWorkflow(ctx, obj, "UPDATE") },
	})
	// A fault's progress (engine or result status) is reported as an update of its run.
	byRun := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		if wf, err := s.findWorkflowAnywhere(u.GetLabels()[litmus.LabelWorkflowRunID]); err == nil {
			s.onWorkflow(ctx, wf, "UPDATE")
		}
	}
	for _, inf := range []cache.SharedIndexInformer{w.engines, w.results} {
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: byRun, UpdateFunc: func(_, obj any) { byRun(obj) },
		})
	}
	// Engines and results first, so that the initial Workflow events carry their chaos data.
	w.dynFactory.Start(ctx.Done())
	w.dynFactory.WaitForCacheSync(ctx.Done())
	w.wfFactory.Start(ctx.Done())
	<-ctx.Done()
	w.dynFactory.Shutdown()
	return nil
}

// earlyEvent queues the first event of a run the agent has just created, from the API server's
// answer, without waiting for the watch to deliver the same object: a run's start reaches the
// control plane one watch delivery sooner. The informer's ADD of that same version is then
// skipped, and an ADD of a later version is reported as an UPDATE (sentEarly).
func (s *Subscriber) earlyEvent(ctx context.Context, wf *wfv1.Workflow) {
	obj, err := compactWorkflow(wf)
	if err != nil {
		return
	}
	rs := obj.(*runState)
	if rs.Labels[litmus.LabelInfraID] != s.o.InfraID || rs.Labels[litmus.LabelArgoInstanceID] != s.o.InfraID {
		return // not one the informer watches
	}
	if _, err := s.findWorkflowAnywhere(string(rs.UID)); err == nil {
		return // the watch was faster: its events are queued already
	}
	s.w.early.Store(rs.UID, rs.ResourceVersion)
	s.onWorkflow(ctx, rs, "ADD")
}

// sentEarly reports (once) whether earlyEvent already sent the informer's obj's run (sent), and
// whether it sent this very version (same). The informer's first sight of a run the agent has
// just created can be a later version than the create's answer (Argo updated it in between).
func (s *Subscriber) sentEarly(obj any) (sent, same bool) {
	rs, ok := obj.(*runState)
	if !ok {
		return false, false
	}
	rv, ok := s.w.early.LoadAndDelete(rs.UID)
	return ok, ok && rv == rs.ResourceVersion
}

func (s *Subscriber) findWorkflowAnywhere(uid string) (*runState, error) {
	if uid == "" {
		return nil, fmt.Errorf("no run id")
	}
	objs, _ := s.w.workflows.GetIndexer().ByIndex(indexByUID, uid)
	for _, obj := range objs {
		if wf, ok := obj.(*runState); ok {
			return wf, nil
		}
	}
	return nil, fmt.Errorf("no Workflow %s", uid)
}

// resend queues the current state of every run that has not finished: after a reconnect the
// server converges even if it lost state.
func (s *Subscriber) resend(ctx context.Context) {
	select {
	case <-s.loaded:
	default:
		return // the outbox is still loading, so the watchers have not started: nothing to re-send
	}
	for _, obj := range s.workflowStore().List() {
		if wf, ok := obj.(*runState); ok && wf.FinishedAt.IsZero() {
			s.onWorkflow(ctx, wf, "UPDATE")
		}
	}
}

func (s *Subscriber) onWorkflow(ctx context.Context, obj any, eventType string) {
	wf, ok := obj.(*runState)
	if !ok {
		return
	}
	if wf.Labels[litmus.LabelWorkflowID] == "" {
		return // not a ChaosCenter experiment
	}
	if !s.o.StartTime.IsZero() && wf.CreationTimestamp.Time.Before(s.o.StartTime.Truncate(time.Second)) {
		return
	}
	ev := s.buildEvent(wf, eventType)
	s.queueEvent(ctx, ev, wf.Name, ev.FinishedAt != "")
}

// queueEvent writes the run event to the outbox, bounded (see boundEvent). ev itself is not
// changed: it may be the run's last event, which other events read.
func (s *Subscriber) queueEvent(ctx context.Context, ev *executionData, workflowName string, completed bool) {
	ev = detached(ev)
	boundEvent(ev)
	raw, err := encodeRequest(ev, workflowName, completed)
	for level := 0; err == nil && len(raw) > maxEventBytes && level < 2; level++ {
		shrinkEvent(ev, level) // the outbox drops what is still too large, with a notice
		raw, err = encodeRequest(ev, workflowName, completed)
	}
	if err != nil {
		s.log.Error("cannot encode a run event", zap.Error(err))
		return
	}
	s.outbox.push(ctx, ev.UID, completed, raw, s.o.Clock.Now())
}

// Bounds on the free text of a run event.
const (
	maxEventMessage = 1 << 10
	maxNodeMessage  = 512
)

// boundEvent cuts an event's free text and per-victim lists, each with a marker that says what
// was left out: a Workflow or a fault with a huge message or thousands of victims still makes an
// event the outbox can store.
func boundEvent(ev *executionData) {
	ev.Message = litmus.TruncateText(ev.Message, maxEventMessage)
	for id, n := range ev.Nodes {
		n.Message = litmus.TruncateText(n.Message, maxNodeMessage)
		if cd := n.ChaosData; cd != nil {
			cd.FailStep = litmus.TruncateText(cd.FailStep, litmus.MaxResultText)
			if cd.ChaosResult != nil {
				cd.ChaosResult.Status.Bound(litmus.MaxResultListEntries)
			}
		}
		ev.Nodes[id] = n
	}
}

// shrinkEvent makes an event that is still too large smaller: level 0 drops the ChaosResults
// (the verdict, phase and failStep stay), level 1 cuts every message to a few words.
func shrinkEvent(ev *executionData, level int) {
	for id, n := range ev.Nodes {
		switch level {
		case 0:
			if n.ChaosData != nil && n.ChaosData.ChaosResult != nil {
				cd := *n.ChaosData
				cd.ChaosResult = nil
				n.ChaosData = &cd
			}
		default:
			n.Message = litmus.TruncateText(n.Message, 32)
			if n.ChaosData != nil {
				cd := *n.ChaosData
				cd.FailStep = litmus.TruncateText(cd.FailStep, 128)
				n.ChaosData = &cd
			}
		}
		ev.Nodes[id] = n
	}
	if level == 0 {
		ev.Message = litmus.TruncateText(ev.Message+" (chaos-agent left the ChaosResults out of this event: too large)", maxEventMessage)
	}
}

// detached returns a copy of ev that boundEvent and shrinkEvent may change without touching ev:
// its own nodes map, chaos data and the ChaosResult lists whose entries they edit.
func detached(ev *executionData) *executionData {
	c := *ev
	c.Nodes = make(map[string]node, len(ev.Nodes))
	for id, n := range ev.Nodes {
		if n.ChaosData != nil {
			cd := *n.ChaosData
			if cd.ChaosResult != nil {
				res := *cd.ChaosResult
				res.Status.ProbeStatuses = slices.Clone(res.Status.ProbeStatuses)
				res.Status.SkippedVictims = slices.Clone(res.Status.SkippedVictims)
				cd.ChaosResult = &res
			}
			n.ChaosData = &cd
		}
		c.Nodes[id] = n
	}
	return &c
}

// encodeRequest is the stored chaosExperimentRun request of an event (without the identity).
func encodeRequest(ev *executionData, workflowName string, completed bool) (json.RawMessage, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	req := map[string]any{
		"experimentID": ev.ExperimentID, "experimentRunID": ev.UID, "experimentName": workflowName,
		"executionData": base64.StdEncoding.EncodeToString(data), "revisionID": ev.RevisionID,
		"completed": completed, "updatedBy": ev.UpdatedBy,
	}
	if ev.NotifyID != nil {
		req["notifyID"] = *ev.NotifyID
	}
	return json.Marshal(req)
}

func unixString(t metav1.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// buildEvent turns a Workflow (and the chaos objects of its fault steps) into a run event,
// following litmus-protocol §4.2–4.4.
func (s *Subscriber) buildEvent(wf *runState, eventType string) *executionData {
	ev := &executionData{
		ExperimentType: "events", RevisionID: wf.Labels[litmus.LabelRevisionID], ExperimentID: wf.Labels[litmus.LabelWorkflowID],
		EventType: eventType, UID: string(wf.UID), Namespace: wf.Namespace, Name: wf.Name,
		CreationTimestamp: unixString(wf.CreationTimestamp), Phase: workflowPhase(wf.Phase), Message: wf.Message,
		StartedAt: unixString(wf.StartedAt), FinishedAt: unixString(wf.FinishedAt),
		Nodes: make(map[string]node, len(wf.Nodes)), UpdatedBy: wf.Labels[litmus.LabelUpdatedBy],
	}
	if n, ok := wf.Labels[litmus.LabelNotifyID]; ok {
		ev.NotifyID = &n
	}
	for _, n := range wf.Nodes {
		id := n.ID
		nd := node{Name: n.DisplayName, Phase: string(n.Phase), Message: strings.ReplaceAll(n.Message, `"`, ""),
			StartedAt: unixString(n.StartedAt), FinishedAt: unixString(n.FinishedAt), Children: n.Children, Type: string(n.Type)}
		if en := s.engineForNode(wf, n); en != nil {
			nd.Type = "ChaosEngine"
			if n.Phase != wfv1.NodePending {
				if cd := s.chaosDataFor(en, n); cd != nil {
					nd.ChaosData = cd
					nd.Phase = cd.ExperimentStatus
				}
			}
		}
		ev.Nodes[id] = nd
	}
	if wf.Shutdown != "" {
		now := strconv.FormatInt(s.o.Clock.Now().Unix(), 10)
		ev.Phase, ev.FinishedAt = "Stopped", now
		if root, ok := ev.Nodes[wf.Name]; ok {
			root.Phase, root.StartedAt, root.FinishedAt = "Stopped", ev.CreationTimestamp, now
			ev.Nodes[wf.Name] = root
		}
	}
	s.postProcess(ev)
	return ev
}

// workflowPhase maps Argo's phase as upstream does (a Failed workflow is "Completed": the
// verdicts are in the nodes; the final status is derived in postProcess).
func workflowPhase(p wfv1.WorkflowPhase) string {
	switch p {
	case wfv1.WorkflowRunning:
		return "Running"
	case wfv1.WorkflowSucceeded, wfv1.WorkflowFailed:
		return "Completed"
	case wfv1.WorkflowError:
		return "Error"
	default:
		return "Pending"
	}
}

// postProcess carries chaos data over from the last event of the run, marks running nodes of a
// stopped run, and derives the final status (§4.4).
func (s *Subscriber) postProcess(ev *executionData) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	if prev := s.w.last[ev.UID]; prev != nil {
		for id, pn := range prev.Nodes {
			if pn.Type != "ChaosEngine" || pn.ChaosData == nil {
				continue
			}
			if cur, ok := ev.Nodes[id]; !ok || cur.ChaosData == nil {
				if ok {
					pn.StartedAt, pn.FinishedAt, pn.Children = cur.StartedAt, cur.FinishedAt, cur.Children
				}
				ev.Nodes[id] = pn
			}
		}
	}
	if ev.Phase == "Stopped" {
		for id, n := range ev.Nodes {
			if n.Phase == "Running" || n.Phase == "Pending" {
				n.Phase = "Stopped"
				ev.Nodes[id] = n
			}
		}
	} else if ev.FinishedAt != "" {
		errs, probeFailures := 0, 0
		for _, n := range ev.Nodes {
			switch {
			case n.Type == "ChaosEngine" && n.ChaosData == nil, n.Phase == "Error", n.Phase == string(wfv1.NodeFailed):
				errs++
			case n.Phase == string(litmus.ResultPhaseCompletedWithProbeFailure):
				probeFailures++
			}
		}
		if errs > 0 {
			ev.Phase = "Error"
		} else if probeFailures > 0 {
			ev.Phase = string(litmus.ResultPhaseCompletedWithProbeFailure)
		}
	}
	if ev.FinishedAt != "" {
		delete(s.w.last, ev.UID)
	} else {
		s.w.last[ev.UID] = ev
	}
}

// engineForNode finds the ChaosEngine a fault step created: by the labels the control plane puts
// on embedded engines (workflow_run_id = Workflow UID, step_pod_name = the step's pod), else by
// the engine name in the step's artifact. Returns nil for steps that are not fault steps.
func (s *Subscriber) engineForNode(wf *runState, n runNode) *litmus.ChaosEngine {
	art := n.Engine
	if n.Type != wfv1.NodeTypePod || art == nil {
		return nil
	}
	id := n.ID
	podName := podNameOf(wf, n)
	var byLabel, byName *litmus.ChaosEngine
	for _, u := range s.enginesOfRun(string(wf.UID)) {
		l := u.GetLabels()
		var en litmus.ChaosEngine
		if litmus.FromUnstructured(u, &en) != nil {
			continue
		}
		switch {
		case l[litmus.LabelStepPodName] == podName || l[litmus.LabelStepPodName] == id:
			byLabel = &en
		case art.Name != "" && en.Name == art.Name:
			byName = &en
		case art.Name == "" && art.GenerateName != "" && strings.HasPrefix(en.Name, art.GenerateName) && byName == nil:
			byName = &en
		}
	}
	switch {
	case byLabel != nil:
		return byLabel
	case byName != nil:
		return byName
	default:
		return &litmus.ChaosEngine{} // a fault step whose engine does not exist (yet)
	}
}

// podNameOf returns the name of a step's pod (Argo ≥ 3.4 "v2" pod names: <workflow>-<template>-<hash>).
func podNameOf(wf *runState, n runNode) string {
	id := n.ID
	if n.TemplateName == "" || id == wf.Name {
		return id
	}
	suffix := strings.TrimPrefix(id, wf.Name+"-")
	if wf.Name+"-"+suffix != id {
		return id
	}
	return wf.Name + "-" + n.TemplateName + "-" + suffix
}

// chaosDataFor extracts a fault step's chaos data from its engine and result (§4.2).
func (s *Subscriber) chaosDataFor(en *litmus.ChaosEngine, n runNode) *chaosData {
	if en.Name == "" {
		return nil
	}
	if !n.StartedAt.IsZero() && n.StartedAt.After(en.CreationTimestamp.Add(time.Second)) {
		return nil // an engine of an earlier run
	}
	cd := &chaosData{EngineUID: string(en.UID), EngineContext: en.Labels["context"], EngineName: en.Name, Namespace: en.Namespace,
		ProbeSuccessPercentage: "0"}
	if en.Status.EngineStatus == litmus.EngineStatusStopped {
		cd.ExperimentVerdict, cd.ExperimentStatus = "Fail", "stopped"
	}
	if len(en.Status.Experiments) > 0 {
		x := en.Status.Experiments[0]
		cd.ExperimentPod, cd.RunnerPod, cd.ExperimentName = x.ExperimentPod, x.Runner, x.Name
		cd.LastUpdatedAt = unixString(x.LastUpdateTime)
		cd.ExperimentStatus = string(en.Status.EngineStatus)
		cd.ExperimentVerdict = string(x.Verdict)
		if en.Status.EngineStatus == litmus.EngineStatusStopped ||
			(en.Status.EngineStatus == litmus.EngineStatusCompleted && !strings.EqualFold(string(x.Verdict), "pass")) {
			cd.ExperimentVerdict = "Fail"
		}
	}
	if len(en.Spec.Experiments) == 1 {
		name := litmus.ResultName(en.Name, en.Spec.Experiments[0].Name, "")
		if obj, ok, _ := s.w.results.GetStore().GetByKey(en.Namespace + "/" + name); ok {
			var res litmus.ChaosResult
			if litmus.FromUnstructured(obj.(*unstructured.Unstructured), &res) == nil {
				res.Annotations = nil
				res.ManagedFields = nil
				cd.ChaosResult = &res
				cd.ProbeSuccessPercentage = res.Status.ExperimentStatus.ProbeSuccessPercentage
				if eo := res.Status.ExperimentStatus.ErrorOutput; eo != nil {
					cd.FailStep = string(eo.ErrorCode) + " : " + eo.Reason
				}
				cd.ExperimentStatus = string(res.Status.ExperimentStatus.Phase)
			}
		}
	}
	return cd
}
