package prometheus_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	testprom "github.com/chaos-agent/chaos-agent/internal/testing/prometheus"
)

func TestTargetFormat(t *testing.T) {
	target := testprom.NewTarget(t, map[string]float64{
		`b_total{code="500"}`: 2,
		"a":                   1.5,
		`b_total{code="200"}`: 10,
		"b_total_x":           3,
	})
	target.Set("a", 1e6)
	resp, err := http.Get("http://" + target.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"# TYPE a gauge",
		"a 1e+06",
		"# TYPE b_total counter",
		`b_total{code="200"} 10`,
		`b_total{code="500"} 2`,
		"# TYPE b_total_x gauge",
		"b_total_x 3",
		"",
	}, "\n")
	if string(body) != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", body, want)
	}
}

func TestServer(t *testing.T) {
	target := testprom.NewTarget(t, map[string]float64{
		"testprom_gauge":                    42,
		`testprom_requests_total{code="1"}`: 1,
		`testprom_requests_total{code="2"}`: 2,
	})
	prom := testprom.Start(t, target.Addr())
	if !strings.HasPrefix(prom.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %s", prom.URL())
	}
	if v := prom.WaitFor(t, "testprom_gauge", func(float64) bool { return true }); v != 42 {
		t.Errorf("testprom_gauge = %v, want 42", v)
	}
	got, err := prom.Query(t.Context(), "testprom_requests_total")
	if err != nil || len(got) != 2 {
		t.Errorf("Query(testprom_requests_total) = %v, %v; want two samples", got, err)
	}
	got, err = prom.Query(t.Context(), "scalar(sum(testprom_requests_total))")
	if err != nil || len(got) != 1 || got[0] != 3 {
		t.Errorf("scalar query = %v, %v; want [3]", got, err)
	}
	if _, err := prom.Query(t.Context(), "sum("); err == nil || !strings.Contains(err.Error(), "error") {
		t.Errorf("invalid query: error %v", err)
	}
	target.Set("testprom_gauge", 7)
	prom.WaitFor(t, "testprom_gauge", func(v float64) bool { return v == 7 })
	got, err = prom.Query(t.Context(), `up{job="`+testprom.Job+`"}`)
	if err != nil || len(got) != 1 || got[0] != 1 {
		t.Errorf("up = %v, %v; want [1]", got, err)
	}
}

func TestBinaryOverride(t *testing.T) {
	t.Setenv(testprom.EnvBinary, "/nonexistent/prometheus")
	t.Setenv("CHAOS_AGENT_REQUIRE_CLUSTER", "")
	skipped := false
	t.Run("skips", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		testprom.Start(t)
	})
	if !skipped {
		t.Error("Start without a binary did not skip")
	}
}
