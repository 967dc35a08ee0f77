package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	"github.com/chaos-agent/chaos-agent/executor/target"
	"github.com/chaos-agent/chaos-agent/internal/clockutil"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// probeStop is the abort cause when a probe with stopOnFailure failed.
type probeStop struct{ reason string }

func (p *probeStop) Error() string { return "a probe with stopOnFailure failed: " + p.reason }

// runEngine runs every experiment of an engine, in order, then closes the engine.
func (e *Executor) runEngine(ctx context.Context, engine *litmus.ChaosEngine, warnings []string) {
	log := e.log.With(zap.String("engine", engine.Namespace+"/"+engine.Name))
	runID := utilrand.String(6)
	engineRef := objectRef{kind: litmus.KindChaosEngine, name: engine.Name, namespace: engine.Namespace, uid: engine.UID}

	wctx, cancel := finalCtx(ctx)
	now := metav1.NewTime(e.o.Clock.Now())
	claimed := false
	_, err := e.updateEngine(wctx, engine.Namespace, engine.Name, func(en *litmus.ChaosEngine) bool {
		// The claim: this update is checked by resourceVersion, so if another executor moved the
		// engine first, the retry sees it initialized (or stopped, deleted) and gives up.
		claimed = false
		if en.UID != engine.UID || en.Status.EngineStatus == litmus.EngineStatusInitialized || en.Spec.EngineState == litmus.EngineStateStop {
			return false
		}
		claimed = true
		e.claim(en)
		en.Spec.EngineState = litmus.EngineStateActive
		en.Status.EngineStatus = litmus.EngineStatusInitialized
		en.Status.Experiments = nil
		for _, x := range engine.Spec.Experiments {
			en.Status.Experiments = append(en.Status.Experiments, litmus.EngineExperimentStatus{
				Name: x.Name, Runner: e.o.Identity, ExperimentPod: x.Name + "-" + runID,
				Status: litmus.ExperimentRunStatusWaiting, Verdict: litmus.VerdictNA, LastUpdateTime: now,
			})
		}
		return true
	})
	cancel()
	if err != nil {
		log.Error("cannot initialize engine; not running it", zap.Error(err))
		return
	}
	if !claimed {
		log.Info("engine claimed by another executor (or stopped meanwhile); not running it")
		return
	}
	renewCtx, stopRenew := context.WithCancel(ctx)
	renewDone := make(chan struct{})
	go func() { defer close(renewDone); e.renewClaim(renewCtx, engine) }()
	defer func() { stopRenew(); <-renewDone }()
	log.Info("engine run starting", zap.String("runID", runID), zap.Int("experiments", len(engine.Spec.Experiments)))
	e.events.engine(ctx, engineRef, "", litmus.EventReasonChaosEngineInitialized, corev1.EventTypeNormal,
		"Identifying app under test & launching "+experimentNames(engine))
	if len(warnings) > 0 {
		log.Warn("engine fields not honoured", zap.Strings("fields", warnings))
		e.events.engine(ctx, engineRef, "", litmus.EventReasonUnsupported, corev1.EventTypeWarning, litmus.JoinWarnings(warnings))
	}
	if len(engine.Spec.Experiments) == 0 {
		e.events.engine(ctx, engineRef, "", litmus.EventReasonChaosEngineCompleted, corev1.EventTypeWarning, "the engine names no experiment: nothing to run")
	}

	entries, entriesErr := target.FromEngine(engine)
	for i := range engine.Spec.Experiments {
		x := &engine.Spec.Experiments[i]
		if ctx.Err() != nil {
			e.setExperimentStatus(ctx, engine, i, litmus.ExperimentRunStatusForcefullyAborted, litmus.VerdictStopped)
			continue
		}
		e.setExperimentStatus(ctx, engine, i, litmus.ExperimentRunStatusRunning, litmus.VerdictAwaited)
		verdict := e.runExperiment(ctx, log, engine, x, runID, entries, entriesErr)
		status := litmus.ExperimentRunStatusCompleted
		if verdict == litmus.VerdictStopped {
			status = litmus.ExperimentRunStatusForcefullyAborted
		}
		e.setExperimentStatus(ctx, engine, i, status, verdict)
	}

	cause := context.Cause(ctx)
	if errors.Is(cause, errEngineDeleted) {
		log.Info("engine deleted; run ended")
		return
	}
	wctx, cancel = finalCtx(ctx)
	defer cancel()
	final := litmus.EngineStatusCompleted
	if ctx.Err() != nil && !isProbeStop(cause) {
		final = litmus.EngineStatusStopped
	}
	if _, err := e.updateEngine(wctx, engine.Namespace, engine.Name, func(en *litmus.ChaosEngine) bool {
		if en.UID != engine.UID {
			return false
		}
		en.Spec.EngineState = litmus.EngineStateStop
		en.Status.EngineStatus = final
		return true
	}); err != nil {
		log.Error("cannot close engine", zap.Error(err))
	}
	if final == litmus.EngineStatusStopped {
		e.events.engine(wctx, engineRef, "", litmus.EventReasonChaosEngineStopped, corev1.EventTypeNormal, "Chaos stopped: "+cause.Error())
	} else {
		e.events.engine(wctx, engineRef, "", litmus.EventReasonChaosEngineCompleted, corev1.EventTypeNormal, "ChaosEngine completed, will set the engineState to stop")
	}
	log.Info("engine run finished", zap.String("engineStatus", string(final)))
}

