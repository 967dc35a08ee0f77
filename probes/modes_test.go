package probes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// The mode tests run inside synctest bubbles with a fake clock and a fake shell: the probe
// goroutines block only on fake-clock timers and channels, so after synctest.Wait() the
// test knows every goroutine is idle, steps the clock and observes exactly what ran when.
// synctest.Test also fails if a goroutine of the bubble is left behind (leak check).

// fakeShell is a scripted ShellFunc. Commands are probe names; respond decides the output
// of the n-th call (1-based) of a command. It records every call with the fake time.
type fakeShell struct {
	clock   *clocktesting.FakeClock
	start   time.Time
	mu      sync.Mutex
	calls   []shellCall
	counts  map[string]int
	respond func(ctx context.Context, command string, n int) (stdout string, exitCode int)
}

type shellCall struct {
	command string
	at      time.Duration // since the start of the test
}

func (c shellCall) String() string { return fmt.Sprintf("%s@%s", c.command, c.at) }

func newFakeShell(fc *clocktesting.FakeClock) *fakeShell {
	return &fakeShell{clock: fc, start: fc.Now(), counts: map[string]int{}}
}

func (f *fakeShell) shell(ctx context.Context, command string) (string, string, int, error) {
	f.mu.Lock()
	f.counts[command]++
	n := f.counts[command]
	f.calls = append(f.calls, shellCall{command, f.clock.Since(f.start)})
	respond := f.respond
	f.mu.Unlock()
	if respond == nil {
		return "1", "", 0, nil
	}
	out, code := respond(ctx, command, n)
	return out, "", code, nil
}

func (f *fakeShell) history() []shellCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeShell) count(command string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[command]
}

// bubble is a session under a fake clock inside a synctest bubble.
type bubble struct {
	t     *testing.T
	clock *clocktesting.FakeClock
	shell *fakeShell
	s     *Session
	stops []string
	mu    sync.Mutex
}

func newBubble(t *testing.T, run litmus.ProbeRun, respond func(ctx context.Context, command string, n int) (string, int)) *bubble {
	t.Helper()
	fc := clocktesting.NewFakeClock(time.Now())
	b := &bubble{t: t, clock: fc, shell: newFakeShell(fc)}
	b.shell.respond = respond
	r := NewRunner(Options{Clock: fc, Log: zaptest.NewLogger(t), Shell: b.shell.shell})
	if run.Experiment == "" {
		run.Experiment = "pod-delete"
	}
	run.Stop = func(reason string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.stops = append(b.stops, reason)
	}
	s, err := r.start(t.Context(), run)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	b.s = s
	t.Cleanup(s.Close)
	return b
}

// step advances the fake clock once every goroutine is idle, then waits until they are idle
// again.
func (b *bubble) step(d time.Duration) {
	synctest.Wait()
	b.clock.Step(d)
	synctest.Wait()
}

// async runs f in a goroutine and returns a channel with its error.
func async(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// done reports whether ch already has a value (after synctest.Wait).
func done(ch <-chan error) (bool, error) {
	select {
	case err := <-ch:
		return true, err
	default:
		return false, nil
	}
}

func (b *bubble) wantCalls(want ...string) {
	b.t.Helper()
	var got []string
	for _, c := range b.shell.history() {
		got = append(got, c.String())
	}
	if !slices.Equal(got, want) {
		b.t.Errorf("calls %v, want %v", got, want)
	}
}

// wantCallSet is wantCalls ignoring the order (for loops that run at the same instant).
func (b *bubble) wantCallSet(want ...string) {
	b.t.Helper()
	var got []string
	for _, c := range b.shell.history() {
		got = append(got, c.String())
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		b.t.Errorf("calls %v, want (in any order) %v", got, want)
	}
}

func (b *bubble) stopReasons() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.stops)
}

const (
	SOT        = litmus.ProbeModeSOT
	EOT        = litmus.ProbeModeEOT
	Edge       = litmus.ProbeModeEdge
	Continuous = litmus.ProbeModeContinuous
	OnChaos    = litmus.ProbeModeOnChaos
)

// failOn returns a respond function that outputs "0" (failure) for the listed (command, n)
// pairs, "1" otherwise.
func failOn(fails map[string][]int) func(context.Context, string, int) (string, int) {
	return func(_ context.Context, cmd string, n int) (string, int) {
		if slices.Contains(fails[cmd], n) {
			return "0", 0
		}
		return "1", 0
	}
}

