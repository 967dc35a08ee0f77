package subscriber

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	argofake "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

func TestUnreachable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"dial without answer", &HandshakeError{Err: refused}, true},
		{"proxy 502", &HandshakeError{Status: 502, Err: errors.New("bad handshake")}, true},
		{"proxy 503", &HandshakeError{Status: 503, Err: errors.New("bad handshake")}, true},
		{"proxy 504", &HandshakeError{Status: 504, Err: errors.New("bad handshake")}, true},
		{"server 500", &HandshakeError{Status: 500, Err: errors.New("bad handshake")}, false},
		{"forbidden", &HandshakeError{Status: 403, Err: errors.New("bad handshake")}, false},
		{"too many requests", &HandshakeError{Status: 429, Err: errors.New("bad handshake")}, false},
		{"untrusted certificate", &HandshakeError{Err: fmt.Errorf("dial: %w", &tls.CertificateVerificationError{Err: errors.New("unknown authority")})}, false},
		{"broken read", &linkError{io.ErrUnexpectedEOF}, true},
		{"identity refused", &rejectedError{messages: []string{"ERROR: accessID MISMATCH"}}, false},
		{"subscription completed", errors.New("control plane ended the subscription"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unreachable(fmt.Errorf("session: %w", tc.err)); got != tc.want {
				t.Errorf("unreachable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// probeSubscriber is a Subscriber whose probe answers from up(n) for the n-th probe.
func probeSubscriber(t *testing.T, up func(n int) bool) (*Subscriber, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	s, err := New(Options{
		ServerAddr: "http://cp.test/query", InfraID: "i", AccessKey: "k", Version: "3.31.0", Namespace: "ns",
		Kube: kubefake.NewClientset(), Dynamic: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()), Argo: argofake.NewSimpleClientset(),
		Mapper: meta.NewDefaultRESTMapper(nil), Log: zap.NewNop(), Outbox: &MemoryStore{},
		Probe:         func(context.Context) bool { return up(int(n.Add(1)) - 1) },
		ProbeInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, &n
}

// TestAwaitServer: after a network failure the link waits for the server with probes at most
// ProbeInterval apart; it subscribes again at the first probe that finds the server back after
// one found it down, and otherwise after the back-off; probes that never succeed hold it for
// ReconnectMax (60 s) at most.
func TestAwaitServer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		wait     time.Duration
		up       func(n int) bool
		min, max time.Duration
		probes   int32
	}{
		{"down for a while, then back", 60 * time.Second, func(n int) bool { return n >= 50 }, 25 * time.Second, 51 * time.Second, 51},
		{"probes never succeed: a subscription attempt after ReconnectMax", 5 * time.Second, func(int) bool { return false }, 60 * time.Second, 60 * time.Second, -1},
		{"back at the third probe, long before the back-off", 30 * time.Second, func(n int) bool { return n >= 2 }, 1500 * time.Millisecond, 3 * time.Second, 3},
		{"always up: the back-off holds", 8 * time.Second, func(int) bool { return true }, 8 * time.Second, 8 * time.Second, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, n := probeSubscriber(t, tc.up)
				start := time.Now()
				if err := s.awaitServer(t.Context(), tc.wait); err != nil {
					t.Fatal(err)
				}
				took := time.Since(start)
				if took < tc.min || took > tc.max {
					t.Errorf("returned after %s, want %s–%s", took, tc.min, tc.max)
				}
				if tc.probes > 0 && n.Load() != tc.probes {
					t.Errorf("%d probes, want %d", n.Load(), tc.probes)
				}
				if mean := took / time.Duration(max(1, n.Load())); mean > s.o.ProbeInterval {
					t.Errorf("probes %s apart on average, want ≤ %s", mean, s.o.ProbeInterval)
				}
			})
		})
	}
	t.Run("ends with ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s, _ := probeSubscriber(t, func(int) bool { return false })
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if err := s.awaitServer(ctx, time.Second); err == nil {
				t.Fatal("awaitServer returned nil after ctx ended")
			}
		})
	})
}
