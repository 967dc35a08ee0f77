package probes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// ShellFunc runs an inline cmdProbe command. ctx carries the probe timeout; the command
// must be killed when ctx is done. exitCode is the command's exit status; err reports that
// the command could not be run at all (or was killed).
type ShellFunc func(ctx context.Context, command string) (stdout, stderr string, exitCode int, err error)

// Options configure a Runner. Zero values get defaults.
type Options struct {
	// Clock drives initial delays, intervals, polling and the OnChaos window, and measures
	// how long a try took; default clock.RealClock. Per-try timeouts (probeTimeout as a
	// context deadline, the HTTP client timeout) use the runtime's timers.
	Clock clock.WithTicker
	// Log receives the probe logs; default a no-op logger.
	Log *zap.Logger
	// Shell runs cmdProbe inline commands; default /bin/sh -c <cmd> (the whole process group
	// is killed when the probe timeout expires).
	Shell ShellFunc
	// ImageRegistry, when set, points cmdProbe source pods' images at a private registry
	// (imageref.Mirror); ImagePullSecrets are added to those pods' own.
	ImageRegistry    string
	ImagePullSecrets []string
}

// Runner evaluates the resilience probes of experiment runs.
type Runner struct {
	clock       clock.WithTicker
	log         *zap.Logger
	shell       ShellFunc
	registry    string
	pullSecrets []string
}

// NewRunner returns a Runner.
func NewRunner(o Options) *Runner {
	r := &Runner{clock: o.Clock, log: o.Log, shell: o.Shell, registry: o.ImageRegistry, pullSecrets: o.ImagePullSecrets}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	if r.shell == nil {
		r.shell = runShell
	}
	return r
}

// IsFailure reports whether err is a probe failure (the hypothesis was violated:
// *_PROBE_FAILURE or PROBE_TIMEOUT), as opposed to an execution error (*_PROBE_ERROR,
// GENERIC_ERROR) or nil.
func IsFailure(err error) bool {
	var le *litmus.Error
	if !errors.As(err, &le) {
		return false
	}
	return le.Code.IsProbeFailure() || le.Code == litmus.ErrorCodeProbeTimeout
}

// Session runs the probes of one experiment run through its phases. Its methods must be
// called in order: PreChaos, ChaosStarted, PostChaos, then Close (always, also after an
// error). Result may be called at any time, concurrently.
type Session struct {
	r      *Runner
	run    litmus.ProbeRun
	log    *zap.Logger
	probes []*probe

	mu             sync.Mutex
	statuses       []litmus.ProbeStatus
	counted        []bool // contributed to passed
	edgePreFailed  []bool
	runs           []int // evaluations started, for verbosity
	passed         int
	stoppedByProbe bool
	artifacts      map[string]string // cmdProbe name -> last successful trimmed stdout
	loops          []*loop
	pods           map[string]bool // live source pods
	preDone        bool
	chaosStarted   bool
	postStarted    bool
	closed         bool

	stopOnce  sync.Once
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// loop is a running Continuous or OnChaos probe.
type loop struct {
	p    *probe
	stop chan struct{} // closed by PostChaos: no further evaluations
	kill context.CancelFunc
	done chan struct{} // closed when the goroutine ends

	// Written by the goroutine before done is closed.
	err         *litmus.Error // the failure or error that ended the loop
	lastDesc    string        // description of the last successful evaluation
	evaluations int

	finalized bool // guarded by Session.mu: PostChaos has judged the loop
}

var errStopped = errors.New("probe loop stopped")

// Start validates every probe of run and returns a session: Runner is the executor's
// ProbeRunner. Invalid probes are reported as one *litmus.Error (GENERIC_ERROR, phase
// PreChaos) naming each offending probe.
func (r *Runner) Start(ctx context.Context, run litmus.ProbeRun) (litmus.ProbeSession, error) {
	s, err := r.start(ctx, run)
	if err != nil {
		return nil, err // not a nil *Session in a non-nil interface
	}
	return s, nil
}

func (r *Runner) start(ctx context.Context, run litmus.ProbeRun) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, &litmus.Error{Code: litmus.ErrorCodeGeneric, Phase: litmus.ExperimentPhasePreChaos, Reason: "probes not started: " + err.Error(), Err: err}
	}
	probes, err := validate(run)
	if err != nil {
		return nil, err
	}
	if run.StatusCheckDelay <= 0 {
		run.StatusCheckDelay = litmus.DefaultStatusCheckDelay
	}
	if run.StatusCheckTimeout <= 0 {
		run.StatusCheckTimeout = litmus.DefaultStatusCheckTimeout
	}
	n := len(probes)
	s := &Session{
		r:             r,
		run:           run,
		log:           r.log.With(zap.String("experiment", run.Experiment), zap.String("engine", run.Engine)),
		probes:        probes,
		statuses:      make([]litmus.ProbeStatus, n),
		counted:       make([]bool, n),
		edgePreFailed: make([]bool, n),
		runs:          make([]int, n),
		artifacts:     map[string]string{},
		pods:          map[string]bool{},
	}
	for i, p := range probes {
		if p.isSource() && p.spec.CmdProbeInputs.Source.InheritInputs {
			s.log.Warn("cmdProbe source.inheritInputs is not supported by chaos-agent and is ignored", zap.String("probe", p.name()))
		}
		s.statuses[i] = litmus.ProbeStatus{
			Name: p.name(), Type: p.spec.Type, Mode: p.spec.Mode,
			Status: litmus.ProbeStatusDetail{Verdict: litmus.ProbeVerdictAwaited},
		}
	}
	return s, nil
}