func TestModesSynchronous(t *testing.T) {
	tests := []struct {
		name       string
		probes     []litmus.Probe
		respond    func(context.Context, string, int) (string, int)
		afterPre   map[string]litmus.ProbeVerdict
		preErr     litmus.ErrorCode
		postErr    litmus.ErrorCode
		wantCalls  []string
		final      map[string]litmus.ProbeVerdict
		wantPassed int
		stopped    bool
	}{
		{
			name:       "order and counting",
			probes:     []litmus.Probe{okProbe("sot", SOT, "sot"), okProbe("edge", Edge, "edge"), okProbe("eot", EOT, "eot")},
			afterPre:   map[string]litmus.ProbeVerdict{"sot": "Passed", "edge": "Awaited", "eot": "Awaited"},
			wantCalls:  []string{"sot@0s", "edge@0s", "edge@0s", "eot@0s"},
			final:      map[string]litmus.ProbeVerdict{"sot": "Passed", "edge": "Passed", "eot": "Passed"},
			wantPassed: 3,
		},
		{
			name:       "edge fails in pre, passes in post: stays Failed, not counted",
			probes:     []litmus.Probe{okProbe("edge", Edge, "edge")},
			respond:    failOn(map[string][]int{"edge": {1}}),
			afterPre:   map[string]litmus.ProbeVerdict{"edge": "Failed"},
			wantCalls:  []string{"edge@0s", "edge@0s"},
			final:      map[string]litmus.ProbeVerdict{"edge": "Failed"},
			wantPassed: 0,
		},
		{
			name:       "edge passes in pre, fails in post",
			probes:     []litmus.Probe{okProbe("edge", Edge, "edge")},
			respond:    failOn(map[string][]int{"edge": {2}}),
			afterPre:   map[string]litmus.ProbeVerdict{"edge": "Awaited"},
			wantCalls:  []string{"edge@0s", "edge@0s"},
			final:      map[string]litmus.ProbeVerdict{"edge": "Failed"},
			wantPassed: 0,
		},
		{
			name:       "a failure without stopOnFailure continues the phase",
			probes:     []litmus.Probe{okProbe("a", SOT, "a"), okProbe("b", SOT, "b"), okProbe("c", EOT, "c")},
			respond:    failOn(map[string][]int{"a": {1}}),
			afterPre:   map[string]litmus.ProbeVerdict{"a": "Failed", "b": "Passed", "c": "Awaited"},
			wantCalls:  []string{"a@0s", "b@0s", "c@0s"},
			final:      map[string]litmus.ProbeVerdict{"a": "Failed", "b": "Passed", "c": "Passed"},
			wantPassed: 2,
		},
		{
			name:       "a failure with stopOnFailure ends the phase",
			probes:     []litmus.Probe{okProbe("a", SOT, "a", stopOnFailure()), okProbe("b", SOT, "b")},
			respond:    failOn(map[string][]int{"a": {1}}),
			preErr:     litmus.ErrorCodeCmdProbeFailure,
			afterPre:   map[string]litmus.ProbeVerdict{"a": "Failed", "b": "Awaited"},
			wantCalls:  []string{"a@0s"},
			wantPassed: 0,
			stopped:    true,
		},
		{
			name:   "an error ends the phase and leaves the verdict Awaited",
			probes: []litmus.Probe{okProbe("a", SOT, "a"), okProbe("b", SOT, "b")},
			respond: func(_ context.Context, cmd string, _ int) (string, int) {
				if cmd == "a" {
					return "", 2
				}
				return "1", 0
			},
			preErr:    litmus.ErrorCodeCmdProbeError,
			afterPre:  map[string]litmus.ProbeVerdict{"a": "Awaited", "b": "Awaited"},
			wantCalls: []string{"a@0s"},
		},
		{
			name:       "EOT error in post",
			probes:     []litmus.Probe{okProbe("a", EOT, "a"), okProbe("b", EOT, "b")},
			respond:    func(_ context.Context, cmd string, _ int) (string, int) { return "1", map[string]int{"a": 1}[cmd] },
			afterPre:   map[string]litmus.ProbeVerdict{"a": "Awaited", "b": "Awaited"},
			postErr:    litmus.ErrorCodeCmdProbeError,
			wantCalls:  []string{"a@0s"},
			final:      map[string]litmus.ProbeVerdict{"a": "Awaited", "b": "Awaited"},
			wantPassed: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t, litmus.ProbeRun{Probes: tt.probes}, tt.respond)
				err := b.s.PreChaos(t.Context())
				if tt.preErr != "" {
					le := wantCode(t, err, tt.preErr)
					if le.Phase != litmus.ExperimentPhasePreChaos {
						t.Errorf("phase %q", le.Phase)
					}
				} else if err != nil {
					t.Fatalf("PreChaos: %v", err)
				}
				res := b.s.Result()
				for n, v := range tt.afterPre {
					wantVerdict(t, res, n, v)
				}
				if tt.preErr == "" {
					b.s.ChaosStarted(t.Context())
					err = b.s.PostChaos(t.Context())
					if tt.postErr != "" {
						le := wantCode(t, err, tt.postErr)
						if le.Phase != litmus.ExperimentPhasePostChaos {
							t.Errorf("phase %q", le.Phase)
						}
					} else if err != nil {
						t.Fatalf("PostChaos: %v", err)
					}
					res = b.s.Result()
					for n, v := range tt.final {
						wantVerdict(t, res, n, v)
					}
				}
				b.wantCalls(tt.wantCalls...)
				if res.Passed != tt.wantPassed {
					t.Errorf("Passed = %d, want %d", res.Passed, tt.wantPassed)
				}
				if res.StoppedByProbe != tt.stopped {
					t.Errorf("StoppedByProbe = %v, want %v", res.StoppedByProbe, tt.stopped)
				}
				// Statuses keep engine order.
				for i, st := range res.Statuses {
					if st.Name != tt.probes[i].Name || st.Mode != tt.probes[i].Mode || st.Type != litmus.ProbeTypeCmd {
						t.Errorf("status %d = %+v", i, st)
					}
				}
			})
		})
	}
}