func isProbeStop(err error) bool {
	var ps *probeStop
	return errors.As(err, &ps)
}

func experimentNames(engine *litmus.ChaosEngine) string {
	var names []string
	for _, x := range engine.Spec.Experiments {
		names = append(names, x.Name)
	}
	return strings.Join(names, ", ")
}

func (e *Executor) setExperimentStatus(ctx context.Context, engine *litmus.ChaosEngine, i int, status litmus.ExperimentRunStatus, verdict litmus.Verdict) {
	wctx, cancel := finalCtx(ctx)
	defer cancel()
	now := metav1.NewTime(e.o.Clock.Now())
	_, err := e.updateEngine(wctx, engine.Namespace, engine.Name, func(en *litmus.ChaosEngine) bool {
		if en.UID != engine.UID || i >= len(en.Status.Experiments) {
			return false
		}
		en.Status.Experiments[i].Status = status
		en.Status.Experiments[i].Verdict = verdict
		en.Status.Experiments[i].LastUpdateTime = now
		return true
	})
	if err != nil && !apierrors.IsNotFound(errors.Unwrap(err)) {
		e.log.Warn("cannot update engine experiment status", zap.String("engine", engine.Name), zap.Error(err))
	}
}

// markStale closes an engine that was left initialized by an agent that is gone.
func (e *Executor) markStale(ctx context.Context, engine *litmus.ChaosEngine, reason string) error {
	e.log.Warn("closing an engine left running by a previous agent", zap.String("engine", engine.Namespace+"/"+engine.Name), zap.String("reason", reason))
	now := metav1.NewTime(e.o.Clock.Now())
	for _, x := range engine.Spec.Experiments {
		name := litmus.ResultName(engine.Name, x.Name, envOf(x.Spec.Components.Env, litmus.EnvInstanceID))
		api := e.o.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(engine.Namespace)
		if _, err := api.Get(ctx, name, getOpts); apierrors.IsNotFound(err) {
			continue
		}
		run := resultRun{namespace: engine.Namespace, name: name}
		_, err := e.writer.mutateResult(ctx, run.namespace, run.name, func() *litmus.ChaosResult { return &litmus.ChaosResult{} }, func(res *litmus.ChaosResult) {
			if res.Status.ExperimentStatus.Phase != litmus.ResultPhaseRunning {
				return
			}
			v := decide(outcome{aborted: true, abortReason: reason, probes: res.Status.ProbeStatuses})
			res.Status.ExperimentStatus = litmus.ResultExperimentStatus{Phase: v.phase, Verdict: v.verdict, ProbeSuccessPercentage: v.psp,
				ErrorOutput: (&litmus.Error{Code: litmus.ErrorCodeExperimentAborted, Reason: reason}).ErrorOutput()}
			res.Status.ProbeStatuses = v.probes
			count(&res.Status.History, v.verdict)
		})
		if err != nil {
			return err
		}
	}
	_, err := e.updateEngine(ctx, engine.Namespace, engine.Name, func(en *litmus.ChaosEngine) bool {
		if en.UID != engine.UID || en.Status.EngineStatus != litmus.EngineStatusInitialized {
			return false
		}
		en.Spec.EngineState = litmus.EngineStateStop
		en.Status.EngineStatus = litmus.EngineStatusStopped
		for i := range en.Status.Experiments {
			s := &en.Status.Experiments[i]
			if s.Status == litmus.ExperimentRunStatusRunning || s.Status == litmus.ExperimentRunStatusWaiting {
				s.Status, s.Verdict, s.LastUpdateTime = litmus.ExperimentRunStatusForcefullyAborted, litmus.VerdictStopped, now
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	e.events.engine(ctx, objectRef{kind: litmus.KindChaosEngine, name: engine.Name, namespace: engine.Namespace, uid: engine.UID}, "",
		litmus.EventReasonChaosEngineStopped, corev1.EventTypeWarning, reason)
	return nil
}

func envOf(env []corev1.EnvVar, name string) string {
	for _, v := range env {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

// runExperiment runs one experiment of an engine and writes its result; it returns the verdict.
func (e *Executor) runExperiment(ctx context.Context, log *zap.Logger, engine *litmus.ChaosEngine, x *litmus.EngineExperiment,
	runID string, entries []target.Entry, entriesErr error) litmus.Verdict {
	expPod := x.Name + "-" + runID
	instanceID := envOf(x.Spec.Components.Env, litmus.EnvInstanceID)
	labels := map[string]string{}
	maps.Copy(labels, engine.Labels)
	labels[litmus.LabelChaosUID] = string(engine.UID)
	labels[litmus.LabelChaosEngine] = engine.Name
	rr := resultRun{
		namespace: engine.Namespace,
		name:      litmus.ResultName(engine.Name, x.Name, instanceID),
		labels:    labels,
		spec:      litmus.ChaosResultSpec{EngineName: engine.Name, ExperimentName: x.Name, InstanceID: instanceID},
	}
	log = log.With(zap.String("experiment", x.Name), zap.String("result", rr.name))
	probes := make([]litmus.ProbeStatus, 0, len(x.Spec.Probe))
	for _, p := range x.Spec.Probe {
		probes = append(probes, litmus.ProbeStatus{Name: p.Name, Type: p.Type, Mode: p.Mode,
			Status: litmus.ProbeStatusDetail{Verdict: litmus.ProbeVerdictAwaited, Description: "Probe is Awaited"}})
	}
	engineRef := objectRef{kind: litmus.KindChaosEngine, name: engine.Name, namespace: engine.Namespace, uid: engine.UID}

	wctx, cancel := finalCtx(ctx)
	res, err := e.writer.start(wctx, rr, probes)
	cancel()
	if err != nil {
		log.Error("cannot write ChaosResult; experiment not run", zap.Error(err))
		e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonSummary, corev1.EventTypeWarning, "cannot write ChaosResult: "+err.Error())
		return litmus.VerdictError
	}
	resultRef := objectRef{kind: litmus.KindChaosResult, name: rr.name, namespace: rr.namespace, uid: res.UID}
	e.events.result(ctx, resultRef, expPod, litmus.EventReasonResultAwaited, corev1.EventTypeNormal, "experiment: "+x.Name+", Result: Awaited")

	rec := &runRecorder{e: e, ctx: ctx, engine: engineRef, experiment: x.Name}
	started := e.o.Clock.Now()
	o, fault := e.execute(ctx, log, engine, x, runID, entries, entriesErr, rec, probes)
	v := decide(o)

	var targets []litmus.TargetDetail
	var recoveries []litmus.PodRecovery
	if fault != nil {
		for _, w := range fault.Targets() {
			targets = append(targets, litmus.TargetDetail{Name: w.Name, Kind: w.Kind, ChaosStatus: litmus.TargetChaosStatusTargeted})
		}
		for _, r := range fault.Recoveries() {
			pr := litmus.PodRecovery{Pod: r.Name, Namespace: r.Namespace, Owner: r.Owner.String(), DeletedAt: metav1.NewTime(r.InjectedAt), Replacement: r.Replacement}
			if r.Recovered {
				pr.ReadyAt, pr.Seconds = metav1.NewTime(r.ReadyAt), r.Seconds()
			}
			recoveries = append(recoveries, pr)
		}
	}
	wctx, cancel = finalCtx(ctx)
	defer cancel()
	if _, err := e.writer.finish(wctx, rr, v, targets, recoveries, rec.skippedVictims()); err != nil {
		log.Error("cannot write the final ChaosResult", zap.Error(err))
	}
	e.o.Metrics.observeRun(x.Name, v.verdict, e.o.Clock.Since(started))

	fields := []zap.Field{zap.String("verdict", string(v.verdict)), zap.String("phase", string(v.phase)), zap.String("probeSuccessPercentage", v.psp)}
	switch {
	case o.aborted:
		fields = append(fields, zap.String("reason", o.abortReason))
		msg := x.Name + " experiment has been aborted: " + o.abortReason
		e.events.result(wctx, resultRef, expPod, litmus.EventReasonResultAbort, corev1.EventTypeWarning, msg)
		e.events.engine(wctx, engineRef, x.Name, litmus.EventReasonSummary, corev1.EventTypeWarning, msg)
	default:
		if o.err != nil {
			fields = append(fields, zap.String("failStep", o.err.FailStep()))
		}
		eventType := corev1.EventTypeNormal
		if v.verdict != litmus.VerdictPass {
			eventType = corev1.EventTypeWarning
		}
		e.events.result(wctx, resultRef, expPod, litmus.EventReason(v.verdict), eventType, "experiment: "+x.Name+", Result: "+string(v.verdict))
		e.events.engine(wctx, engineRef, x.Name, litmus.EventReasonSummary, eventType, fmt.Sprintf("%s experiment has been %s", x.Name, pastTense(v.verdict)))
	}
	log.Info("experiment finished", fields...)
	return v.verdict
}

func pastTense(v litmus.Verdict) string {
	switch v {
	case litmus.VerdictPass:
		return "Passed"
	case litmus.VerdictFail:
		return "Failed"
	case litmus.VerdictStopped:
		return "Stopped"
	default:
		return "ended with an Error"
	}
}

// execute runs the experiment's phases: resolve, pre-chaos checks and probes, injection,
// post-chaos checks and probes. Bad input ends it early with a *litmus.Error.
func (e *Executor) execute(ctx context.Context, log *zap.Logger, engine *litmus.ChaosEngine, x *litmus.EngineExperiment, runID string,
	entries []target.Entry, entriesErr error, rec *runRecorder, probeStatuses []litmus.ProbeStatus) (outcome, Fault) {
	expCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	engineRef := rec.engine
	var session litmus.ProbeSession
	end := func(err error) outcome {
		o := outcome{probes: probeStatuses}
		if session != nil {
			r := session.Result()
			o.probes, o.passedProbes, o.stoppedByProbe = r.Statuses, r.Passed, r.StoppedByProbe
		}
		if expCtx.Err() != nil {
			o.aborted = true
			o.abortReason = context.Cause(expCtx).Error()
			return o
		}
		if err != nil {
			o.err = litmus.AsError(err)
		}
		return o
	}

	chaosExp, err := e.chaosExperiment(ctx, engine.Namespace, x.Name)
	if err != nil {
		e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonExperimentNotFound, corev1.EventTypeWarning, err.Error())
		return end(err), nil
	}
	kind, ok := e.o.Faults.Lookup(faultName(chaosExp))
	if !ok {
		return end(notImplemented(faultName(chaosExp), x.Name, e.o.Faults)), nil
	}
	if entriesErr != nil {
		return end(&litmus.Error{Code: litmus.ErrorCodeTargetSelection, Phase: litmus.ExperimentPhasePreChaos, Reason: entriesErr.Error(), Err: entriesErr}), nil
	}
	if err := e.checkScope(entries); err != nil {
		return end(err), nil
	}
	sa := engine.Spec.ChaosServiceAccount
	if sa == "" {
		sa = litmus.DefaultChaosServiceAccount
	}
	clients, err := e.o.Clients.For(engine.Namespace, sa)
	if err != nil {
		return end(litmus.NewError(litmus.ErrorCodeGeneric, "clients for service account %s/%s: %w", engine.Namespace, sa, err)), nil
	}
	env, err := experimentEnv(ctx, clients.Kube, engine, chaosExp, x)
	if err != nil {
		e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonEnvParseError, corev1.EventTypeWarning, err.Error())
		return end(litmus.NewError(litmus.ErrorCodeGeneric, "experiment environment: %w", err)), nil
	}
	if err := e.checkPolicy(ctx, engine, entries, env, x.Spec.Probe); err != nil {
		log.Warn("refused by the cluster policy", zap.Error(err))
		e.events.engine(ctx, engineRef, x.Name, eventReasonPolicyRefused, corev1.EventTypeWarning, err.Error())
		return end(err), nil
	}
	e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonExperimentDependencyCheck, corev1.EventTypeNormal,
		"Experiment resources validated for Chaos Experiment: "+x.Name)
	caches, release, err := e.targets.acquire(expCtx)
	if err != nil {
		return end(litmus.NewError(litmus.ErrorCodeGeneric, "target caches: %w", err)), nil
	}
	defer release()
	rnd := e.o.NewRand()
	fault, p, err := NewFault(kind, FaultDeps{
		Client: clients.Kube, Selector: target.NewSelector(caches.listers, rnd), Entries: entries, DefaultNamespace: engine.Namespace,
		Clock: e.o.Clock, Rand: rnd, Observer: rec, Log: log,
	}, env)
	if err != nil {
		e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonEnvParseError, corev1.EventTypeWarning, err.Error())
		return end(err), nil
	}
	e.warnUnread(ctx, log, engineRef, kind.Name, chaosExp, x, p)
	rec.dryRun = p.DryRun

	if len(x.Spec.Probe) > 0 {
		if e.o.Probes == nil {
			return end(litmus.NewError(litmus.ErrorCodeGeneric, "this chaos-agent runs without probe support; the experiment has %d probe(s)", len(x.Spec.Probe))), fault
		}
		var once sync.Once
		session, err = e.o.Probes.Start(expCtx, litmus.ProbeRun{
			Probes: x.Spec.Probe, Namespace: engine.Namespace, Engine: engine.Name, EngineUID: engine.UID,
			Experiment: x.Name, RunID: runID, ChaosDuration: p.Duration,
			StatusCheckDelay: p.StatusCheckDelay, StatusCheckTimeout: p.StatusCheckTimeout,
			Kube: clients.Kube, Dynamic: clients.Dynamic, RESTConfig: clients.Config, ServiceAccount: sa,
			Stop: func(reason string) { once.Do(func() { stop(&probeStop{reason: reason}); e.requestStop(ctx, engine) }) },
		})
		if err != nil {
			session = nil
			return end(err), fault
		}
		defer session.Close(ctx)
	}

	// PreChaos
	if err := checkHealthy(expCtx, fault, p, litmus.ExperimentPhasePreChaos); err != nil {
		e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonPreChaosCheck, corev1.EventTypeWarning, "AUT: Not Running")
		return end(err), fault
	}
	if session != nil {
		if err := session.PreChaos(expCtx); err != nil {
			e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonPreChaosCheck, corev1.EventTypeWarning, autMessage(p.HealthCheck)+", Probes: Unsuccessful")
			return end(err), fault
		}
	}
	e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonPreChaosCheck, corev1.EventTypeNormal, checkMessage(p.HealthCheck, session != nil))

	// ChaosInject
	if err := clockutil.Sleep(expCtx, e.o.Clock, p.RampTime); err != nil {
		return end(err), fault
	}
	if session != nil {
		session.ChaosStarted(expCtx)
	}
	if err := fault.Inject(expCtx); err != nil {
		return end(err), fault
	}
	if err := clockutil.Sleep(expCtx, e.o.Clock, p.RampTime); err != nil {
		return end(err), fault
	}

	// PostChaos
	if err := checkHealthy(expCtx, fault, p, litmus.ExperimentPhasePostChaos); err != nil {
		e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonPostChaosCheck, corev1.EventTypeWarning, "AUT: Not Running")
		return end(err), fault
	}
	if session != nil {
		if err := session.PostChaos(expCtx); err != nil {
			e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonPostChaosCheck, corev1.EventTypeWarning, autMessage(p.HealthCheck)+", Probes: Unsuccessful")
			return end(err), fault
		}
	}
	e.events.engine(ctx, engineRef, x.Name, litmus.EventReasonPostChaosCheck, corev1.EventTypeNormal, checkMessage(p.HealthCheck, session != nil))
	return end(nil), fault
}

