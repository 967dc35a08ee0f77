package probes

import (
	"context"
	"errors"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// tryFunc is one attempt of an evaluation: a success description, or a failure/error.
type tryFunc func(ctx context.Context) (string, *litmus.Error)

// evaluate runs one evaluation of p (all its attempts, §6.4) and returns the success
// description or the failure/error. A cancelled ctx yields a GENERIC_ERROR ("interrupted").
func (s *Session) evaluate(ctx context.Context, p *probe) (string, *litmus.Error) {
	s.mu.Lock()
	s.runs[p.idx]++
	first := s.runs[p.idx] == 1
	data := s.templateData()
	s.mu.Unlock()
	ev := &evaluation{s: s, p: p, first: first}

	var (
		desc string
		lerr *litmus.Error
	)
	switch p.spec.Type {
	case litmus.ProbeTypeHTTP:
		desc, lerr = s.evalHTTP(ctx, ev, data)
	case litmus.ProbeTypeCmd:
		desc, lerr = s.evalCmd(ctx, ev, data)
	case litmus.ProbeTypeK8s:
		desc, lerr = s.evalK8s(ctx, ev, data)
	case litmus.ProbeTypeProm:
		desc, lerr = s.evalProm(ctx, ev)
	default:
		lerr = p.errorf(litmus.ErrorCodeGeneric, "probe type %q is not supported", p.spec.Type)
	}
	if ctx.Err() != nil {
		return "", interrupted(ctx, "", p)
	}
	return desc, lerr
}

// evaluation carries the per-evaluation state to the type-specific code.
type evaluation struct {
	s     *Session
	p     *probe
	first bool
}

// logComparison logs a comparison at info on the first run of a probe with verbosity
// "info", at debug otherwise.
func (ev *evaluation) logComparison(actual string, err error) {
	lvl := zapcore.DebugLevel
	if ev.first && ev.p.spec.RunProperties.Verbosity == "info" {
		lvl = zapcore.InfoLevel
	}
	var expected string
	switch {
	case ev.p.cmp != nil:
		expected = ev.p.cmp.String()
	case ev.p.spec.K8sProbeInputs != nil:
		expected = "operation " + string(ev.p.spec.K8sProbeInputs.Operation)
	}
	fields := []zap.Field{
		zap.String("probe", ev.p.name()), zap.String("mode", string(ev.p.spec.Mode)),
		zap.String("actual", actual), zap.String("expected", expected), zap.Bool("passed", err == nil),
	}
	if err != nil {
		fields = append(fields, zap.String("reason", err.Error()))
	}
	ev.s.log.Log(lvl, "probe comparison", fields...)
}

// templateError is the GENERIC_ERROR of a probe whose chaining template cannot be rendered.
func (p *probe) templateError(err error) *litmus.Error {
	e := p.errorf(litmus.ErrorCodeGeneric, "probe %q: %v", p.name(), err)
	e.Err = err
	return e
}

// templateData snapshots the chaining data; s.mu must be held.
func (s *Session) templateData() map[string]artifactData {
	data := make(map[string]artifactData, len(s.probes))
	for _, p := range s.probes {
		data[p.name()] = artifactData{ProbeArtifacts: probeArtifacts{Register: s.artifacts[p.name()]}}
	}
	return data
}

// retry is the attempt loop of cmd, k8s and prom probes: up to Attempts tries, each bounded
// by probeTimeout (a context deadline); a try that took probeTimeout or longer, even if it
// succeeded, is a PROBE_TIMEOUT failure; interval between failed tries; first success wins.
func (s *Session) retry(ctx context.Context, p *probe, try tryFunc) (string, *litmus.Error) {
	var last *litmus.Error
	for i := 1; i <= p.attempts; i++ {
		start := s.r.clock.Now()
		tctx, cancel := context.WithTimeout(ctx, p.timings.ProbeTimeout)
		desc, lerr := try(tctx)
		deadline := errors.Is(tctx.Err(), context.DeadlineExceeded)
		cancel()
		if ctx.Err() != nil {
			return "", interrupted(ctx, "", p)
		}
		if deadline || (lerr == nil && s.r.clock.Since(start) >= p.timings.ProbeTimeout) {
			lerr = p.errorf(litmus.ErrorCodeProbeTimeout, "probe failed due to timeout: the try did not complete within probeTimeout %s", p.timings.ProbeTimeout)
		}
		if lerr == nil {
			return desc, nil
		}
		last = lerr
		s.log.Debug("probe attempt failed", zap.String("probe", p.name()), zap.Int("attempt", i),
			zap.Int("attempts", p.attempts), zap.String("code", string(lerr.Code)), zap.String("reason", lerr.Reason))
		if i < p.attempts {
			if err := s.wait(ctx, nil, p.timings.Interval); err != nil {
				return "", interrupted(ctx, "", p)
			}
		}
	}
	return "", last
}

// retryHTTP is the attempt loop of http probes: up to Attempts tries (the client timeout
// bounds each), interval after every try including a successful one, first success wins.
func (s *Session) retryHTTP(ctx context.Context, p *probe, try tryFunc) (string, *litmus.Error) {
	var last *litmus.Error
	for i := 1; i <= p.attempts; i++ {
		desc, lerr := try(ctx)
		if ctx.Err() != nil {
			return "", interrupted(ctx, "", p)
		}
		if lerr != nil {
			last = lerr
			s.log.Debug("probe attempt failed", zap.String("probe", p.name()), zap.Int("attempt", i),
				zap.Int("attempts", p.attempts), zap.String("code", string(lerr.Code)), zap.String("reason", lerr.Reason))
		}
		if err := s.wait(ctx, nil, p.timings.Interval); err != nil {
			return "", interrupted(ctx, "", p)
		}
		if lerr == nil {
			return desc, nil
		}
	}
	return "", last
}