func TestModesInitialDelay(t *testing.T) {
	tests := []struct {
		name string
		opt  probeOpt
		want time.Duration
	}{
		{"initialDelay", initialDelay("10s"), 10 * time.Second},
		{"initialDelaySeconds when initialDelay is empty", withRP(func(r *litmus.RunProperties) { r.InitialDelaySeconds = 5 }), 5 * time.Second},
		{"initialDelay wins over initialDelaySeconds", func(p *litmus.Probe) {
			p.RunProperties.InitialDelay = litmus.DurationFromString("3s")
			p.RunProperties.InitialDelaySeconds = 50
		}, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{okProbe("sot", SOT, "sot", tt.opt), okProbe("edge", Edge, "edge", tt.opt)}}, nil)
				pre := async(func() error { return b.s.PreChaos(t.Context()) })
				b.step(tt.want - time.Second)
				b.wantCalls()
				b.step(time.Second)
				b.wantCalls(fmt.Sprintf("sot@%s", tt.want))
				b.step(tt.want)
				b.wantCalls(fmt.Sprintf("sot@%s", tt.want), fmt.Sprintf("edge@%s", 2*tt.want))
				if ok, err := done(pre); !ok || err != nil {
					t.Fatalf("PreChaos: done %v, err %v", ok, err)
				}
				// Edge waits its initialDelay again in PostChaos.
				post := async(func() error { return b.s.PostChaos(t.Context()) })
				b.step(tt.want)
				if ok, err := done(post); !ok || err != nil {
					t.Fatalf("PostChaos: done %v, err %v", ok, err)
				}
				b.wantCalls(fmt.Sprintf("sot@%s", tt.want), fmt.Sprintf("edge@%s", 2*tt.want), fmt.Sprintf("edge@%s", 3*tt.want))
			})
		})
	}
}

func TestModesInitialDelayCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{okProbe("sot", SOT, "sot", initialDelay("1m"))}}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		pre := async(func() error { return b.s.PreChaos(ctx) })
		synctest.Wait()
		cancel()
		synctest.Wait()
		ok, err := done(pre)
		if !ok {
			t.Fatal("PreChaos still waiting after cancel")
		}
		wantCode(t, err, litmus.ErrorCodeGeneric, "interrupted")
		b.wantCalls()
		wantVerdict(t, b.s.Result(), "sot", litmus.ProbeVerdictAwaited)
	})
}

