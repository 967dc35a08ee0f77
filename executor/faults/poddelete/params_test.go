package poddelete

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// parse reads env as the executor does for pod-delete: generic variables, then its own.
func parse(env map[string]string, rnd *rand.Rand) (Params, error) {
	e := litmus.NewEnv(env)
	p := parseParams(executor.ParseParams(e, Kind().Defaults), e, rnd)
	return p, e.Err(Name)
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, p Params)
		wantErr []string
	}{
		{name: "defaults", check: func(t *testing.T, p Params) {
			if p.Duration != 30*time.Second || p.Interval.Min != 10*time.Second || p.Sequence != Parallel || !p.HealthCheck ||
				p.Force || p.StatusCheckDelay != 2*time.Second || p.StatusCheckTimeout != 180*time.Second {
				t.Errorf("defaults: %+v", p)
			}
		}},
		{name: "chart values", env: map[string]string{"TOTAL_CHAOS_DURATION": "15", "CHAOS_INTERVAL": "5", "FORCE": "true",
			"PODS_AFFECTED_PERC": "", "SEQUENCE": "parallel", "DEFAULT_HEALTH_CHECK": "false", "RAMP_TIME": ""},
			check: func(t *testing.T, p Params) {
				if p.Duration != 15*time.Second || p.Interval != (executor.Interval{Min: 5 * time.Second, Max: 5 * time.Second}) || !p.Force || p.HealthCheck || p.Percentage != 0 {
					t.Errorf("chart: %+v", p)
				}
			}},
		{name: "go durations", env: map[string]string{"TOTAL_CHAOS_DURATION": "1m30s", "CHAOS_INTERVAL": "500ms", "RAMP_TIME": "2s"},
			check: func(t *testing.T, p Params) {
				if p.Duration != 90*time.Second || p.Interval.Min != 500*time.Millisecond || p.RampTime != 2*time.Second {
					t.Errorf("durations: %+v", p)
				}
			}},
		{name: "interval range", env: map[string]string{"CHAOS_INTERVAL": "2-4"}, check: func(t *testing.T, p Params) {
			if p.Interval != (executor.Interval{Min: 2 * time.Second, Max: 4 * time.Second}) {
				t.Errorf("range: %+v", p.Interval)
			}
		}},
		{name: "a year is allowed", env: map[string]string{"TOTAL_CHAOS_DURATION": "31622400"}, check: func(t *testing.T, p Params) {
			if p.Duration != 366*24*time.Hour {
				t.Errorf("duration %s", p.Duration)
			}
		}},
		{name: "randomness single value", env: map[string]string{"CHAOS_INTERVAL": "6", "RANDOMNESS": "true"}, check: func(t *testing.T, p Params) {
			if p.Interval != (executor.Interval{Min: 0, Max: 6 * time.Second}) {
				t.Errorf("randomness: %+v", p.Interval)
			}
		}},
		{name: "percentage range resolved once", env: map[string]string{"PODS_AFFECTED_PERC": "20-40"}, check: func(t *testing.T, p Params) {
			if p.Percentage < 20 || p.Percentage > 40 {
				t.Errorf("percentage %d outside 20-40", p.Percentage)
			}
		}},
		{name: "target pods trimmed", env: map[string]string{"TARGET_PODS": " a, b ,,c"}, check: func(t *testing.T, p Params) {
			if strings.Join(p.TargetPods, "|") != "a|b|c" {
				t.Errorf("target pods %q", p.TargetPods)
			}
		}},
		{name: "sequence case-insensitive", env: map[string]string{"SEQUENCE": "Serial"}, check: func(t *testing.T, p Params) {
			if p.Sequence != Serial {
				t.Errorf("sequence %q", p.Sequence)
			}
		}},
		{name: "extensions", env: map[string]string{"PDB_AWARE": "true", "DRY_RUN": "1"}, check: func(t *testing.T, p Params) {
			if !p.PDBAware || !p.DryRun {
				t.Errorf("extensions %+v", p)
			}
		}},
		{name: "non-numeric duration", env: map[string]string{"TOTAL_CHAOS_DURATION": "thirty"}, wantErr: []string{"TOTAL_CHAOS_DURATION=\"thirty\""}},
		{name: "negative duration", env: map[string]string{"TOTAL_CHAOS_DURATION": "-5"}, wantErr: []string{"TOTAL_CHAOS_DURATION", "negative"}},
		{name: "percent above 100", env: map[string]string{"PODS_AFFECTED_PERC": "150"}, wantErr: []string{"PODS_AFFECTED_PERC", "0 and 100"}},
		{name: "percent not a number", env: map[string]string{"PODS_AFFECTED_PERC": "half"}, wantErr: []string{"PODS_AFFECTED_PERC"}},
		{name: "reversed range", env: map[string]string{"CHAOS_INTERVAL": "9-3"}, wantErr: []string{"CHAOS_INTERVAL", "lower <= upper"}},
		{name: "junk range", env: map[string]string{"CHAOS_INTERVAL": "a-b"}, wantErr: []string{"CHAOS_INTERVAL", "range"}},
		{name: "zero interval", env: map[string]string{"CHAOS_INTERVAL": "0"}, wantErr: []string{"CHAOS_INTERVAL", "positive"}},
		{name: "bad bool", env: map[string]string{"FORCE": "yes please"}, wantErr: []string{"FORCE", "boolean"}},
		{name: "bad sequence", env: map[string]string{"SEQUENCE": "zigzag"}, wantErr: []string{"SEQUENCE", "zigzag"}},
		{name: "bad node label", env: map[string]string{"NODE_LABEL": "a=b=c"}, wantErr: []string{"NODE_LABEL"}},
		// Input bounds (issue 14 item 4): overflowing or absurd durations name their variable.
		{name: "duration overflows", env: map[string]string{"TOTAL_CHAOS_DURATION": "10000000000"}, wantErr: []string{"TOTAL_CHAOS_DURATION=\"10000000000\"", "limit"}},
		{name: "ramp overflows", env: map[string]string{"RAMP_TIME": "10000000000"}, wantErr: []string{"RAMP_TIME=\"10000000000\"", "limit"}},
		{name: "beyond int64", env: map[string]string{"STATUS_CHECK_TIMEOUT": "99999999999999999999"}, wantErr: []string{"STATUS_CHECK_TIMEOUT", "limit"}},
		{name: "go duration overflows", env: map[string]string{"CHAOS_INTERVAL": "9999999999h"}, wantErr: []string{"CHAOS_INTERVAL"}},
		{name: "go duration above a year", env: map[string]string{"TOTAL_CHAOS_DURATION": "9000h"}, wantErr: []string{"TOTAL_CHAOS_DURATION", "limit"}},
		{name: "interval range overflows", env: map[string]string{"CHAOS_INTERVAL": "1-10000000000"}, wantErr: []string{"CHAOS_INTERVAL", "limit"}},
		{name: "randomness without interval", env: map[string]string{"CHAOS_INTERVAL": "0", "RANDOMNESS": "true"}, wantErr: []string{"CHAOS_INTERVAL", "RANDOMNESS"}},
		{name: "every problem reported", env: map[string]string{"TOTAL_CHAOS_DURATION": "x", "FORCE": "y"}, wantErr: []string{"TOTAL_CHAOS_DURATION", "FORCE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parse(tc.env, rand.New(rand.NewPCG(1, 2)))
			if len(tc.wantErr) > 0 {
				var le *litmus.Error
				if !errors.As(err, &le) {
					t.Fatalf("error %v is not a *litmus.Error", err)
				}
				if le.Code != litmus.ErrorCodeGeneric || le.Phase != litmus.ExperimentPhasePreChaos {
					t.Errorf("code %s phase %s", le.Code, le.Phase)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(le.Reason, w) {
						t.Errorf("reason %q does not mention %q", le.Reason, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}
