package poddelete

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/executor/target"
	"github.com/chaos-agent/chaos-agent/internal/clockutil"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// Name is the fault's name, as in the ChaosExperiment.
const Name = "pod-delete"

// Kind registers pod-delete with the executor.
func Kind() executor.FaultKind {
	return executor.FaultKind{
		Name:     Name,
		Defaults: executor.Defaults{Duration: 30 * time.Second, Interval: 10 * time.Second},
		New: func(d executor.FaultDeps, p executor.Params, env *litmus.Env) (executor.Fault, error) {
			return New(d, p, env), nil
		},
	}
}

// Fault is one run of pod-delete.
type Fault struct {
	d executor.FaultDeps
	p Params

	mu       sync.Mutex
	parents  map[executor.Workload]bool
	pending  []*pendingRecovery
	claimed  map[types.UID]bool
	seen     map[types.UID]time.Time // when each pod of a targeted workload was first seen
	finished []executor.Recovery
}

type pendingRecovery struct {
	victim   executor.Victim
	known    map[types.UID]bool // the workload's pods at deletion time
	deadline time.Time
}

// New returns a run of pod-delete with the generic parameters p; its own variables are read
// from env, where invalid values are recorded.
func New(d executor.FaultDeps, p executor.Params, env *litmus.Env) *Fault {
	if d.Log == nil {
		d.Log = zap.NewNop()
	}
	return &Fault{d: d, p: parseParams(p, env, d.Rand), parents: map[executor.Workload]bool{}, claimed: map[types.UID]bool{}, seen: map[types.UID]time.Time{}}
}

// Params returns the parsed parameters.
func (f *Fault) Params() Params { return f.p }

func (f *Fault) spec() target.Spec {
	return target.Spec{
		Entries:          f.d.Entries,
		TargetPods:       f.p.TargetPods,
		NodeLabel:        f.p.NodeLabel,
		Percentage:       f.p.Percentage,
		DefaultNamespace: f.d.DefaultNamespace,
	}
}

// Targets lists the parent workloads targeted so far, in first-targeted order is not guaranteed.
func (f *Fault) Targets() []executor.Workload {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]executor.Workload, 0, len(f.parents))
	for w := range f.parents {
		out = append(out, w)
	}
	return out
}

// CheckHealthy is the application-under-test check the executor runs before and after the
// chaos when DEFAULT_HEALTH_CHECK is on: every target pod must be Running and Ready, polled
// every STATUS_CHECK_DELAY for up to STATUS_CHECK_TIMEOUT.
func (f *Fault) CheckHealthy(ctx context.Context, phase litmus.ExperimentPhase) error {
	err := f.poll(ctx, func() error {
		pods, err := f.d.Selector.Candidates(f.spec())
		if err != nil {
			return err
		}
		return allReady(pods)
	})
	if err != nil {
		return statusCheckError(err).WithPhase(phase)
	}
	return nil
}

