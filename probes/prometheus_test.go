package probes

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A real Prometheus server for the promProbe tests: /usr/bin/prometheus (Debian package
// "prometheus"; override with CHAOS_AGENT_TEST_PROMETHEUS) scraping, every second, a Go
// test server that exposes metrics the test controls.

const envPrometheus = "CHAOS_AGENT_TEST_PROMETHEUS"

// metricsTarget serves gauges and counters in the Prometheus text format.
type metricsTarget struct {
	mu     sync.Mutex
	values map[string]float64 // sample line prefix (name{labels}) -> value
	srv    *httptest.Server
}

func (m *metricsTarget) set(series string, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[series] = v
}

func (m *metricsTarget) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	types := map[string]string{}
	var b strings.Builder
	for series, v := range m.values {
		name, _, _ := strings.Cut(series, "{")
		if _, ok := types[name]; !ok {
			typ := "gauge"
			if strings.HasSuffix(name, "_total") {
				typ = "counter"
			}
			types[name] = typ
			fmt.Fprintf(&b, "# TYPE %s %s\n", name, typ)
		}
		fmt.Fprintf(&b, "%s %g\n", series, v)
	}
	_, _ = io.WriteString(w, b.String())
}

// promServer is a running Prometheus.
type promServer struct {
	URL     string // http://127.0.0.1:<port>
	target  *metricsTarget
	client  *http.Client
	logPath string
}

// startPrometheus starts Prometheus scraping a metrics target with the given initial
// series, waits until every series is queryable, and stops it when the test ends. It skips
// the test when the binary is missing, unless CHAOS_AGENT_REQUIRE_CLUSTER=1.
func startPrometheus(t *testing.T, series map[string]float64) *promServer {
	t.Helper()
	bin := os.Getenv(envPrometheus)
	if bin == "" {
		bin = "/usr/bin/prometheus"
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CHAOS_AGENT_REQUIRE_CLUSTER") == "1" {
			t.Fatalf("prometheus binary %s: %v (apt-get install prometheus, or set %s)", bin, err, envPrometheus)
		}
		t.Skipf("prometheus binary %s not found (apt-get install prometheus, or set %s)", bin, envPrometheus)
	}

	target := &metricsTarget{values: map[string]float64{}}
	for k, v := range series {
		target.values[k] = v
	}
	target.srv = httptest.NewServer(target)
	t.Cleanup(target.srv.Close)
	targetURL, _ := url.Parse(target.srv.URL)

	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: probe-test
    scrape_interval: 1s
    scrape_timeout: 900ms
    static_configs:
      - targets: [%q]
`, targetURL.Host)
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := &promServer{URL: "http://" + addr, target: target, client: &http.Client{Timeout: 5 * time.Second}, logPath: filepath.Join(dir, "prometheus.log")}
	logFile, err := os.Create(p.logPath)
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
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		_ = logFile.Close()
	})

	deadline := time.Now().Add(60 * time.Second)
	for name := range series {
		for {
			n, err := p.count(name)
			if err == nil && n > 0 {
				break
			}
			select {
			case err := <-exited:
				log, _ := os.ReadFile(p.logPath)
				t.Fatalf("prometheus exited: %v\n%s", err, log)
			default:
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(p.logPath)
				t.Fatalf("series %s not queryable after 60s (last error: %v)\n%s", name, err, log)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return p
}

// count returns the number of series an instant query returns.
func (p *promServer) count(query string) (int, error) {
	v, err := p.query(query)
	return len(v), err
}

// query runs an instant query and returns the values of a vector result.
func (p *promServer) query(query string) ([]string, error) {
	resp, err := p.client.Get(p.URL + "/api/v1/query?" + url.Values{"query": {query}}.Encode())
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("status %s", r.Status)
	}
	var out []string
	for _, s := range r.Data.Result {
		out = append(out, fmt.Sprint(s.Value[1]))
	}
	return out, nil
}

// setAndWait changes a series and waits until Prometheus has scraped the new value.
func (p *promServer) setAndWait(t *testing.T, series string, v float64) {
	t.Helper()
	p.target.set(series, v)
	want := fmt.Sprintf("%g", v)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := p.query(series)
		if err == nil && len(got) == 1 && got[0] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became %s (got %v, %v)", series, want, got, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freeAddr returns a free 127.0.0.1:<port>.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
