package app

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hungAPIServer is a loopback TLS server that accepts connections and requests and never
// answers; it returns a kubeconfig for it.
func hungAPIServer(t *testing.T) string {
	t.Helper()
	block := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) })
	return kubeconfigFor(t, srv.URL)
}

func kubeconfigFor(t *testing.T, url string) string {
	t.Helper()
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, url)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const timeoutEngine = `apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata: {name: e, namespace: default}
spec:
  engineState: active
  appinfo: {appns: default, applabel: app=x, appkind: deployment}
  chaosServiceAccount: litmus-admin
  experiments: [{name: pod-delete}]
`

// TestRunTimeoutAgainstHungAPIServer: `run --timeout 5s` against an API server that accepts TLS
// and never answers exits non-zero within 20 s, for ChaosEngines and for Workflows alike.
func TestRunTimeoutAgainstHungAPIServer(t *testing.T) {
	kubeconfig := hungAPIServer(t)
	engine := filepath.Join(t.TempDir(), "engine.yaml")
	if err := os.WriteFile(engine, []byte(timeoutEngine), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string]string{"engine": engine, "workflow": seedFile(t, "default", "http://127.0.0.1:1/", "30")} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			code, _, stderr := run(t, []string{"run", "-f", file, "--kubeconfig", kubeconfig, "--timeout", "5s"}, nil)
			took := time.Since(start)
			if code == ExitOK || took > 20*time.Second {
				t.Fatalf("exit %d after %s; want non-zero within 20 s (stderr %q)", code, took.Round(time.Millisecond), stderr)
			}
			t.Logf("exit %d after %s: %s", code, took.Round(time.Millisecond), lastLine(stderr))
		})
	}
}

// TestCheckTimeoutAgainstHungAPIServer: check has --timeout too.
func TestCheckTimeoutAgainstHungAPIServer(t *testing.T) {
	kubeconfig := hungAPIServer(t)
	engine := filepath.Join(t.TempDir(), "engine.yaml")
	if err := os.WriteFile(engine, []byte(timeoutEngine), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, stderr := run(t, []string{"check", "-f", engine, "--kubeconfig", kubeconfig, "--timeout", "3s"}, nil)
	if took := time.Since(start); code == ExitOK || took > 15*time.Second {
		t.Fatalf("exit %d after %s; want non-zero within 15 s (stderr %q)", code, took, stderr)
	}
}

func TestNegativeTimeoutsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"run", "-f", "x.yaml", "--timeout", "-1s"},
		{"check", "-f", "x.yaml", "--timeout", "-5m"},
	} {
		code, _, stderr := run(t, args, nil)
		if code != ExitUsage || !strings.Contains(stderr, "must not be negative") {
			t.Errorf("%q: exit %d, stderr %q; want a usage error", args, code, stderr)
		}
	}
}

func TestResponseTimeoutDefault(t *testing.T) {
	if got := responseTimeout(5 * time.Second); got != 5*time.Second {
		t.Errorf("responseTimeout(5s) = %s", got)
	}
	if got := responseTimeout(0); got != 30*time.Second {
		t.Errorf("responseTimeout(0) = %s", got)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
