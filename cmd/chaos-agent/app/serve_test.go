package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/klog/v2"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestServeAgainstRefusingAPIServer: `serve` against an API server that refuses connections
// warns with the error within 10 s, /readyz is not 200 and says why, and every line of the log —
// client-go's included — is one JSON object.
func TestServeAgainstRefusingAPIServer(t *testing.T) {
	kubeconfig := kubeconfigFor(t, "https://"+freeAddr(t)) // nothing listens there
	health := freeAddr(t)
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- Execute(ctx, []string{"serve", "--kubeconfig", kubeconfig, "--health-addr", health, "--metrics-addr", "", "-n", "default"},
			Env{Stdout: &stderr, Stderr: &stderr, LookupEnv: func(string) (string, bool) { return "", false }, Klog: klogRouter})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	for !strings.Contains(stderr.String(), "API server unreachable") {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no warning within 10 s; log:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("warning after %s", time.Since(start).Round(time.Millisecond))
	resp, err := http.Get("http://" + health + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusOK || !strings.Contains(body.String(), "refused") {
		t.Fatalf("/readyz %d %q; want not 200, with the connection refused", resp.StatusCode, body.String())
	}
	// client-go (0.35) stays silent about a refused connection; what it does log goes through
	// the agent's logger: serve routed klog there.
	klog.ErrorS(errors.New("connection refused"), "Failed to watch", "reflector", "test")
	klog.Flush()
	clientGo := 0
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		if name, _ := m["logger"].(string); strings.HasPrefix(name, "client-go") {
			clientGo++
		}
	}
	if clientGo != 1 {
		t.Errorf("%d client-go lines in the log, want 1 (klog not routed through zap?):\n%s", clientGo, stderr.String())
	}
}
