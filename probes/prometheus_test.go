package probes

import (
	"testing"

	testprom "github.com/chaos-agent/chaos-agent/internal/testing/prometheus"
)

// promFixture is a real Prometheus (internal/testing/prometheus) scraping, every second, a test server
// whose series the test controls.
type promFixture struct {
	*testprom.Server
	target *testprom.Target
}

// startPrometheus starts Prometheus scraping a target with the given initial series, waits
// until every series is queryable, and stops it when the test ends. It skips the test when
// the Prometheus binary is missing, unless CHAOS_AGENT_REQUIRE_CLUSTER=1.
func startPrometheus(t *testing.T, series map[string]float64) *promFixture {
	t.Helper()
	target := testprom.NewTarget(t, series)
	p := &promFixture{Server: testprom.Start(t, target.Addr()), target: target}
	for s := range series {
		p.WaitFor(t, s, func(float64) bool { return true })
	}
	return p
}

// setAndWait changes a series and waits until Prometheus has scraped the new value.
func (p *promFixture) setAndWait(t *testing.T, series string, v float64) {
	t.Helper()
	p.target.Set(series, v)
	p.WaitFor(t, series, func(got float64) bool { return got == v })
}
