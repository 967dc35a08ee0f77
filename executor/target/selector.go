package target

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// Labels that mark Litmus' own pods; namespace-wide (Kind "") selection never
// picks pods carrying them.
const (
	chaosUIDLabel     = "chaosUID"
	operatorNameLabel = "name"
	operatorNameValue = "chaos-operator"
)

// Spec is everything that decides the victims of one iteration.
type Spec struct {
	Entries []Entry
	// TargetPods (TARGET_PODS) names pods explicitly; when non-empty it wins
	// over Entries and NodeLabel and no percentage is applied.
	TargetPods []string
	// NodeLabel (NODE_LABEL) is a node label selector; only pods scheduled
	// on matching nodes are candidates.
	NodeLabel string
	// Percentage (PODS_AFFECTED_PERC) is the blast radius, 0..100.
	Percentage int
	// DefaultNamespace is the namespace of TARGET_PODS when no entry names
	// one (upstream: CHAOS_NAMESPACE), and of entries without a namespace.
	DefaultNamespace string
}

// Listers are the informer caches selection is served from. The informers
// must have synced before the Selector is used.
type Listers struct {
	Pods corelisters.PodLister
	// ReplicaSets maps a ReplicaSet to its Deployment/Rollout owner.
	ReplicaSets appslisters.ReplicaSetLister
	// ReplicationControllers (optional) maps a ReplicationController to its
	// DeploymentConfig owner.
	ReplicationControllers corelisters.ReplicationControllerLister
	// Nodes is nil in namespace-scoped installs; NODE_LABEL then fails
	// with a SelectionError.
	Nodes corelisters.NodeLister
}

// Selector selects victim pods from informer caches. It is safe for
// concurrent use. The pods it returns are the cache's own objects: callers
// must not modify them (DeepCopy first).
type Selector struct {
	listers Listers

	mu  sync.Mutex // guards rnd
	rnd *rand.Rand
}

// NewSelector returns a Selector over l. rnd drives the random start of the
// percentage window; nil means a randomly seeded source.
func NewSelector(l Listers, rnd *rand.Rand) *Selector {
	if rnd == nil {
		rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &Selector{listers: l, rnd: rnd}
}

// Eligible reports whether p may be a victim: it is neither terminating
// (deletionTimestamp set) nor finished (phase Succeeded or Failed).
func Eligible(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil &&
		p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// Candidates returns every eligible pod for spec, before the percentage is
// applied, de-duplicated. The order is stable: sorted by namespace/name,
// except for TARGET_PODS, which keep the order they were given in.
func (s *Selector) Candidates(spec Spec) ([]*corev1.Pod, error) {
	c, err := s.collect(spec)
	if err != nil {
		return nil, err
	}
	if len(c.pinned) == 0 {
		return c.pool, nil
	}
	if c.ordered {
		return c.pinned, nil
	}
	out := append(c.pinned, c.pool...)
	sortPods(out)
	return out, nil
}

// Select returns the victims of one iteration. Pods named by TARGET_PODS or
// by entries of kind "pod" are all returned (first, no percentage). From the
// other candidates (N of them, sorted by namespace/name) it takes
// count = max(1, floor(p*N/100)) pods consecutively from a random start
// index, wrapping around; p is clamped to 0..100.
func (s *Selector) Select(spec Spec) ([]*corev1.Pod, error) {
	c, err := s.collect(spec)
	if err != nil {
		return nil, err
	}
	n := len(c.pool)
	if n == 0 {
		return c.pinned, nil
	}
	count := max(1, min(max(spec.Percentage, 0), 100)*n/100)
	start := s.intN(n)
	out := make([]*corev1.Pod, 0, len(c.pinned)+count)
	out = append(out, c.pinned...)
	for i := range count {
		out = append(out, c.pool[(start+i)%n])
	}
	return out, nil
}

// WorkloadPods returns the pods of one workload currently in the cache,
// sorted by name, for recovery checks: the pods of namespace whose derived
// owner (see Owner) is (kind, name). Terminating and finished pods are
// included (filter with Eligible as needed). kind "pod" returns the named pod
// if it exists. A workload without pods yields an empty result and no error.
func (s *Selector) WorkloadPods(kind, namespace, name string) ([]*corev1.Pod, error) {
	kind = strings.ToLower(kind)
	switch kind {
	case KindAll:
		return nil, fmt.Errorf("workload pods: kind is empty")
	case KindPod:
		p, err := s.listers.Pods.Pods(namespace).Get(name)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get pod %s/%s from cache: %w", namespace, name, err)
		}
		return []*corev1.Pod{p}, nil
	}
	all, err := s.listers.Pods.Pods(namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods in namespace %q from cache: %w", namespace, err)
	}
	r := s.newResolver()
	var out []*corev1.Pod
	for _, p := range all {
		if w := r.owner(p); w.kind == kind && w.name == name {
			out = append(out, p)
		}
	}
	sortPods(out)
	return out, nil
}

func (s *Selector) intN(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rnd.IntN(n)
}

func sortPods(ps []*corev1.Pod) {
	slices.SortFunc(ps, func(a, b *corev1.Pod) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
}