func TestModesAttempts(t *testing.T) {
	t.Run("attempt: interval between failed tries, first success wins", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{okProbe("p", SOT, "p", attempts(5),
				withRP(func(r *litmus.RunProperties) { r.Interval = litmus.DurationFromString("2s") }))}},
				failOn(map[string][]int{"p": {1, 2}}))
			pre := async(func() error { return b.s.PreChaos(t.Context()) })
			b.step(2 * time.Second)
			b.step(2 * time.Second)
			if ok, err := done(pre); !ok || err != nil {
				t.Fatalf("PreChaos: done %v, err %v", ok, err)
			}
			b.wantCalls("p@0s", "p@2s", "p@4s")
			wantVerdict(t, b.s.Result(), "p", litmus.ProbeVerdictPassed)
		})
	})
	t.Run("retry is the legacy attempt count", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{okProbe("p", SOT, "p",
				withRP(func(r *litmus.RunProperties) { r.Retry = 2; r.Interval = litmus.DurationFromString("1s") }))}},
				failOn(map[string][]int{"p": {1, 2, 3}}))
			pre := async(func() error { return b.s.PreChaos(t.Context()) })
			b.step(time.Second)
			if ok, err := done(pre); !ok || err != nil {
				t.Fatalf("PreChaos: done %v, err %v", ok, err)
			}
			b.wantCalls("p@0s", "p@1s")
			wantVerdict(t, b.s.Result(), "p", litmus.ProbeVerdictFailed, "Actual value: 0")
		})
	})
	t.Run("a slow success is a timeout failure", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var b *bubble
			b = newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{okProbe("p", SOT, "p", stopOnFailure(),
				withRP(func(r *litmus.RunProperties) { r.ProbeTimeout = litmus.DurationFromString("5s") }))}},
				func(context.Context, string, int) (string, int) {
					b.clock.Step(5 * time.Second) // the command "takes" probeTimeout
					return "1", 0
				})
			err := b.s.PreChaos(t.Context())
			wantCode(t, err, litmus.ErrorCodeProbeTimeout, "probe failed due to timeout")
			if !IsFailure(err) {
				t.Error("PROBE_TIMEOUT is not a failure")
			}
			wantVerdict(t, b.s.Result(), "p", litmus.ProbeVerdictFailed, "timeout")
		})
	})
	t.Run("a try is cut at probeTimeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{okProbe("p", SOT, "p",
				withRP(func(r *litmus.RunProperties) { r.ProbeTimeout = litmus.DurationFromString("5s") }))}},
				func(ctx context.Context, _ string, _ int) (string, int) {
					<-ctx.Done() // a hanging command; the runtime clock of the bubble ends it
					return "", -1
				})
			if err := b.s.PreChaos(t.Context()); err != nil {
				t.Fatal(err)
			}
			wantVerdict(t, b.s.Result(), "p", litmus.ProbeVerdictFailed, "probe failed due to timeout")
		})
	})
}