// Inject runs the kill loop until TOTAL_CHAOS_DURATION has passed or ctx ends. No deletion
// starts after the deadline; intervals are measured from the start of one deletion (batch) to
// the start of the next. After each batch's interval the targeted workloads must be healthy
// again within STATUS_CHECK_TIMEOUT, else the run ends with STATUS_CHECKS_ERROR.
func (f *Fault) Inject(ctx context.Context) error {
	clk := f.d.Clock
	start := clk.Now()
	deadline := start.Add(f.p.Duration)
	f.d.Log.Info("pod-delete starting", zap.Duration("duration", f.p.Duration), zap.Duration("intervalMin", f.p.Interval.Min),
		zap.Duration("intervalMax", f.p.Interval.Max), zap.Int("percentage", f.p.Percentage), zap.String("sequence", string(f.p.Sequence)),
		zap.Bool("force", f.p.Force), zap.Bool("dryRun", f.p.DryRun), zap.Bool("pdbAware", f.p.PDBAware))

	trackerCtx, stopTracker := context.WithCancel(ctx)
	trackerDone := make(chan struct{})
	go func() { defer close(trackerDone); f.track(trackerCtx) }()
	defer func() { stopTracker(); <-trackerDone }()

	next := start // when the next deletion (batch) may start
	for iteration := 1; ; iteration++ {
		if err := f.waitUntil(ctx, minTime(next, deadline)); err != nil {
			return err
		}
		if !clk.Now().Before(deadline) {
			break
		}
		victims, err := f.d.Selector.Select(f.spec())
		if err != nil {
			return selectionError(err)
		}
		f.d.Observer.Iteration(iteration, victims)
		batches := [][]*corev1.Pod{victims}
		if f.p.Sequence == Serial {
			batches = batches[:0]
			for _, v := range victims {
				batches = append(batches, []*corev1.Pod{v})
			}
		}
		for i, batch := range batches {
			if i > 0 {
				if err := f.waitUntil(ctx, minTime(next, deadline)); err != nil {
					return err
				}
				if !clk.Now().Before(deadline) {
					break // hard deadline: the rest of this iteration's victims are spared
				}
			}
			batchStart := clk.Now()
			if err := f.deleteAll(ctx, batch); err != nil {
				return err
			}
			next = maxTime(next, batchStart).Add(f.p.Interval.Next(f.d.Rand))
			if err := f.waitUntil(ctx, minTime(next, deadline)); err != nil {
				return err
			}
			if err := f.checkRecovered(ctx); err != nil {
				return err
			}
		}
	}
	f.d.Log.Info("pod-delete finished", zap.Duration("elapsed", clk.Since(start)))
	return nil
}

// Recoveries returns every victim's recovery record; victims still pending are reported as not
// recovered (yet).
func (f *Fault) Recoveries() []executor.Recovery {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]executor.Recovery(nil), f.finished...)
	for _, p := range f.pending {
		out = append(out, executor.Recovery{Victim: p.victim, Reason: "no Ready replacement seen before the fault ended"})
	}
	return out
}

func (f *Fault) deleteAll(ctx context.Context, pods []*corev1.Pod) error {
	for _, pod := range pods {
		kind, name := f.d.Selector.Owner(pod)
		owner := executor.Workload{Kind: kind, Namespace: pod.Namespace, Name: name}
		var known map[types.UID]bool
		if kind != "" {
			known = map[types.UID]bool{pod.UID: true}
			siblings, _ := f.d.Selector.WorkloadPods(kind, pod.Namespace, name)
			f.mu.Lock()
			f.parents[owner] = true
			for _, s := range siblings {
				known[s.UID] = true
				f.see(s.UID)
			}
			f.mu.Unlock()
		}
		err := f.deleteOne(ctx, pod)
		now := f.d.Clock.Now()
		var skip *skipError
		switch {
		case errors.As(err, &skip):
			s := executor.Skip{Namespace: pod.Namespace, Name: pod.Name, Reason: skip.reason}
			f.d.Log.Info("victim skipped", zap.String("pod", pod.Name), zap.String("reason", s.Reason))
			f.d.Observer.Skipped(s)
			continue
		case err != nil:
			return err
		}
		v := executor.Victim{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Owner: owner, InjectedAt: now, DryRun: f.p.DryRun}
		f.d.Log.Info("victim deleted", zap.String("pod", pod.Name), zap.String("owner", owner.String()), zap.Bool("dryRun", f.p.DryRun))
		f.d.Observer.Injected(v)
		if f.p.DryRun {
			continue
		}
		f.mu.Lock()
		if kind == "" {
			r := executor.Recovery{Victim: v, Reason: "the pod has no controller: nothing replaces it"}
			f.finished = append(f.finished, r)
			f.mu.Unlock()
			f.d.Observer.Recovered(r)
			continue
		}
		f.pending = append(f.pending, &pendingRecovery{victim: v, known: known, deadline: now.Add(f.p.StatusCheckTimeout)})
		f.mu.Unlock()
	}
	return nil
}