// PreChaos evaluates the SOT probes and the PreChaos half of the Edge probes synchronously,
// in engine order, then launches the Continuous probes (their source pods are created and
// awaited first). The Continuous probes run until PostChaos, Close, or until ctx is done:
// ctx must outlive the chaos.
//
// An execution error is returned at once (the probe stays Awaited); a failure marks the
// probe Failed and is returned only when the probe has stopOnFailure.
func (s *Session) PreChaos(ctx context.Context) error {
	const phase = litmus.ExperimentPhasePreChaos
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return sessionErr(phase, "session is closed")
	case s.preDone:
		s.mu.Unlock()
		return sessionErr(phase, "PreChaos already ran")
	}
	s.preDone = true
	s.mu.Unlock()

	for _, p := range s.probes {
		if p.spec.Mode == litmus.ProbeModeSOT || p.spec.Mode == litmus.ProbeModeEdge {
			if err := s.runSync(ctx, phase, p); err != nil {
				return err
			}
		}
	}
	for _, p := range s.probes {
		if p.spec.Mode != litmus.ProbeModeContinuous {
			continue
		}
		if p.isSource() {
			if lerr := s.startSourcePod(ctx, p); lerr != nil {
				return lerr.WithPhase(phase)
			}
		}
		s.launch(ctx, p)
	}
	return nil
}

// ChaosStarted launches the OnChaos probes. Their window is Run.ChaosDuration from now. A
// source pod of an OnChaos cmdProbe is created by the probe's goroutine (its wait counts
// against the window); problems are reported by PostChaos. ctx must outlive the chaos.
func (s *Session) ChaosStarted(ctx context.Context) {
	s.mu.Lock()
	if s.closed || s.chaosStarted || s.postStarted {
		s.mu.Unlock()
		return
	}
	s.chaosStarted = true
	s.mu.Unlock()
	for _, p := range s.probes {
		if p.spec.Mode == litmus.ProbeModeOnChaos {
			s.launch(ctx, p)
		}
	}
}