// checkHealthy runs the fault's application check when DEFAULT_HEALTH_CHECK is on.
func checkHealthy(ctx context.Context, f Fault, p Params, phase litmus.ExperimentPhase) error {
	if !p.HealthCheck {
		return nil
	}
	return f.CheckHealthy(ctx, phase)
}

func autMessage(healthCheck bool) string {
	if healthCheck {
		return "AUT: Running"
	}
	return "Skipped the default checks"
}

func checkMessage(healthCheck, probes bool) string {
	switch {
	case probes:
		return autMessage(healthCheck) + ", Probes: Successful"
	default:
		return autMessage(healthCheck)
	}
}

// requestStop sets engineState to stop, as upstream does for a failed stopOnFailure probe, so
// that the control plane and users see why the engine stopped. The write is one of the runs
// Run waits for, so that it never outlives the executor.
func (e *Executor) requestStop(ctx context.Context, engine *litmus.ChaosEngine) {
	e.wg.Go(func() {
		ctx, cancel := finalCtx(ctx)
		defer cancel()
		_, err := e.updateEngine(ctx, engine.Namespace, engine.Name, func(en *litmus.ChaosEngine) bool {
			if en.UID != engine.UID || en.Spec.EngineState == litmus.EngineStateStop {
				return false
			}
			en.Spec.EngineState = litmus.EngineStateStop
			return true
		})
		if err != nil {
			e.log.Warn("cannot set engineState to stop", zap.String("engine", engine.Name), zap.Error(err))
		}
	})
}

