package subscriber

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	argofake "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
)

// front stands where an ingress would, in front of the test control plane: it counts what
// reaches it — readiness probes (plain GETs) and websocket handshakes — and, while down, answers
// every request with 503 as a proxy whose backend is gone does.
type front struct {
	cp   *testcp.Server
	down atomic.Bool

	mu       sync.Mutex
	probes   []time.Time
	upgrades []time.Time
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	f.mu.Lock()
	if r.Header.Get("Upgrade") != "" {
		f.upgrades = append(f.upgrades, now)
	} else if r.Method == http.MethodGet {
		f.probes = append(f.probes, now)
	}
	f.mu.Unlock()
	if f.down.Load() {
		http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
		return
	}
	f.cp.Handler().ServeHTTP(w, r)
}

// between counts the times in ts within [from, to).
func between(ts []time.Time, from, to time.Time) int {
	n := 0
	for _, t := range ts {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

// fleetFigures is what the server saw of a fleet through an outage.
type fleetFigures struct {
	agents                        int
	outage                        time.Duration
	outageProbesPerS, outageDials float64 // during the outage (after its first second)
	recoveryDials, recoveryProbes int     // in the first 2 s after the server came back
	recoveryDialsPerS             float64 // handshakes per second over the time the fleet took to reconnect
	p50, p99, max                 time.Duration
}

func (f fleetFigures) String() string {
	return fmt.Sprintf("%d agents, %s outage: during it the server saw %.0f probes/s and %.1f handshakes/s; back, every agent "+
		"subscribed again within p50 %s, p99 %s, max %s, with %d handshakes (%.0f/s while they reconnected) and %d probes in the first 2 s",
		f.agents, f.outage, f.outageProbesPerS, f.outageDials, f.p50.Round(time.Millisecond), f.p99.Round(time.Millisecond),
		f.max.Round(time.Millisecond), f.recoveryDials, f.recoveryDialsPerS, f.recoveryProbes)
}

// runFleet runs the links of n agents in this process against the test control plane on
// loopback, takes the server away (503s at its front, every subscription dropped) for outage,
// brings it back and measures.
func runFleet(tb testing.TB, n int, outage time.Duration) fleetFigures {
	tb.Helper()
	cp := testcp.New(testcp.Options{})
	fr := &front{cp: cp}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: fr, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/query"

	ctx, cancel := context.WithCancel(tb.Context())
	var wg sync.WaitGroup
	subs := make([]*Subscriber, n)
	defer func() {
		cancel()
		wg.Wait()
		for _, s := range subs {
			if s != nil {
				s.gql.http.CloseIdleConnections()
			}
		}
		_ = srv.Close()
		cp.Stop()
	}()
	for i := range n {
		infra := fmt.Sprintf("fleet-%03d", i)
		cp.RegisterConfirmedInfra(infra, fmt.Sprintf("key-%03d", i))
		s, err := New(Options{
			ServerAddr: url, InfraID: infra, AccessKey: fmt.Sprintf("key-%03d", i), Version: testcp.DefaultVersion, Namespace: "fleet",
			Kube: kubefake.NewClientset(), Dynamic: dynamicfake.NewSimpleDynamicClient(runtime.NewScheme()), Argo: argofake.NewSimpleClientset(),
			Mapper: meta.NewDefaultRESTMapper(nil), Log: zap.NewNop(), Outbox: &MemoryStore{},
		})
		if err != nil {
			tb.Fatal(err)
		}
		close(s.loaded) // the link alone runs here, with an empty outbox
		subs[i] = s
		wg.Go(func() { _ = s.link(ctx) })
	}
	waitAll := func(what string, limit time.Duration) []time.Duration {
		start := time.Now()
		took := make([]time.Duration, n)
		for i := range n {
			wctx, wcancel := context.WithTimeout(ctx, limit-time.Since(start))
			err := cp.WaitConnected(wctx, fmt.Sprintf("fleet-%03d", i))
			wcancel()
			if err != nil {
				tb.Fatalf("%s: agent %d: %v", what, i, err)
			}
		}
		// WaitConnected returns in index order; ask each agent when it got its ack.
		for i, s := range subs {
			took[i] = s.lastConnected().Sub(start)
		}
		return took
	}
	waitAll("first connection", 60*time.Second)

	// The outage: the front answers 503 and every subscription is dropped.
	fr.down.Store(true)
	downAt := time.Now()
	for i := range n {
		cp.DropConnections(fmt.Sprintf("fleet-%03d", i))
	}
	time.Sleep(outage)
	upAt := time.Now()
	fr.down.Store(false)
	took := waitAll("reconnect", 60*time.Second)
	time.Sleep(max(0, 2*time.Second-time.Since(upAt)))

	fr.mu.Lock()
	defer fr.mu.Unlock()
	steady := downAt.Add(time.Second) // the first second holds the drop itself
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	last := sorted[n-1]
	fig := fleetFigures{
		agents: n, outage: outage,
		outageProbesPerS: float64(between(fr.probes, steady, upAt)) / upAt.Sub(steady).Seconds(),
		outageDials:      float64(between(fr.upgrades, downAt, upAt)) / upAt.Sub(downAt).Seconds(),
		recoveryDials:    between(fr.upgrades, upAt, upAt.Add(2*time.Second)),
		recoveryProbes:   between(fr.probes, upAt, upAt.Add(2*time.Second)),
		p50:              sorted[n/2], p99: sorted[int(0.99*float64(n-1))], max: last,
	}
	fig.recoveryDialsPerS = float64(fig.recoveryDials) / max(last, 100*time.Millisecond).Seconds()
	return fig
}

// TestFleetReconnect: 200 agents' links against one control plane through an outage. While it
// is away the server sees cheap probes at a bounded rate and no handshakes; once back, every
// agent subscribes again within about a second, with one handshake each.
func TestFleetReconnect(t *testing.T) {
	agents, outage := 200, 5*time.Second
	if testing.Short() {
		agents, outage = 50, 3*time.Second
	}
	f := runFleet(t, agents, outage)
	t.Log(f)
	// Generous bounds (a loaded machine): probes every 0.25–0.5 s per agent.
	if limit := 6 * float64(agents); f.outageProbesPerS > limit {
		t.Errorf("%.0f probes/s during the outage, want ≤ %.0f", f.outageProbesPerS, limit)
	}
	if f.outageProbesPerS < float64(agents)/2 {
		t.Errorf("%.0f probes/s during the outage: the agents are not watching for the server", f.outageProbesPerS)
	}
	if f.outageDials != 0 {
		t.Errorf("%.1f handshakes/s while the server answered 503: want none", f.outageDials)
	}
	if f.recoveryDials > 2*agents {
		t.Errorf("%d handshakes for %d agents at recovery", f.recoveryDials, agents)
	}
	if f.max > 5*time.Second {
		t.Errorf("the last agent reconnected %s after the server came back (goal 1 s)", f.max)
	}
}

// BenchmarkFleetReconnect prints the fleet figures (no cluster needed).
func BenchmarkFleetReconnect(b *testing.B) {
	for range b.N {
		f := runFleet(b, 200, 10*time.Second)
		b.ReportMetric(f.outageProbesPerS, "outage-probes/s")
		b.ReportMetric(f.outageDials, "outage-handshakes/s")
		b.ReportMetric(float64(f.recoveryDials), "recovery-handshakes")
		b.ReportMetric(float64(f.p99.Microseconds())/1000, "reconnect-p99-ms")
		b.ReportMetric(float64(f.max.Microseconds())/1000, "reconnect-max-ms")
		b.Log(f)
	}
}