type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

func (f *Fault) deleteOne(ctx context.Context, pod *corev1.Pod) error {
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}}
	if f.p.Force {
		opts.GracePeriodSeconds = new(int64)
	}
	if f.p.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var err error
	if f.p.PDBAware {
		err = f.d.Client.PolicyV1().Evictions(pod.Namespace).Evict(ctx, &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
			DeleteOptions: &opts,
		})
	} else {
		err = f.d.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
	}
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Gone (or replaced under the same name) since it was selected: nothing to delete.
		return &skipError{reason: "already gone when its turn came"}
	case f.p.PDBAware && apierrors.IsTooManyRequests(err):
		return &skipError{reason: "PodDisruptionBudget allows no disruption: " + apiMessage(err)}
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case apierrors.IsForbidden(err):
		return &litmus.Error{Code: litmus.ErrorCodeChaosInject, Phase: litmus.ExperimentPhaseChaosInject,
			Reason: "the chaos service account may not delete the pod (RBAC): " + apiMessage(err),
			Target: targetString(pod), Err: err}
	default:
		return &litmus.Error{Code: litmus.ErrorCodeChaosInject, Phase: litmus.ExperimentPhaseChaosInject,
			Reason: "failed to delete the target pod: " + err.Error(), Target: targetString(pod), Err: err}
	}
}

func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}

// checkRecovered waits until every targeted workload has only Running, Ready pods (terminating
// pods aside) and at least one pod.
func (f *Fault) checkRecovered(ctx context.Context) error {
	if f.p.DryRun {
		return nil
	}
	err := f.poll(ctx, func() error {
		for _, w := range f.Targets() {
			pods, err := f.d.Selector.WorkloadPods(w.Kind, w.Namespace, w.Name)
			if err != nil {
				return err
			}
			live := pods[:0:0]
			for _, p := range pods {
				if p.DeletionTimestamp == nil {
					live = append(live, p)
				}
			}
			if len(live) == 0 {
				return fmt.Errorf("%s in namespace %s has no pod", w, w.Namespace)
			}
			if err := allReady(live); err != nil {
				return fmt.Errorf("%s: %w", w, err)
			}
		}
		return nil
	})
	if err != nil {
		return statusCheckError(err).WithPhase(litmus.ExperimentPhaseChaosInject)
	}
	return nil
}

// poll runs check now and then every STATUS_CHECK_DELAY until it succeeds, STATUS_CHECK_TIMEOUT
// passes (returning check's last error) or ctx ends.
func (f *Fault) poll(ctx context.Context, check func() error) error {
	deadline := f.d.Clock.Now().Add(f.p.StatusCheckTimeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if !f.d.Clock.Now().Before(deadline) {
			return err
		}
		f.d.Log.Debug("waiting for the application to be healthy", zap.Error(err))
		if werr := f.waitUntil(ctx, minTime(f.d.Clock.Now().Add(f.p.StatusCheckDelay), deadline)); werr != nil {
			return werr
		}
	}
}

// waitUntil blocks until the clock reaches t or ctx ends (returning its cause).
func (f *Fault) waitUntil(ctx context.Context, t time.Time) error {
	d := t.Sub(f.d.Clock.Now())
	if d <= 0 {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return nil
	}
	return clockutil.Sleep(ctx, f.d.Clock, d)
}

// trackPeriod is how often pending recoveries are looked up in the cache; it bounds the error of
// the recorded Ready time.
const trackPeriod = 25 * time.Millisecond

// track matches victims with their Ready replacements until ctx ends.
func (f *Fault) track(ctx context.Context) {
	ticker := f.d.Clock.NewTicker(trackPeriod)
	defer ticker.Stop()
	for {
		f.sweep()
		select {
		case <-ctx.Done():
			f.sweep()
			return
		case <-ticker.C():
		}
	}
}