// PostChaos stops the Continuous/OnChaos loops (an evaluation in progress completes), waits
// for them at most Run.StatusCheckTimeout (a loop still running then is a PROBE_TIMEOUT
// failure), and judges them in engine order. If any of them returns an error, the combined
// error is returned and the EOT and Edge probes are not run. Otherwise the EOT probes and
// the PostChaos half of the Edge probes are evaluated synchronously in engine order, like
// PreChaos.
func (s *Session) PostChaos(ctx context.Context) error {
	const phase = litmus.ExperimentPhasePostChaos
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return sessionErr(phase, "session is closed")
	case s.postStarted:
		s.mu.Unlock()
		return sessionErr(phase, "PostChaos already ran")
	}
	s.postStarted = true
	loops := slices.Clone(s.loops)
	s.mu.Unlock()

	slices.SortFunc(loops, func(a, b *loop) int { return a.p.idx - b.p.idx })
	for _, l := range loops {
		close(l.stop)
	}
	var errs []*litmus.Error
	if len(loops) > 0 {
		timer := s.r.clock.NewTimer(s.run.StatusCheckTimeout)
		timedOut := false
		for _, l := range loops {
			if !timedOut {
				select {
				case <-l.done:
				case <-timer.C():
					timedOut = true
				case <-ctx.Done():
					timer.Stop()
					return interrupted(ctx, phase, nil)
				}
			}
			if lerr := s.judgeLoop(l); lerr != nil {
				errs = append(errs, lerr)
			}
		}
		timer.Stop()
		for _, l := range loops {
			if l.p.isSource() {
				s.deleteSourcePod(ctx, l.p, false)
			}
		}
	}
	if len(errs) > 0 {
		return combine(phase, errs)
	}
	for _, p := range s.probes {
		if p.spec.Mode == litmus.ProbeModeEOT || p.spec.Mode == litmus.ProbeModeEdge {
			if err := s.runSync(ctx, phase, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// Result returns a snapshot of the probe statuses.
func (s *Session) Result() litmus.ProbeResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return litmus.ProbeResult{Statuses: slices.Clone(s.statuses), Passed: s.passed, StoppedByProbe: s.stoppedByProbe}
}

// Close stops the probe loops still running, waits for them, and deletes the source pods
// left (best effort, for up to 30 s, even when ctx is already cancelled). It is idempotent.
func (s *Session) Close(ctx context.Context) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		loops := slices.Clone(s.loops)
		s.mu.Unlock()
		for _, l := range loops {
			l.kill()
		}
		s.wg.Wait()
		s.mu.Lock()
		var pods []string
		for name := range s.pods {
			pods = append(pods, name)
		}
		s.mu.Unlock()
		if len(pods) > 0 {
			// The clean-up outlives the run's cancellation, bounded on its own.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			for _, name := range pods {
				s.deletePod(ctx, name, false)
			}
		}
		for _, p := range s.probes {
			if p.httpClient != nil {
				p.httpClient.CloseIdleConnections()
			}
		}
	})
}

// launch starts the loop of an async probe.
func (s *Session) launch(ctx context.Context, p *probe) {
	lctx, kill := context.WithCancel(ctx)
	l := &loop{p: p, stop: make(chan struct{}), kill: kill, done: make(chan struct{})}
	launched := s.r.clock.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		kill()
		return
	}
	s.loops = append(s.loops, l)
	s.wg.Add(1)
	s.mu.Unlock()
	s.log.Debug("probe launched", zap.String("probe", p.name()), zap.String("mode", string(p.spec.Mode)))
	go func() {
		defer s.wg.Done()
		defer kill()
		defer close(l.done)
		s.runLoop(lctx, l, launched)
	}()
}

// runLoop is the Continuous/OnChaos loop: initialDelay once, then {stopped? → (OnChaos:
// window over?) → evaluate → failure or error ends the loop → probePollingInterval}.
func (s *Session) runLoop(ctx context.Context, l *loop, launched time.Time) {
	p := l.p
	onChaos := p.spec.Mode == litmus.ProbeModeOnChaos
	deadline := launched.Add(s.run.ChaosDuration)
	// untilDeadline caps a wait at the end of the OnChaos window; ok is false once it passed.
	untilDeadline := func(d time.Duration) (time.Duration, bool) {
		if !onChaos {
			return d, true
		}
		left := deadline.Sub(s.r.clock.Now())
		if left <= 0 {
			return 0, false
		}
		return min(d, left), true
	}
	if onChaos && p.isSource() {
		if lerr := s.startSourcePod(ctx, p); lerr != nil {
			l.err = lerr
			return
		}
	}
	wait := func(d time.Duration) bool {
		err := s.wait(ctx, l.stop, d)
		if err != nil && !errors.Is(err, errStopped) {
			l.err = interrupted(ctx, "", p)
		}
		return err == nil
	}
	if d, ok := untilDeadline(p.timings.InitialDelay); !ok || !wait(d) {
		return
	}
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		if _, ok := untilDeadline(0); !ok {
			return
		}
		desc, lerr := s.evaluate(ctx, p)
		l.evaluations++
		if lerr != nil {
			l.err = lerr
			if IsFailure(lerr) {
				s.asyncFailed(l, lerr)
			}
			return
		}
		l.lastDesc = desc
		d, ok := untilDeadline(p.timings.ProbePollingInterval)
		if !ok || !wait(d) {
			return
		}
	}
}