// chaosExperiment reads the ChaosExperiment an engine experiment names.
func (e *Executor) chaosExperiment(ctx context.Context, namespace, name string) (*litmus.ChaosExperiment, error) {
	u, err := e.o.Dynamic.Resource(litmus.ChaosExperimentGVR()).Namespace(namespace).Get(ctx, name, getOpts)
	if apierrors.IsNotFound(err) {
		return nil, &litmus.Error{Code: litmus.ErrorCodeGeneric, Phase: litmus.ExperimentPhasePreChaos,
			Reason: fmt.Sprintf("ChaosExperiment %q not found in namespace %q: install the experiment definition (e.g. from the ChaosHub) before the engine", name, namespace)}
	}
	if err != nil {
		return nil, litmus.NewError(litmus.ErrorCodeGeneric, "read ChaosExperiment %s/%s: %w", namespace, name, err)
	}
	var x litmus.ChaosExperiment
	if err := litmus.FromUnstructured(u, &x); err != nil {
		return nil, litmus.NewError(litmus.ErrorCodeGeneric, "decode ChaosExperiment %s/%s: %w", namespace, name, err)
	}
	return &x, nil
}

// warnUnread reports, in the log and a Warning Event on the engine, the ChaosExperiment fields
// and the experiment variables that the fault does not honour (nothing is ignored silently).
// INSTANCE_ID is the executor's own (the ChaosResult's name).
func (e *Executor) warnUnread(ctx context.Context, log *zap.Logger, engineRef objectRef, fault string, x *litmus.ChaosExperiment, ee *litmus.EngineExperiment, p Params) {
	experiment := ee.Name
	var names []string
	for _, v := range append(append([]corev1.EnvVar{}, x.Spec.Definition.Env...), ee.Spec.Components.Env...) {
		names = append(names, v.Name)
	}
	warnings := litmus.ExperimentWarnings(x)
	reads := func(name string) bool { return name == litmus.EnvInstanceID || p.Reads(name) }
	if unread := litmus.UnknownEnv(names, reads); len(unread) > 0 {
		warnings = append(warnings, fault+" does not read "+strings.Join(unread, ", ")+": ignored")
	}
	if len(warnings) > 0 {
		msg := litmus.JoinWarnings(warnings)
		log.Warn(msg, zap.String("experiment", experiment))
		e.events.engine(ctx, engineRef, experiment, litmus.EventReasonUnsupported, corev1.EventTypeWarning, msg)
	}
}

