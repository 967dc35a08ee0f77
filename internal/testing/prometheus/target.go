package prometheus

import (
	"cmp"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Target is a scrape target whose series the test controls: a test HTTP server answering
// /metrics in the Prometheus text format. Series whose metric name ends in _total are
// counters, the others gauges.
type Target struct {
	mu     sync.Mutex
	values map[string]float64 // series (name or name{labels}) -> value
	srv    *httptest.Server
}

// NewTarget serves the given series (name or name{label="value",...} -> value) until the test
// ends.
func NewTarget(t testing.TB, series map[string]float64) *Target {
	t.Helper()
	m := &Target{values: map[string]float64{}}
	for k, v := range series {
		m.values[k] = v
	}
	m.srv = httptest.NewServer(m)
	t.Cleanup(m.srv.Close)
	return m
}

// Addr returns the target's host:port, for Start.
func (m *Target) Addr() string {
	u, err := url.Parse(m.srv.URL)
	if err != nil {
		panic(err) // httptest always returns a valid URL
	}
	return u.Host
}

// Set sets (or adds) a series.
func (m *Target) Set(series string, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[series] = v
}

// ServeHTTP writes the series, grouped by metric name, each name after its TYPE line.
func (m *Target) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	series := make([]string, 0, len(m.values))
	for s := range m.values {
		series = append(series, s)
	}
	// By metric name first: a family's samples must be contiguous ("a_b" sorts between "a"
	// and "a{...}").
	family := func(s string) string { n, _, _ := strings.Cut(s, "{"); return n }
	slices.SortFunc(series, func(a, b string) int {
		return cmp.Or(strings.Compare(family(a), family(b)), strings.Compare(a, b))
	})
	var b strings.Builder
	last := ""
	for _, s := range series {
		if name := family(s); name != last {
			typ := "gauge"
			if strings.HasSuffix(name, "_total") {
				typ = "counter"
			}
			fmt.Fprintf(&b, "# TYPE %s %s\n", name, typ)
			last = name
		}
		fmt.Fprintf(&b, "%s %s\n", s, strconv.FormatFloat(m.values[s], 'g', -1, 64))
	}
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}