// asyncFailed records the failure of a running loop at once; with stopOnFailure it flags the
// probe stopped and calls Run.Stop (once per session).
func (s *Session) asyncFailed(l *loop, lerr *litmus.Error) {
	p := l.p
	s.mu.Lock()
	if l.finalized {
		s.mu.Unlock()
		return
	}
	s.setFailed(p, lerr.Reason)
	stop := p.spec.RunProperties.StopOnFailure
	if stop {
		s.stoppedByProbe = true
	}
	s.mu.Unlock()
	s.log.Info("probe failed", zap.String("probe", p.name()), zap.String("mode", string(p.spec.Mode)),
		zap.String("code", string(lerr.Code)), zap.String("reason", lerr.Reason), zap.Bool("stopOnFailure", stop))
	if stop && s.run.Stop != nil {
		reason := fmt.Sprintf("probe %q (%s, %s) with stopOnFailure failed: %s: %s", p.name(), p.spec.Type, p.spec.Mode, lerr.Code, lerr.Reason)
		s.stopOnce.Do(func() { s.run.Stop(reason) })
	}
}

// judgeLoop evaluates an async probe at PostChaos (its loop has ended or timed out) and
// returns what the phase runner returns for it.
func (s *Session) judgeLoop(l *loop) *litmus.Error {
	const phase = litmus.ExperimentPhasePostChaos
	p := l.p
	select {
	case <-l.done:
	default:
		// Still running after StatusCheckTimeout.
		s.mu.Lock()
		l.finalized = true
		s.mu.Unlock()
		l.kill()
		lerr := p.errorf(litmus.ErrorCodeProbeTimeout, "Probe is failed due to timeout: its %s loop did not end within %s", p.spec.Mode, s.run.StatusCheckTimeout)
		return s.record(phase, p, "", lerr)
	}
	s.mu.Lock()
	l.finalized = true
	s.mu.Unlock()
	if l.err != nil {
		return s.record(phase, p, "", l.err)
	}
	desc := l.lastDesc
	if l.evaluations == 0 {
		desc = fmt.Sprintf("Probe was not evaluated: the %s window ended before its first evaluation", p.spec.Mode)
		s.log.Warn("probe never evaluated", zap.String("probe", p.name()), zap.String("mode", string(p.spec.Mode)))
	}
	return s.record(phase, p, desc, nil)
}

// runSync is the phase runner for one synchronous evaluation (SOT, EOT, Edge).
func (s *Session) runSync(ctx context.Context, phase litmus.ExperimentPhase, p *probe) error {
	if err := s.wait(ctx, nil, p.timings.InitialDelay); err != nil {
		return interrupted(ctx, phase, p)
	}
	if p.isSource() {
		if lerr := s.startSourcePod(ctx, p); lerr != nil {
			s.deleteSourcePod(ctx, p, true)
			return lerr.WithPhase(phase)
		}
		defer s.deleteSourcePod(ctx, p, true)
	}
	desc, lerr := s.evaluate(ctx, p)
	if lerr := s.record(phase, p, desc, lerr); lerr != nil {
		return lerr
	}
	return nil
}

