package agent

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
)

// TestAPIWatchWarns: against a refusing API server the agent warns with the last error at once
// and every 30 s after, and is not ready; once the server answers it says so and is ready.
func TestAPIWatchWarns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		var up atomic.Bool
		w := &apiWatch{clock: clock.RealClock{}, log: zap.New(core), probe: func(context.Context) error {
			if up.Load() {
				return nil
			}
			return errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
		}}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = w.Run(ctx) }()
		warnings := func() int { return logs.FilterMessageSnippet("API server unreachable").Len() }
		synctest.Wait()
		if n := warnings(); n != 1 {
			t.Fatalf("%d warnings at start, want 1", n)
		}
		if err := w.Ready(); err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("Ready() = %v; want the last error", err)
		}
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if n := warnings(); n != 1 {
			t.Fatalf("%d warnings after 29 s, want 1 (one every 30 s)", n)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := warnings(); n != 2 {
			t.Fatalf("%d warnings after 31 s, want 2", n)
		}
		warn := logs.FilterMessageSnippet("API server unreachable").All()[1]
		if warn.Level != zapcore.WarnLevel || !strings.Contains(warn.ContextMap()["error"].(string), "connection refused") {
			t.Errorf("warning %v %v; want the last error", warn.Level, warn.ContextMap())
		}
		up.Store(true)
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if err := w.Ready(); err != nil {
			t.Fatalf("Ready() = %v after the server came back", err)
		}
		if logs.FilterMessageSnippet("reachable again").Len() != 1 {
			t.Error("no log when the API server came back")
		}
		cancel()
	})
}

// TestProbeVersionRefused: the real probe names the refusal.
func TestProbeVersionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	err = probeVersion(t.Context(), cs.Discovery().RESTClient())
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("probe = %v; want connection refused", err)
	}
}