func TestModesContinuous(t *testing.T) {
	t.Run("fails mid-way", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{
				okProbe("c", Continuous, "c", polling("1s"), initialDelay("2s")),
				okProbe("eot", EOT, "eot"),
			}}, failOn(map[string][]int{"c": {3}}))
			if err := b.s.PreChaos(t.Context()); err != nil {
				t.Fatal(err)
			}
			b.step(time.Second)
			b.wantCalls()
			b.step(time.Second) // initialDelay over
			b.step(time.Second)
			wantVerdict(t, b.s.Result(), "c", litmus.ProbeVerdictAwaited)
			b.step(time.Second) // third evaluation fails: recorded at once, loop ends
			wantVerdict(t, b.s.Result(), "c", litmus.ProbeVerdictFailed, "Actual value: 0")
			b.step(time.Minute)
			b.wantCalls("c@2s", "c@3s", "c@4s")
			if err := b.s.PostChaos(t.Context()); err != nil {
				t.Fatalf("PostChaos: %v", err)
			}
			res := b.s.Result()
			wantVerdict(t, res, "c", litmus.ProbeVerdictFailed)
			wantVerdict(t, res, "eot", litmus.ProbeVerdictPassed)
			if res.Passed != 1 || res.StoppedByProbe || len(b.stopReasons()) != 0 {
				t.Errorf("Passed %d, stopped %v, stop calls %v", res.Passed, res.StoppedByProbe, b.stopReasons())
			}
		})
	})
	t.Run("passes until PostChaos", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{okProbe("c", Continuous, "c", polling("10s"))}}, nil)
			if err := b.s.PreChaos(t.Context()); err != nil {
				t.Fatal(err)
			}
			b.step(10 * time.Second)
			b.step(5 * time.Second)
			// PostChaos interrupts the polling wait: no further evaluation, no waiting.
			if err := b.s.PostChaos(t.Context()); err != nil {
				t.Fatalf("PostChaos: %v", err)
			}
			b.wantCalls("c@0s", "c@10s")
			res := b.s.Result()
			wantVerdict(t, res, "c", litmus.ProbeVerdictPassed, "satisfied the criteria")
			if res.Passed != 1 {
				t.Errorf("Passed = %d", res.Passed)
			}
		})
	})
	t.Run("an evaluation in progress completes before PostChaos judges", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			release := make(chan struct{})
			b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{okProbe("c", Continuous, "c", polling("1s"))}},
				func(_ context.Context, _ string, n int) (string, int) {
					if n == 2 {
						<-release
						return "0", 0
					}
					return "1", 0
				})
			if err := b.s.PreChaos(t.Context()); err != nil {
				t.Fatal(err)
			}
			b.step(time.Second) // second evaluation hangs
			post := async(func() error { return b.s.PostChaos(t.Context()) })
			synctest.Wait()
			if ok, _ := done(post); ok {
				t.Fatal("PostChaos did not wait for the evaluation in progress")
			}
			close(release)
			synctest.Wait()
			if ok, err := done(post); !ok || err != nil {
				t.Fatalf("PostChaos: done %v, err %v", ok, err)
			}
			wantVerdict(t, b.s.Result(), "c", litmus.ProbeVerdictFailed)
		})
	})
}

func TestModesOnChaos(t *testing.T) {
	t.Run("window ends ChaosDuration after launch", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, litmus.ProbeRun{
				Probes:        []litmus.Probe{okProbe("o", OnChaos, "o", polling("3s"), initialDelay("2s"))},
				ChaosDuration: 10 * time.Second,
			}, nil)
			if err := b.s.PreChaos(t.Context()); err != nil {
				t.Fatal(err)
			}
			b.step(5 * time.Second) // ramp time: OnChaos not launched yet
			b.wantCalls()
			b.s.ChaosStarted(t.Context())
			for range 20 {
				b.step(time.Second)
			}
			// launched at 5s: evaluations at +2, +5, +8; the next one (+11) is past the window.
			b.wantCalls("o@7s", "o@10s", "o@13s")
			wantVerdict(t, b.s.Result(), "o", litmus.ProbeVerdictAwaited)
			if err := b.s.PostChaos(t.Context()); err != nil {
				t.Fatalf("PostChaos: %v", err)
			}
			wantVerdict(t, b.s.Result(), "o", litmus.ProbeVerdictPassed)
		})
	})
	t.Run("the loop ends by itself at the window's end", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, litmus.ProbeRun{
				Probes:        []litmus.Probe{okProbe("o", OnChaos, "o", polling("1h"))},
				ChaosDuration: 30 * time.Second,
			}, nil)
			if err := b.s.PreChaos(t.Context()); err != nil {
				t.Fatal(err)
			}
			b.s.ChaosStarted(t.Context())
			b.step(30 * time.Second)
			b.s.mu.Lock()
			l := b.s.loops[0]
			b.s.mu.Unlock()
			select {
			case <-l.done:
			default:
				t.Fatal("OnChaos loop still running after its window")
			}
			b.wantCalls("o@0s")
		})
	})
	t.Run("initialDelay beyond the window: never evaluated", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, litmus.ProbeRun{
				Probes:        []litmus.Probe{okProbe("o", OnChaos, "o", initialDelay("20s"))},
				ChaosDuration: 10 * time.Second,
			}, nil)
			if err := b.s.PreChaos(t.Context()); err != nil {
				t.Fatal(err)
			}
			b.s.ChaosStarted(t.Context())
			b.step(10 * time.Second)
			if err := b.s.PostChaos(t.Context()); err != nil {
				t.Fatal(err)
			}
			b.wantCalls()
			wantVerdict(t, b.s.Result(), "o", litmus.ProbeVerdictPassed, "not evaluated")
		})
	})
	t.Run("not launched without ChaosStarted", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{okProbe("o", OnChaos, "o")}, ChaosDuration: time.Minute}, nil)
			if err := b.s.PreChaos(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := b.s.PostChaos(t.Context()); err != nil {
				t.Fatal(err)
			}
			b.wantCalls()
			wantVerdict(t, b.s.Result(), "o", litmus.ProbeVerdictAwaited)
		})
	})
}

