package executor

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

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