// checkScope refuses targets outside a namespace-scoped agent's namespace.
func (e *Executor) checkScope(entries []target.Entry) error {
	if e.o.Namespace == "" {
		return nil
	}
	for _, en := range entries {
		if en.Namespace != "" && en.Namespace != e.o.Namespace {
			return &litmus.Error{Code: litmus.ErrorCodeTargetSelection, Phase: litmus.ExperimentPhasePreChaos,
				Reason: fmt.Sprintf("target namespace %q is outside this chaos-agent's scope (namespace %q)", en.Namespace, e.o.Namespace),
				Target: en.String()}
		}
	}
	return nil
}

// runRecorder turns the fault's progress into events and metrics, and keeps skipped victims.
type runRecorder struct {
	e          *Executor
	ctx        context.Context
	engine     objectRef
	experiment string
	dryRun     bool

	mu      sync.Mutex
	skipped []litmus.SkippedVictim
}

var _ Observer = (*runRecorder)(nil)

func (r *runRecorder) Iteration(n int, victims []*corev1.Pod) {
	r.e.o.Metrics.iterations.WithLabelValues(r.experiment).Inc()
	names := make([]string, 0, min(len(victims), 10))
	for _, v := range victims[:min(len(victims), 10)] {
		names = append(names, v.Name)
	}
	if len(victims) > 10 {
		names = append(names, fmt.Sprintf("and %d more", len(victims)-10))
	}
	prefix := "Injecting " + r.experiment + " chaos on application pod"
	if r.dryRun {
		prefix = "Dry run: " + r.experiment + " would delete"
	}
	r.e.events.engine(r.ctx, r.engine, r.experiment, litmus.EventReasonChaosInject, corev1.EventTypeNormal,
		fmt.Sprintf("%s (iteration %d; victims: %s)", prefix, n, strings.Join(names, ", ")))
}

func (r *runRecorder) Injected(v Victim) {
	if !v.DryRun {
		r.e.o.Metrics.podsDeleted.WithLabelValues(v.Namespace).Inc()
	}
}

func (r *runRecorder) Skipped(s Skip) {
	r.e.o.Metrics.victimsSkipped.WithLabelValues(s.Namespace).Inc()
	r.mu.Lock()
	r.skipped = append(r.skipped, litmus.SkippedVictim{Pod: s.Name, Reason: s.Reason})
	r.mu.Unlock()
}

func (r *runRecorder) Recovered(rec Recovery) {
	if rec.Recovered {
		r.e.o.Metrics.timeToReady.WithLabelValues(rec.Namespace, rec.Owner.Kind).Observe(rec.Seconds())
	}
}

func (r *runRecorder) skippedVictims() []litmus.SkippedVictim {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]litmus.SkippedVictim(nil), r.skipped...)
}