func TestModesStopOnFailureAsync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, litmus.ProbeRun{
			Probes: []litmus.Probe{
				okProbe("c", Continuous, "c", polling("1s"), stopOnFailure()),
				okProbe("o", OnChaos, "o", polling("1s"), stopOnFailure()),
				okProbe("eot", EOT, "eot"),
			},
			ChaosDuration: time.Minute,
		}, failOn(map[string][]int{"c": {2}, "o": {2}}))
		if err := b.s.PreChaos(t.Context()); err != nil {
			t.Fatal(err)
		}
		b.s.ChaosStarted(t.Context())
		b.step(time.Second) // both fail
		b.step(time.Second)
		stops := b.stopReasons()
		if len(stops) != 1 {
			t.Fatalf("Stop called %d times (%q), want once", len(stops), stops)
		}
		if !strings.Contains(stops[0], "stopOnFailure") || !strings.Contains(stops[0], "CMD_PROBE_FAILURE") {
			t.Errorf("stop reason %q", stops[0])
		}
		res := b.s.Result()
		if !res.StoppedByProbe {
			t.Error("StoppedByProbe not set")
		}
		wantVerdict(t, res, "c", litmus.ProbeVerdictFailed)
		wantVerdict(t, res, "o", litmus.ProbeVerdictFailed)

		err := b.s.PostChaos(t.Context())
		le := wantCode(t, err, litmus.ErrorCodeCmdProbeFailure)
		if le.Phase != litmus.ExperimentPhasePostChaos || !IsFailure(err) {
			t.Errorf("phase %q, IsFailure %v", le.Phase, IsFailure(err))
		}
		// Both failures are reported; EOT is not run.
		if !strings.Contains(le.Reason, ";") {
			t.Errorf("reason %q does not combine both failures", le.Reason)
		}
		if b.shell.count("eot") != 0 {
			t.Error("EOT ran after a returned error")
		}
		wantVerdict(t, b.s.Result(), "eot", litmus.ProbeVerdictAwaited)
	})
}

func TestModesAsyncError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{
			okProbe("c", Continuous, "c", polling("1s")),
			okProbe("eot", EOT, "eot"),
		}}, func(_ context.Context, cmd string, n int) (string, int) {
			if cmd == "c" && n == 2 {
				return "", 1
			}
			return "1", 0
		})
		if err := b.s.PreChaos(t.Context()); err != nil {
			t.Fatal(err)
		}
		b.step(time.Second)
		wantVerdict(t, b.s.Result(), "c", litmus.ProbeVerdictAwaited)
		err := b.s.PostChaos(t.Context())
		wantCode(t, err, litmus.ErrorCodeCmdProbeError, "exit status 1")
		if IsFailure(err) {
			t.Error("an execution error is reported as a failure")
		}
		b.wantCalls("c@0s", "c@1s")
		res := b.s.Result()
		wantVerdict(t, res, "c", litmus.ProbeVerdictAwaited)
		wantVerdict(t, res, "eot", litmus.ProbeVerdictAwaited)
		if len(b.stopReasons()) != 0 {
			t.Error("Stop called for an error")
		}
	})
}

