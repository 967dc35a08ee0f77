package probes

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// Probe builders for the tests.

func props(timeout, interval string) litmus.RunProperties {
	return litmus.RunProperties{ProbeTimeout: litmus.DurationFromString(timeout), Interval: litmus.DurationFromString(interval)}
}

type probeOpt func(*litmus.Probe)

func withRP(f func(*litmus.RunProperties)) probeOpt {
	return func(p *litmus.Probe) { f(&p.RunProperties) }
}

func stopOnFailure() probeOpt {
	return withRP(func(r *litmus.RunProperties) { r.StopOnFailure = true })
}

func polling(d string) probeOpt {
	return withRP(func(r *litmus.RunProperties) { r.ProbePollingInterval = litmus.DurationFromString(d) })
}

func initialDelay(d string) probeOpt {
	return withRP(func(r *litmus.RunProperties) { r.InitialDelay = litmus.DurationFromString(d) })
}

func attempts(n int) probeOpt {
	return withRP(func(r *litmus.RunProperties) { r.Attempt = n })
}

func apply(p litmus.Probe, opts []probeOpt) litmus.Probe {
	for _, o := range opts {
		o(&p)
	}
	return p
}

// cmdProbe is an inline cmdProbe comparing its output with the comparator.
func cmdProbe(name string, mode litmus.ProbeMode, command, typ, criteria, value string, opts ...probeOpt) litmus.Probe {
	return apply(litmus.Probe{
		Name: name, Type: litmus.ProbeTypeCmd, Mode: mode, RunProperties: props("10s", "1s"),
		CmdProbeInputs: &litmus.CmdProbeInputs{
			Command:    command,
			Comparator: litmus.Comparator{Type: litmus.ComparatorType(typ), Criteria: criteria, Value: value},
		},
	}, opts)
}

// okProbe is an inline cmdProbe passing when the command outputs "1".
func okProbe(name string, mode litmus.ProbeMode, command string, opts ...probeOpt) litmus.Probe {
	return cmdProbe(name, mode, command, "int", "==", "1", opts...)
}

func httpGetProbe(name string, mode litmus.ProbeMode, url, criteria, code string, opts ...probeOpt) litmus.Probe {
	return apply(litmus.Probe{
		Name: name, Type: litmus.ProbeTypeHTTP, Mode: mode, RunProperties: props("5s", "10ms"),
		HTTPProbeInputs: &litmus.HTTPProbeInputs{
			URL:    url,
			Method: litmus.HTTPMethod{Get: &litmus.HTTPGet{Criteria: criteria, ResponseCode: code}},
		},
	}, opts)
}

func k8sProbe(name string, in litmus.K8sProbeInputs, data string, opts ...probeOpt) litmus.Probe {
	return apply(litmus.Probe{
		Name: name, Type: litmus.ProbeTypeK8s, Mode: litmus.ProbeModeSOT, RunProperties: props("10s", "100ms"),
		K8sProbeInputs: &in, Data: data,
	}, opts)
}

func promProbe(name, endpoint, query, criteria, value string, opts ...probeOpt) litmus.Probe {
	return apply(litmus.Probe{
		Name: name, Type: litmus.ProbeTypeProm, Mode: litmus.ProbeModeSOT, RunProperties: props("10s", "100ms"),
		PromProbeInputs: &litmus.PromProbeInputs{
			Endpoint: endpoint, Query: query,
			Comparator: litmus.Comparator{Criteria: criteria, Value: value},
		},
	}, opts)
}

// testRunner returns a runner with the real clock and shell, logging to t.
func testRunner(t *testing.T) *Runner {
	return NewRunner(Options{Log: zaptest.NewLogger(t)})
}

// startSession starts a session and closes it when the test ends.
func startSession(t *testing.T, r *Runner, run litmus.ProbeRun) *Session {
	t.Helper()
	if run.Experiment == "" {
		run.Experiment = "pod-delete"
	}
	s, err := r.start(t.Context(), run)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// runSOT runs the probes (SOT mode expected) through PreChaos and returns its error and the
// result.
func runSOT(t *testing.T, r *Runner, run litmus.ProbeRun) (litmus.ProbeResult, error) {
	t.Helper()
	s := startSession(t, r, run)
	err := s.PreChaos(t.Context())
	return s.Result(), err
}

// status returns the status of the named probe.
func status(t *testing.T, res litmus.ProbeResult, name string) litmus.ProbeStatusDetail {
	t.Helper()
	for _, st := range res.Statuses {
		if st.Name == name {
			return st.Status
		}
	}
	t.Fatalf("no status for probe %q in %+v", name, res.Statuses)
	return litmus.ProbeStatusDetail{}
}

// wantVerdict checks the verdict of a probe and that its description contains each of want.
func wantVerdict(t *testing.T, res litmus.ProbeResult, name string, v litmus.ProbeVerdict, want ...string) {
	t.Helper()
	st := status(t, res, name)
	if st.Verdict != v {
		t.Errorf("probe %s: verdict %s (%q), want %s", name, st.Verdict, st.Description, v)
	}
	for _, w := range want {
		if !strings.Contains(st.Description, w) {
			t.Errorf("probe %s: description %q does not contain %q", name, st.Description, w)
		}
	}
}

// wantCode checks that err is a *litmus.Error with the code and that its reason contains
// each of want.
func wantCode(t *testing.T, err error, code litmus.ErrorCode, want ...string) *litmus.Error {
	t.Helper()
	var le *litmus.Error
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T) is not a *litmus.Error with code %s", err, err, code)
	}
	if le.Code != code {
		t.Errorf("error code %s (%v), want %s", le.Code, le, code)
	}
	for _, w := range want {
		if !strings.Contains(le.Reason, w) {
			t.Errorf("error reason %q does not contain %q", le.Reason, w)
		}
	}
	return le
}

// checkGoroutines fails the test if goroutines started during it are still running once
// every other cleanup ran. Call it first in the test (cleanups run last-in first-out).
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d goroutines before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