// record applies the phase-runner rules (§6.3) to one evaluation outcome and returns the
// error the phase must return, if any.
func (s *Session) record(phase litmus.ExperimentPhase, p *probe, desc string, lerr *litmus.Error) *litmus.Error {
	if lerr != nil && !IsFailure(lerr) {
		s.log.Info("probe error", zap.String("probe", p.name()), zap.String("phase", string(phase)),
			zap.String("code", string(lerr.Code)), zap.String("reason", lerr.Reason))
		return lerr.WithPhase(phase)
	}
	edgePre := p.spec.Mode == litmus.ProbeModeEdge && phase == litmus.ExperimentPhasePreChaos
	s.mu.Lock()
	defer s.mu.Unlock()
	if lerr == nil {
		switch {
		case edgePre:
			// A pass in PreChaos does not set the verdict and is not counted.
		case p.spec.Mode == litmus.ProbeModeEdge && s.edgePreFailed[p.idx]:
			// The verdict stays Failed.
		default:
			s.statuses[p.idx].Status = litmus.ProbeStatusDetail{Verdict: litmus.ProbeVerdictPassed, Description: desc}
			if !s.counted[p.idx] {
				s.counted[p.idx] = true
				s.passed++
			}
		}
		s.log.Debug("probe passed", zap.String("probe", p.name()), zap.String("phase", string(phase)))
		return nil
	}
	s.setFailed(p, lerr.Reason)
	if edgePre {
		s.edgePreFailed[p.idx] = true
	}
	s.log.Info("probe failed", zap.String("probe", p.name()), zap.String("phase", string(phase)),
		zap.String("code", string(lerr.Code)), zap.String("reason", lerr.Reason))
	if p.spec.RunProperties.StopOnFailure {
		s.stoppedByProbe = true
		return lerr.WithPhase(phase)
	}
	return nil
}

// setFailed marks a probe Failed; s.mu must be held.
func (s *Session) setFailed(p *probe, reason string) {
	if s.counted[p.idx] {
		s.counted[p.idx] = false
		s.passed--
	}
	s.statuses[p.idx].Status = litmus.ProbeStatusDetail{Verdict: litmus.ProbeVerdictFailed, Description: reason}
}

// wait blocks for d on the injected clock. It returns errStopped early when stop is closed
// (a nil stop never is) and ctx.Err() when ctx is done.
func (s *Session) wait(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := s.r.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return errStopped
	}
}

// target identifies the probe in errors, like upstream's "{name: …, type: …, mode: …}".
func (p *probe) target() string {
	return fmt.Sprintf("{name: %s, type: %s, mode: %s}", p.name(), p.spec.Type, p.spec.Mode)
}

// errorf returns a *litmus.Error for this probe.
func (p *probe) errorf(code litmus.ErrorCode, format string, a ...any) *litmus.Error {
	e := litmus.NewError(code, format, a...)
	e.Target = p.target()
	return e
}

func sessionErr(phase litmus.ExperimentPhase, msg string) *litmus.Error {
	return &litmus.Error{Code: litmus.ErrorCodeGeneric, Phase: phase, Reason: "probes: " + msg}
}

// interrupted is the error of an evaluation cut short by ctx (abort, Close).
func interrupted(ctx context.Context, phase litmus.ExperimentPhase, p *probe) *litmus.Error {
	err := context.Cause(ctx)
	if err == nil {
		err = context.Canceled
	}
	e := &litmus.Error{Code: litmus.ErrorCodeGeneric, Phase: phase, Reason: "probe evaluation interrupted: " + err.Error(), Err: err}
	if p != nil {
		e.Reason = fmt.Sprintf("probe %q interrupted: %v", p.name(), err)
		e.Target = p.target()
	}
	return e
}

// combine merges the errors of the PostChaos evaluation of the async probes.
func combine(phase litmus.ExperimentPhase, errs []*litmus.Error) *litmus.Error {
	if len(errs) == 1 {
		return errs[0].WithPhase(phase)
	}
	reasons := make([]string, len(errs))
	joined := make([]error, len(errs))
	for i, e := range errs {
		reasons[i] = e.Reason
		joined[i] = e
	}
	return &litmus.Error{
		Code:   errs[0].Code,
		Phase:  phase,
		Reason: strings.Join(reasons, "; "),
		Target: errs[0].Target,
		Err:    errors.Join(joined...),
	}
}