func TestModesPostChaosWaitBounded(t *testing.T) {
	for _, stop := range []bool{false, true} {
		t.Run(fmt.Sprintf("stopOnFailure=%v", stop), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				opts := []probeOpt{polling("1s"), withRP(func(r *litmus.RunProperties) { r.ProbeTimeout = litmus.DurationFromString("1h") })}
				if stop {
					opts = append(opts, stopOnFailure())
				}
				b := newBubble(t, litmus.ProbeRun{
					Probes:             []litmus.Probe{okProbe("c", Continuous, "c", opts...), okProbe("eot", EOT, "eot")},
					StatusCheckTimeout: 30 * time.Second,
				}, func(ctx context.Context, _ string, n int) (string, int) {
					if n == 2 {
						<-ctx.Done() // hangs until cancelled
						return "", -1
					}
					return "1", 0
				})
				if err := b.s.PreChaos(t.Context()); err != nil {
					t.Fatal(err)
				}
				b.step(time.Second) // second evaluation hangs
				post := async(func() error { return b.s.PostChaos(t.Context()) })
				b.step(29 * time.Second)
				if ok, _ := done(post); ok {
					t.Fatal("PostChaos returned before StatusCheckTimeout")
				}
				b.step(time.Second)
				ok, err := done(post)
				if !ok {
					t.Fatal("PostChaos still waiting after StatusCheckTimeout")
				}
				res := b.s.Result()
				wantVerdict(t, res, "c", litmus.ProbeVerdictFailed, "Probe is failed due to timeout")
				if stop {
					wantCode(t, err, litmus.ErrorCodeProbeTimeout)
					wantVerdict(t, res, "eot", litmus.ProbeVerdictAwaited)
					if !res.StoppedByProbe {
						t.Error("StoppedByProbe not set")
					}
				} else {
					if err != nil {
						t.Fatalf("PostChaos: %v", err)
					}
					wantVerdict(t, res, "eot", litmus.ProbeVerdictPassed)
				}
				// The hung evaluation was cancelled: its late outcome changes nothing.
				synctest.Wait()
				wantVerdict(t, b.s.Result(), "c", litmus.ProbeVerdictFailed, "Probe is failed due to timeout")
			})
		})
	}
}

func TestSessionLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, litmus.ProbeRun{Probes: []litmus.Probe{okProbe("c", Continuous, "c", polling("1s")), okProbe("o", OnChaos, "o", polling("1s"))}, ChaosDuration: time.Hour}, nil)
		if err := b.s.PreChaos(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := b.s.PreChaos(t.Context()); err == nil {
			t.Error("second PreChaos accepted")
		}
		synctest.Wait()
		b.s.ChaosStarted(t.Context())
		b.s.ChaosStarted(t.Context()) // no second launch
		b.step(time.Second)
		b.wantCallSet("c@0s", "o@0s", "c@1s", "o@1s")
		// Close stops the running loops and joins them; it is idempotent.
		b.s.Close()
		b.s.Close()
		b.step(time.Minute)
		if n := len(b.shell.history()); n != 4 {
			t.Errorf("%d calls after Close, want 4", n)
		}
		var le *litmus.Error
		if err := b.s.PostChaos(t.Context()); !errors.As(err, &le) || !strings.Contains(le.Reason, "closed") {
			t.Errorf("PostChaos after Close: %v", err)
		}
	})
}

func TestVerbosity(t *testing.T) {
	for _, verbosity := range []string{"info", ""} {
		t.Run(fmt.Sprintf("verbosity=%q", verbosity), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				core, logs := observer.New(zapcore.DebugLevel)
				fc := clocktesting.NewFakeClock(time.Now())
				shell := newFakeShell(fc)
				r := NewRunner(Options{Clock: fc, Log: zap.New(core), Shell: shell.shell})
				s, err := r.start(t.Context(), litmus.ProbeRun{Probes: []litmus.Probe{
					okProbe("c", Continuous, "c", polling("1s"), withRP(func(r *litmus.RunProperties) { r.Verbosity = verbosity })),
				}})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if err := s.PreChaos(t.Context()); err != nil {
					t.Fatal(err)
				}
				for range 3 {
					synctest.Wait()
					fc.Step(time.Second)
				}
				synctest.Wait()
				if err := s.PostChaos(t.Context()); err != nil {
					t.Fatal(err)
				}
				var levels []string
				for _, e := range logs.FilterMessage("probe comparison").All() {
					levels = append(levels, e.Level.String())
				}
				want := []string{"debug", "debug", "debug", "debug"}
				if verbosity == "info" {
					want[0] = "info"
				}
				if !slices.Equal(levels, want) {
					t.Errorf("comparison log levels %v, want %v", levels, want)
				}
			})
		})
	}
}
