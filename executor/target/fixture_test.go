package target

import (
	"math/rand/v2"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// fixture holds indexers standing in for informer caches.
type fixture struct {
	pods, rss, rcs, nodes cache.Indexer
}

func newIndexer() cache.Indexer {
	return cache.NewIndexer(cache.MetaNamespaceKeyFunc,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

func newFixture(t testing.TB, objs ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{pods: newIndexer(), rss: newIndexer(), rcs: newIndexer(), nodes: newIndexer()}
	for _, o := range objs {
		f.add(t, o)
	}
	return f
}

func (f *fixture) add(t testing.TB, o runtime.Object) {
	t.Helper()
	var err error
	switch o.(type) {
	case *corev1.Pod:
		err = f.pods.Add(o)
	case *appsv1.ReplicaSet:
		err = f.rss.Add(o)
	case *corev1.ReplicationController:
		err = f.rcs.Add(o)
	case *corev1.Node:
		err = f.nodes.Add(o)
	default:
		t.Fatalf("unsupported fixture object %T", o)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) listers() Listers {
	return Listers{
		Pods:                   corelisters.NewPodLister(f.pods),
		ReplicaSets:            appslisters.NewReplicaSetLister(f.rss),
		ReplicationControllers: corelisters.NewReplicationControllerLister(f.rcs),
		Nodes:                  corelisters.NewNodeLister(f.nodes),
	}
}

func (f *fixture) selector(seed uint64) *Selector {
	return NewSelector(f.listers(), rand.New(rand.NewPCG(seed, 42)))
}

type podOpt func(*corev1.Pod)

func mkPod(ns, name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name)},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withLabels(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func ownedBy(kind, name string) podOpt {
	return func(p *corev1.Pod) { p.OwnerReferences = append(p.OwnerReferences, ctrlRef(kind, name)) }
}

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

func terminating() podOpt {
	return func(p *corev1.Pod) { ts := metav1.Now(); p.DeletionTimestamp = &ts }
}

func inPhase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func withAnnotation(k, v string) podOpt {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}

func ctrlRef(kind, name string) metav1.OwnerReference {
	yes := true
	return metav1.OwnerReference{Kind: kind, Name: name, Controller: &yes, APIVersion: "x/v1", UID: types.UID("uid-" + name)}
}

func mkRS(ns, name string, owner ...metav1.OwnerReference) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owner}}
}

func mkRC(ns, name string, owner ...metav1.OwnerReference) *corev1.ReplicationController {
	return &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owner}}
}

func mkNode(name string, kv ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Labels[kv[i]] = kv[i+1]
	}
	return n
}

// deployment adds a Deployment's ReplicaSet and n pods to objs.
func deployment(ns, name string, n int, opts ...podOpt) []runtime.Object {
	rs := name + "-5d8f"
	objs := []runtime.Object{mkRS(ns, rs, ctrlRef("Deployment", name))}
	for i := range n {
		o := append([]podOpt{ownedBy("ReplicaSet", rs), withLabels("pod-template-hash", "5d8f")}, opts...)
		objs = append(objs, mkPod(ns, rs+"-"+string(rune('a'+i)), o...))
	}
	return objs
}

func names(ps []*corev1.Pod) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Namespace + "/" + p.Name
	}
	return out
}
