package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/executor/target"
	"github.com/chaos-agent/chaos-agent/internal/kube"
)

// targetCaches are the informers target selection reads: pods and ReplicaSets in the executor's
// scope, and nodes in a cluster-wide install. They are built directly on the typed clients (not
// through client-go's all-groups informer factory) and cache only what is read: pods and
// ReplicaSets slimmed (kube.SlimPod, kube.SlimReplicaSet), nodes without managed fields.
type targetCaches struct {
	informers []cache.SharedIndexInformer
	listers   target.Listers
}

func newTargetCaches(client kube.Interface, namespace string, resync time.Duration) *targetCaches {
	c := &targetCaches{}
	pods := addInformer(c, client, &corev1.Pod{}, resync, kube.SlimPod, client.CoreV1().Pods(namespace).List, client.CoreV1().Pods(namespace).Watch)
	replicaSets := addInformer(c, client, &appsv1.ReplicaSet{}, resync, kube.SlimReplicaSet,
		client.AppsV1().ReplicaSets(namespace).List, client.AppsV1().ReplicaSets(namespace).Watch)
	c.listers = target.Listers{
		Pods:        corelisters.NewPodLister(pods.GetIndexer()),
		ReplicaSets: appslisters.NewReplicaSetLister(replicaSets.GetIndexer()),
	}
	if namespace == "" {
		// Nodes are cluster-scoped: only a cluster-wide install may read them (NODE_LABEL).
		nodes := addInformer(c, client, &corev1.Node{}, resync, kube.StripManagedFields, client.CoreV1().Nodes().List, client.CoreV1().Nodes().Watch)
		c.listers.Nodes = corelisters.NewNodeLister(nodes.GetIndexer())
	}
	return c
}

// addInformer adds an informer of obj's kind, listed and watched by the typed client's List
// and Watch, caching what transform keeps, to c.
func addInformer[L runtime.Object](c *targetCaches, client kube.Interface, obj runtime.Object, resync time.Duration, transform cache.TransformFunc,
	list func(context.Context, metav1.ListOptions) (L, error), watch cache.WatchFuncWithContext) cache.SharedIndexInformer {
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return list(ctx, o) },
		WatchFuncWithContext: watch,
	}, client)
	inf := cache.NewSharedIndexInformer(lw, obj, resync, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	_ = inf.SetTransform(transform)
	c.informers = append(c.informers, inf)
	return inf
}

// run starts the informers; they stop when ctx ends.
func (c *targetCaches) run(ctx context.Context) {
	for _, inf := range c.informers {
		go inf.RunWithContext(ctx)
	}
}

// hasSynced reports whether every cache has been filled.
func (c *targetCaches) hasSynced() bool {
	for _, inf := range c.informers {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// lazyTargets holds the target caches only while runs need them: the first run starts them (and
// waits for them to fill), the last one to finish lets them go after idle. An idle agent then
// caches no pods at all — with 10 000 pods in scope that is most of its memory.
type lazyTargets struct {
	build func() *targetCaches
	clock clock.Clock
	idle  time.Duration

	mu       sync.Mutex
	parent   context.Context // the executor's informer context (set by start)
	c        *targetCaches
	cancel   context.CancelFunc
	users    int
	idleStop chan struct{} // closed to call off a pending idle stop
	wg       sync.WaitGroup
}

func newLazyTargets(build func() *targetCaches, clk clock.Clock, idle time.Duration) *lazyTargets {
	return &lazyTargets{build: build, clock: clk, idle: idle}
}

// start sets the context the caches run under; none run before it, none after it ends.
func (l *lazyTargets) start(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.parent = ctx
}

// acquire returns the running, synced caches, starting them if needed; release must be called
// once the caller no longer selects targets.
func (l *lazyTargets) acquire(ctx context.Context) (*targetCaches, func(), error) {
	l.mu.Lock()
	if l.parent == nil || l.parent.Err() != nil {
		l.mu.Unlock()
		return nil, nil, errors.New("the executor is not running")
	}
	if l.c == nil {
		cctx, cancel := context.WithCancel(l.parent)
		l.c, l.cancel = l.build(), cancel
		l.c.run(cctx)
	}
	l.callOffIdle()
	l.users++
	c := l.c
	l.mu.Unlock()
	var once sync.Once
	release := func() { once.Do(l.release) }
	if !cache.WaitForCacheSync(ctx.Done(), c.hasSynced) {
		release()
		return nil, nil, fmt.Errorf("the pod cache never synced: %w", context.Cause(ctx))
	}
	return c, release, nil
}

// callOffIdle cancels a pending idle stop. Called with l.mu held.
func (l *lazyTargets) callOffIdle() {
	if l.idleStop != nil {
		close(l.idleStop)
		l.idleStop = nil
	}
}

func (l *lazyTargets) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users--
	if l.users > 0 || l.c == nil {
		return
	}
	t := l.clock.NewTimer(l.idle)
	calledOff := make(chan struct{})
	l.idleStop = calledOff
	l.wg.Go(func() {
		defer t.Stop()
		select {
		case <-t.C():
		case <-calledOff:
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		select {
		case <-calledOff: // a run came in meanwhile
			return
		default:
		}
		l.idleStop = nil
		if l.users == 0 && l.c != nil {
			l.cancel()
			l.c, l.cancel = nil, nil
		}
	})
}

// stop lets the caches go at once and waits for the idle timer (the executor is stopping).
func (l *lazyTargets) stop() {
	l.mu.Lock()
	l.callOffIdle()
	if l.c != nil {
		l.cancel()
		l.c, l.cancel = nil, nil
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// running reports whether the caches exist.
func (l *lazyTargets) running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c != nil
}
