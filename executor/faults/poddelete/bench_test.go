package poddelete_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/executor/faults/poddelete"
	"github.com/chaos-agent/chaos-agent/executor/target"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

type timingObserver struct {
	mu      sync.Mutex
	batches []time.Time // start of each deletion batch
	last    int
}

func (o *timingObserver) Iteration(int, []*corev1.Pod) {}
func (o *timingObserver) Skipped(executor.Skip)        {}
func (o *timingObserver) Recovered(executor.Recovery)  {}
func (o *timingObserver) Injected(v executor.Victim) {
	o.mu.Lock()
	defer o.mu.Unlock()
	// parallel mode: victims of one batch are deleted back to back; a new batch starts after
	// at least half an interval.
	if n := len(o.batches); n == 0 || v.InjectedAt.Sub(o.batches[n-1]) > 250*time.Millisecond {
		o.batches = append(o.batches, v.InjectedAt)
	}
}

// BenchmarkPodDeleteTiming measures, over 20 runs of pod-delete against a real Deployment on the
// local cluster, how far the end of the chaos overshoots TOTAL_CHAOS_DURATION and how far the
// start-to-start interval between deletion batches strays from CHAOS_INTERVAL.
// Goals: overshoot ≤ 100 ms, jitter ≤ 20 ms. Run with -benchtime=1x (make bench).
func BenchmarkPodDeleteTiming(b *testing.B) {
	c := testcluster.Get(b)
	ns := c.Namespace(b)
	ctx := b.Context()
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, testcluster.Deployment(ns, "web", 4), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	listers := target.Listers{Pods: factory.Core().V1().Pods().Lister(), ReplicaSets: factory.Apps().V1().ReplicaSets().Lister()}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	entries := []target.Entry{{Kind: "deployment", Namespace: ns, Selector: "app=web"}}
	const (
		runs     = 20
		duration = 2 * time.Second
		interval = 500 * time.Millisecond
	)
	env := map[string]string{"TOTAL_CHAOS_DURATION": "2s", "CHAOS_INTERVAL": "500ms", "PODS_AFFECTED_PERC": "50", "FORCE": "true",
		"STATUS_CHECK_DELAY": "1", "STATUS_CHECK_TIMEOUT": "30", "DEFAULT_HEALTH_CHECK": "false"}
	var overshoots, jitters []time.Duration
	b.ResetTimer()
	for range b.N {
		for range runs {
			testcluster.Eventually(b, 30*time.Second, "4 Ready pods", func(context.Context) (bool, error) {
				pods, err := listers.Pods.Pods(ns).List(labels.Everything())
				ready := 0
				for _, p := range pods {
					if testcluster.PodReady(p) {
						ready++
					}
				}
				return ready == 4, err
			})
			obs := &timingObserver{}
			rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			f, _, err := executor.NewFault(poddelete.Kind(), executor.FaultDeps{Client: c.Client, Selector: target.NewSelector(listers, rnd), Entries: entries,
				DefaultNamespace: ns, Clock: clock.RealClock{}, Rand: rnd, Observer: obs}, env)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if err := f.Inject(ctx); err != nil {
				b.Fatal(err)
			}
			overshoots = append(overshoots, time.Since(start)-duration)
			for i := 1; i < len(obs.batches); i++ {
				jitters = append(jitters, abs(obs.batches[i].Sub(obs.batches[i-1])-interval))
			}
			if len(obs.batches) != 4 {
				b.Errorf("%d batches in 2s at 500ms, want 4", len(obs.batches))
			}
		}
	}
	b.StopTimer()
	slices.Sort(overshoots)
	slices.Sort(jitters)
	b.ReportMetric(ms(overshoots[len(overshoots)/2]), "overshoot-p50-ms")
	b.ReportMetric(ms(overshoots[len(overshoots)-1]), "overshoot-max-ms")
	b.ReportMetric(ms(jitters[len(jitters)/2]), "jitter-p50-ms")
	b.ReportMetric(ms(jitters[len(jitters)-1]), "jitter-max-ms")
	b.Logf("pod-delete timing over %d runs (2s every 500ms, 4 replicas, 50%%): overshoot p50 %s max %s (goal ≤ 100ms); interval jitter p50 %s max %s over %d intervals (goal ≤ 20ms)",
		len(overshoots), overshoots[len(overshoots)/2], overshoots[len(overshoots)-1], jitters[len(jitters)/2], jitters[len(jitters)-1], len(jitters))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
