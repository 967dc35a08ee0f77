package policy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/internal/kube"
)

// Guard decides, continuously, whether chaos may run at all: the policy's kill switch (watched,
// so flipping it stops running faults within a second), a halt-all order, and the loss of the
// control-plane link. The executor stops every running fault when Halts delivers a reason, and
// refuses new runs while Halted says so.
type Guard struct {
	o     GuardOptions
	halts chan string

	mu       sync.Mutex
	pol      Policy
	polErr   error
	lastLive time.Time
	halted   string // the reason of the current halt, "" when none
}

// GuardOptions configure a Guard.
type GuardOptions struct {
	Kube      kube.Interface // nil: no policy watch (only the link and halt-all)
	Namespace string         // the policy ConfigMap's namespace
	Defaults  Defaults
	// Linked reports whether a live control-plane link exists now; nil when no control plane is
	// configured (then link loss never halts).
	Linked func() bool
	Clock  clock.WithTicker
	Log    *zap.Logger
	// Period of the link check (default 200ms).
	Period time.Duration
}

// NewGuard returns a guard; Run drives it.
func NewGuard(o GuardOptions) *Guard {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Period <= 0 {
		o.Period = 200 * time.Millisecond
	}
	pol, err := Parse(nil, false, o.Namespace, o.Defaults)
	return &Guard{o: o, halts: make(chan string, 1), pol: pol, polErr: err, lastLive: o.Clock.Now()}
}

// Halts delivers a reason each time running faults must stop.
func (g *Guard) Halts() <-chan string { return g.halts }

// Halted reports whether no chaos may start now, and why.
func (g *Guard) Halted() (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.halted, g.halted != ""
}

// HaltAll stops every running fault now (the control plane's or an operator's order). It does not
// stay in force: new runs start again unless the policy's kill switch is on.
func (g *Guard) HaltAll(reason string) {
	g.o.Log.Warn("halt-all: stopping every running fault", zap.String("reason", reason))
	g.signal("halt-all: " + reason)
}

func (g *Guard) signal(reason string) {
	select {
	case g.halts <- reason:
	default: // a halt is already pending: it stops everything too
	}
}

// Run watches the policy and the link until ctx ends.
func (g *Guard) Run(ctx context.Context) error {
	g.mu.Lock()
	g.lastLive = g.o.Clock.Now() // the link-loss clock starts when the guard does
	g.mu.Unlock()
	if g.o.Kube != nil {
		inf := g.informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { g.setPolicy(obj) },
			UpdateFunc: func(_, obj any) { g.setPolicy(obj) },
			DeleteFunc: func(any) { g.setPolicy(nil) },
		}); err != nil {
			return fmt.Errorf("policy watch: %w", err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { inf.RunWithContext(ctx) })
		defer wg.Wait()
	}
	t := g.o.Clock.NewTicker(g.o.Period)
	defer t.Stop()
	for {
		g.evaluate()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

func (g *Guard) informer() cache.SharedIndexInformer {
	sel := fields.OneTermEqualSelector("metadata.name", ConfigMapName).String()
	cms := g.o.Kube.CoreV1().ConfigMaps(g.o.Namespace)
	return cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return cms.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return cms.Watch(ctx, o)
		},
	}, &corev1.ConfigMap{}, 0, cache.Indexers{})
}

func (g *Guard) setPolicy(obj any) {
	var pol Policy
	var err error
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		pol, err = Parse(cm.Data, true, g.o.Namespace, g.o.Defaults)
	} else {
		pol, err = Parse(nil, false, g.o.Namespace, g.o.Defaults)
	}
	if err != nil {
		g.o.Log.Error("invalid cluster policy: every fault stops and none starts until it is fixed", zap.Error(err))
	}
	g.mu.Lock()
	g.pol, g.polErr = pol, err
	g.mu.Unlock()
	g.evaluate()
}

// evaluate recomputes the halt state; entering a halt signals the executor.
func (g *Guard) evaluate() {
	now := g.o.Clock.Now()
	linked := g.o.Linked != nil && g.o.Linked()
	g.mu.Lock()
	if linked {
		g.lastLive = now
	}
	reason := ""
	switch {
	case g.polErr != nil:
		reason = "the cluster policy is invalid: " + g.polErr.Error()
	case g.pol.KillSwitch:
		reason = "the cluster policy's kill switch is on"
	case g.o.Linked != nil && g.pol.LinkLossTimeout > 0 && now.Sub(g.lastLive) > g.pol.LinkLossTimeout:
		reason = fmt.Sprintf("no live control-plane link for more than %s (policy linkLossTimeout)", g.pol.LinkLossTimeout)
	}
	entered := reason != "" && g.halted == ""
	left := reason == "" && g.halted != ""
	g.halted = reason
	g.mu.Unlock()
	switch {
	case entered:
		g.o.Log.Warn("chaos halted: running faults stop, new ones are refused", zap.String("reason", reason))
		g.signal(reason)
	case left:
		g.o.Log.Info("chaos no longer halted")
	}
}
