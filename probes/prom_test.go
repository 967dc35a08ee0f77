package probes

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

func TestPromProbe(t *testing.T) {
	checkGoroutines(t)
	prom := startPrometheus(t, map[string]float64{
		"probe_test_gauge":                         42,
		`probe_test_requests_total{code="200"}`:    10,
		`probe_test_requests_total{code="500"}`:    2,
		`probe_test_controlled{kind="controlled"}`: 1,
	})
	queryFile := filepath.Join(t.TempDir(), "query.promql")
	if err := os.WriteFile(queryFile, []byte("sum(probe_test_requests_total)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An endpoint that is not Prometheus.
	notProm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>nope</html>", http.StatusBadGateway)
	}))
	t.Cleanup(notProm.Close)

	tests := []struct {
		name    string
		probe   litmus.Probe
		verdict litmus.ProbeVerdict
		desc    []string
		errCode litmus.ErrorCode
		errWant []string
	}{
		{
			name:    "value >= threshold passes",
			probe:   promProbe("p", prom.URL(), "probe_test_gauge", ">=", "40"),
			verdict: litmus.ProbeVerdictPassed,
			desc:    []string{"The query result '42' satisfied the criteria '>= 40'"},
		},
		{
			name:    "value below threshold fails",
			probe:   promProbe("p", prom.URL(), "probe_test_gauge", "<", "10"),
			verdict: litmus.ProbeVerdictFailed,
			desc:    []string{"Actual value: 42. Expected value: < 10"},
		},
		{
			name:    "failure with stopOnFailure returns PROM_PROBE_FAILURE",
			probe:   promProbe("p", prom.URL(), "probe_test_gauge", "==", "1", stopOnFailure()),
			verdict: litmus.ProbeVerdictFailed,
			errCode: litmus.ErrorCodePromProbeFailure,
		},
		{
			name:    "aggregated query",
			probe:   promProbe("p", prom.URL(), "sum(probe_test_requests_total)", "==", "12"),
			verdict: litmus.ProbeVerdictPassed,
		},
		{
			name:    "scalar result",
			probe:   promProbe("p", prom.URL(), "scalar(probe_test_gauge) / 2", "Between", "20,22"),
			verdict: litmus.ProbeVerdictPassed,
			desc:    []string{"'21'"},
		},
		{
			name: "queryPath",
			probe: func() litmus.Probe {
				p := promProbe("p", prom.URL()+"/", "", "==", "12")
				p.PromProbeInputs.QueryPath = queryFile
				return p
			}(),
			verdict: litmus.ProbeVerdictPassed,
		},
		{
			name:    "two series is an error",
			probe:   promProbe("p", prom.URL(), "probe_test_requests_total", ">=", "0"),
			verdict: litmus.ProbeVerdictAwaited,
			errCode: litmus.ErrorCodePromProbeError,
			errWant: []string{"returned 2 series, want exactly one sample"},
		},
		{
			name:    "no series is an error",
			probe:   promProbe("p", prom.URL(), "probe_test_nosuch_metric", ">=", "0"),
			verdict: litmus.ProbeVerdictAwaited,
			errCode: litmus.ErrorCodePromProbeError,
			errWant: []string{"returned 0 series"},
		},
		{
			name:    "range vector is an error",
			probe:   promProbe("p", prom.URL(), "probe_test_gauge[1m]", ">=", "0"),
			verdict: litmus.ProbeVerdictAwaited,
			errCode: litmus.ErrorCodePromProbeError,
			errWant: []string{"returned a matrix"},
		},
		{
			name:    "invalid query is an error",
			probe:   promProbe("p", prom.URL(), "sum(", ">=", "0"),
			verdict: litmus.ProbeVerdictAwaited,
			errCode: litmus.ErrorCodePromProbeError,
			errWant: []string{"bad_data"},
		},
		{
			name:    "bad endpoint is an error",
			probe:   promProbe("p", refusedURL(t), "probe_test_gauge", ">=", "0"),
			verdict: litmus.ProbeVerdictAwaited,
			errCode: litmus.ErrorCodePromProbeError,
			errWant: []string{"query Prometheus at", "connection refused"},
		},
		{
			name:    "endpoint that is not Prometheus is an error",
			probe:   promProbe("p", notProm.URL, "up", ">=", "0"),
			verdict: litmus.ProbeVerdictAwaited,
			errCode: litmus.ErrorCodePromProbeError,
			errWant: []string{"HTTP 502", "not an API response"},
		},
		{
			name: "missing queryPath file is an error",
			probe: func() litmus.Probe {
				p := promProbe("p", prom.URL(), "", "==", "12")
				p.PromProbeInputs.QueryPath = filepath.Join(t.TempDir(), "nope")
				return p
			}(),
			verdict: litmus.ProbeVerdictAwaited,
			errCode: litmus.ErrorCodePromProbeError,
			errWant: []string{"read query from queryPath"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{tt.probe}})
			if tt.errCode != "" {
				wantCode(t, err, tt.errCode, tt.errWant...)
			} else if err != nil {
				t.Fatalf("PreChaos: %v", err)
			}
			wantVerdict(t, res, "p", tt.verdict, tt.desc...)
		})
	}

	t.Run("a value the test controls", func(t *testing.T) {
		series := `probe_test_controlled{kind="controlled"}`
		probe := promProbe("p", prom.URL(), series, "<=", "5")
		res, err := runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{probe}})
		if err != nil {
			t.Fatal(err)
		}
		wantVerdict(t, res, "p", litmus.ProbeVerdictPassed)
		prom.setAndWait(t, series, 7)
		res, err = runSOT(t, testRunner(t), litmus.ProbeRun{Probes: []litmus.Probe{probe}})
		if err != nil {
			t.Fatal(err)
		}
		wantVerdict(t, res, "p", litmus.ProbeVerdictFailed, "Actual value: 7. Expected value: <= 5")
	})
}
