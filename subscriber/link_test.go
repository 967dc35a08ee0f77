package subscriber

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// freezer is a TCP proxy that can stop forwarding on its open connections without closing
// anything: a half-open link. Connections opened after a freeze work (the network path is back).
type freezer struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	frozen []*atomic.Bool // one per proxied connection
}

// freeze silences every connection open now.
func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fr := range f.frozen {
		fr.Store(true)
	}
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	t.Cleanup(func() {
		_ = ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			_ = c.Close()
		}
		f.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			frozen := &atomic.Bool{}
			f.mu.Lock()
			f.conns = append(f.conns, c, u)
			f.frozen = append(f.frozen, frozen)
			f.mu.Unlock()
			go f.pipe(c, u, frozen)
			go f.pipe(u, c, frozen)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn, frozen *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if frozen.Load() {
			continue // swallowed: the peer hears nothing, nothing is closed
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// TestLinkRecovers: refusals, dropped sockets and a half-open (silent) link all end in a new
// subscription, with readiness, the gauge and Kubernetes Events following.
func TestLinkRecovers(t *testing.T) {
	w := newWorld(t)
	// Route the agent through the freezer.
	url := w.cp.URL()
	host := strings.TrimPrefix(strings.TrimSuffix(url, "/query"), "http://")
	fz := newFreezer(t, host)
	w.cp.SetReject(w.infra, "CLUSTER ALREADY CONNECTED")
	w.startAgentAt("http://" + fz.ln.Addr().String() + "/query")

	// ALREADY CONNECTED: retried shortly, connected once the server accepts.
	testcluster.Eventually(t, 10*time.Second, "a refused attempt", func(context.Context) (bool, error) {
		return len(w.cp.Rejected()) > 0, nil
	})
	if w.sub.Connected() {
		t.Fatal("ready while refused")
	}
	w.cp.SetReject(w.infra, "")
	w.waitConnected()
	testcluster.Eventually(t, 10*time.Second, "connected gauge", func(context.Context) (bool, error) {
		return testutil.ToFloat64(w.sub.o.Metrics.connected) == 1 && w.sub.Connected(), nil
	})

	// A dropped socket: reconnect.
	w.cp.DropConnections(w.infra)
	w.waitConnected()

	// Half-open: nothing arrives any more, nothing is closed. The ka timeout (2 s here) notices.
	// (The agent must be subscribed first: the control plane may still list the dropped socket.)
	testcluster.Eventually(t, 15*time.Second, "subscribed before the freeze", func(context.Context) (bool, error) { return w.sub.Connected(), nil })
	fz.freeze()
	start := time.Now()
	testcluster.Eventually(t, 15*time.Second, "the silent link detected", func(context.Context) (bool, error) { return !w.sub.Connected(), nil })
	detected := time.Since(start)
	w.waitConnected()
	testcluster.Eventually(t, 15*time.Second, "subscribed again", func(context.Context) (bool, error) { return w.sub.Connected(), nil })
	t.Logf("half-open link detected after %s (ka timeout %s)", detected.Round(time.Millisecond), w.sub.o.KeepAliveTimeout)
	if detected > w.sub.o.KeepAliveTimeout+3*time.Second {
		t.Errorf("detection took %s", detected)
	}

	evs, err := w.c.Client.CoreV1().Events(w.ns).List(t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + ConfigMapName})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, e := range evs.Items {
		reasons[e.Reason]++
	}
	if reasons["ControlPlaneConnected"] < 3 || reasons["ControlPlaneDisconnected"] < 2 {
		t.Errorf("events %v: want connects and disconnects recorded", reasons)
	}
}

// TestTLS: the control plane's certificate is verified by default; CUSTOM_TLS_CERT trusts a
// private CA; SKIP_SSL_VERIFY turns verification off.
func TestTLS(t *testing.T) {
	w := newWorld(t)
	srv := httptest.NewTLSServer(w.cp.Handler())
	t.Cleanup(srv.Close)
	url := srv.URL + "/query"
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	// Verified by default: the self-signed server is refused, nothing connects.
	s := w.newSubscriber(url, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	_ = s.Run(ctx)
	cancel()
	if w.cp.Confirmed(w.infra) || w.cp.Connected(w.infra) {
		t.Fatal("connected to an unverified server")
	}
	// With the CA trusted.
	for _, opts := range []*HTTPOptions{{CustomCertB64: base64.StdEncoding.EncodeToString(certPEM)}, {SkipVerify: true}} {
		s := w.newSubscriber(url, opts)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Run(ctx) }()
		w.waitConnected()
		cancel()
		<-done
	}
}
