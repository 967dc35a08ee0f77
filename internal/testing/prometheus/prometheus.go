// Package prometheus (imported as testprom) runs a real Prometheus server for tests: the promProbe tests query it, and
// integration tests point it at the agent's own /metrics.
//
// The server is /usr/bin/prometheus (Debian package "prometheus"), or the binary named by
// CHAOS_AGENT_TEST_PROMETHEUS. Without it the calling test skips, unless
// CHAOS_AGENT_REQUIRE_CLUSTER=1 (make test, CI): then it fails.
package prometheus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// EnvBinary overrides the Prometheus binary.
	EnvBinary = "CHAOS_AGENT_TEST_PROMETHEUS"
	// DefaultBinary is the Prometheus binary used when EnvBinary is unset.
	DefaultBinary = "/usr/bin/prometheus"
	// Job is the scrape job of the targets given to Start (the job label of their series).
	Job = "test"
	// Timeout bounds Start's wait for the server and its first scrapes, and WaitFor.
	Timeout = 60 * time.Second

	envRequire = "CHAOS_AGENT_REQUIRE_CLUSTER"
	// startTries is how often Start picks a new port when the one it chose was taken meanwhile.
	startTries = 3
)

// Server is a running Prometheus.
type Server struct {
	url     string
	client  *http.Client
	logPath string
	exited  chan struct{} // closed when the process has ended
	waitErr error         // the process's exit status, once exited is closed
}

// Binary returns the Prometheus binary, skipping the test (failing it when
// CHAOS_AGENT_REQUIRE_CLUSTER=1) when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		bin = DefaultBinary
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv(envRequire) == "1" {
			t.Fatalf("prometheus binary %s: %v (apt-get install prometheus, or set %s)", bin, err, EnvBinary)
		}
		t.Skipf("prometheus binary %s not found (apt-get install prometheus, or set %s)", bin, EnvBinary)
	}
	return bin
}

// Start starts Prometheus on a free 127.0.0.1 port, scraping every second the /metrics of
// each target (host:port, job Job), and kills it when the test ends. It returns once the
// server is ready and has scraped every target successfully. It skips the test when there is
// no Prometheus binary (see Binary).
func Start(t testing.TB, targets ...string) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, config(targets), 0o600); err != nil {
		t.Fatal(err)
	}
	var s *Server
	for try := 1; ; try++ {
		var (
			err   error
			taken bool
		)
		s, taken, err = start(t, bin, configPath, filepath.Join(dir, strconv.Itoa(try)))
		if err == nil {
			break
		}
		if !taken || try == startTries {
			t.Fatal(err)
		}
		t.Logf("%v; trying another port", err)
	}
	if len(targets) > 0 {
		n := float64(len(targets))
		s.WaitFor(t, fmt.Sprintf("count(up{job=%q} == 1)", Job), func(v float64) bool { return v == n })
	}
	return s
}

// config is the Prometheus configuration scraping targets every second.
func config(targets []string) []byte {
	var b bytes.Buffer
	b.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nscrape_configs:\n")
	fmt.Fprintf(&b, "  - job_name: %q\n    static_configs:\n      - targets: [", Job)
	for i, target := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", target)
	}
	b.WriteString("]\n")
	return b.Bytes()
}

// start runs the binary once and waits until it is ready; taken says that it failed because
// the chosen port was taken meanwhile.
func start(t testing.TB, bin, configPath, dir string) (*Server, bool, error) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s := &Server{
		url:     "http://" + addr,
		client:  &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}},
		logPath: filepath.Join(dir, "prometheus.log"),
		exited:  make(chan struct{}),
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		s.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.client.CloseIdleConnections()
		killProcessGroup(cmd)
		<-s.exited
		if t.Failed() {
			t.Logf("prometheus log (%s):\n%s", s.logPath, s.log())
		}
	})

	deadline := time.Now().Add(Timeout)
	for {
		err := s.ready()
		if err == nil {
			return s, false, nil
		}
		if time.Now().After(deadline) {
			return nil, false, fmt.Errorf("prometheus at %s not ready after %s (last error: %v)\n%s", s.url, Timeout, err, s.log())
		}
		select {
		case <-s.exited:
			log := s.log()
			return nil, strings.Contains(log, "address already in use"), fmt.Errorf("prometheus exited before it was ready: %v\n%s", s.waitErr, log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ready returns nil once the server answers /-/ready with 200.
func (s *Server) ready() error {
	resp, err := s.client.Get(s.url + "/-/ready")
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/-/ready: HTTP %d", resp.StatusCode)
	}
	return nil
}

// URL returns the server's base URL, http://127.0.0.1:<port> (a promProbe endpoint).
func (s *Server) URL() string { return s.url }

// log returns what the server has logged so far.
func (s *Server) log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Query runs an instant query and returns the sample values of its result: one per series
// of an instant vector, or the single value of a scalar.
func (s *Server) Query(ctx context.Context, query string) ([]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/v1/query?"+url.Values{"query": {query}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("query %q: HTTP %d: %w", query, resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", query, r.Status, r.Error)
	}
	var raw []string
	switch r.Data.ResultType {
	case "vector":
		var samples []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &samples); err != nil {
			return nil, fmt.Errorf("query %q: %w", query, err)
		}
		for _, sample := range samples {
			raw = append(raw, fmt.Sprint(sample.Value[1]))
		}
	case "scalar":
		var sample [2]any
		if err := json.Unmarshal(r.Data.Result, &sample); err != nil {
			return nil, fmt.Errorf("query %q: %w", query, err)
		}
		raw = append(raw, fmt.Sprint(sample[1]))
	default:
		return nil, fmt.Errorf("query %q returned a %s, want a vector or a scalar", query, r.Data.ResultType)
	}
	out := make([]float64, len(raw))
	for i, v := range raw {
		if out[i], err = strconv.ParseFloat(v, 64); err != nil {
			return nil, fmt.Errorf("query %q: sample value %q: %w", query, v, err)
		}
	}
	return out, nil
}

// WaitFor polls query until it returns exactly one sample whose value satisfies cond, and
// returns that value. It fails the test after Timeout, or at once if Prometheus exits.
func (s *Server) WaitFor(t testing.TB, query string, cond func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	var (
		last    []float64
		lastErr error
	)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		last, lastErr = s.Query(ctx, query)
		cancel()
		if lastErr == nil && len(last) == 1 && cond(last[0]) {
			return last[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %q: no single sample satisfying the condition after %s (last result %v, error %v)", query, Timeout, last, lastErr)
		}
		select {
		case <-s.exited:
			t.Fatalf("prometheus exited: %v", s.waitErr)
		case <-t.Context().Done():
			t.Fatalf("query %q: %v", query, t.Context().Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeAddr returns a free 127.0.0.1:<port>.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