func (f *Fault) sweep() {
	f.mu.Lock()
	var done []executor.Recovery
	now := f.d.Clock.Now()
	kept := f.pending[:0]
	for _, p := range f.pending {
		if r, ok := f.findReplacement(p, now); ok {
			done = append(done, r)
			continue
		}
		if now.After(p.deadline) {
			done = append(done, executor.Recovery{Victim: p.victim, Reason: fmt.Sprintf("no Ready replacement within %s", f.p.StatusCheckTimeout)})
			continue
		}
		kept = append(kept, p)
	}
	f.pending = kept
	f.finished = append(f.finished, done...)
	f.mu.Unlock()
	for _, r := range done {
		f.d.Observer.Recovered(r)
	}
}

// see records when a pod was first seen. Called with f.mu held.
func (f *Fault) see(uid types.UID) {
	if _, ok := f.seen[uid]; !ok {
		f.seen[uid] = f.d.Clock.Now()
	}
}

// findReplacement looks for a Ready pod of the victim's workload that did not exist when the
// victim was deleted and that no other victim has claimed, the oldest first: victims are
// swept in deletion order, so when several victims of one workload are deleted back to back
// each gets the replacement created for it. Called with f.mu held.
func (f *Fault) findReplacement(p *pendingRecovery, now time.Time) (executor.Recovery, bool) {
	w := p.victim.Owner
	pods, err := f.d.Selector.WorkloadPods(w.Kind, w.Namespace, w.Name)
	if err != nil {
		return executor.Recovery{}, false
	}
	var best *corev1.Pod
	for _, pod := range pods {
		f.see(pod.UID)
		if p.known[pod.UID] || f.claimed[pod.UID] {
			continue
		}
		if pod.Name == p.victim.Name { // a StatefulSet recreates its pods under the same name
			best = pod
			break
		}
		if w.Kind == "statefulset" {
			continue // only the pod with the victim's name replaces it
		}
		if best == nil || f.seen[pod.UID].Before(f.seen[best.UID]) ||
			(f.seen[pod.UID].Equal(f.seen[best.UID]) && pod.CreationTimestamp.Before(&best.CreationTimestamp)) {
			best = pod
		}
	}
	// Only the oldest new pod may be this victim's: if it is not Ready yet, wait for it.
	if best == nil || !kube.PodReady(best) {
		return executor.Recovery{}, false
	}
	f.claimed[best.UID] = true
	return executor.Recovery{Victim: p.victim, Replacement: best.Name, ReadyAt: now, Recovered: true}, true
}

func allReady(pods []*corev1.Pod) error {
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("pod %s/%s is %s, not Running", p.Namespace, p.Name, p.Status.Phase)
		}
		for _, c := range p.Status.ContainerStatuses {
			if !c.Ready {
				return fmt.Errorf("container %s of pod %s/%s is not ready", c.Name, p.Namespace, p.Name)
			}
		}
		if !kube.PodReady(p) {
			return fmt.Errorf("pod %s/%s is not Ready", p.Namespace, p.Name)
		}
	}
	return nil
}

func statusCheckError(err error) *litmus.Error {
	var le *litmus.Error
	if errors.As(err, &le) {
		return le
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &litmus.Error{Code: litmus.ErrorCodeExperimentAborted, Reason: err.Error(), Err: err}
	}
	var se *target.SelectionError
	if errors.As(err, &se) {
		return selectionError(err)
	}
	return &litmus.Error{Code: litmus.ErrorCodeStatusChecks, Reason: "application is not healthy: " + err.Error(), Err: err}
}

func selectionError(err error) *litmus.Error {
	le := &litmus.Error{Code: litmus.ErrorCodeTargetSelection, Phase: litmus.ExperimentPhaseChaosInject, Reason: err.Error(), Err: err}
	var se *target.SelectionError
	if errors.As(err, &se) {
		le.Reason, le.Target = se.Reason, se.Target
	}
	return le
}

func targetString(p *corev1.Pod) string {
	return "podName: " + p.Name + ", namespace: " + p.Namespace
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
