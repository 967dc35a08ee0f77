package target

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
)

// collection is the candidate set of one Spec, split by whether the
// percentage applies.
type collection struct {
	// pinned pods are always victims: TARGET_PODS or entries of kind pod.
	pinned []*corev1.Pod
	// ordered is set when pinned keeps the user's order (TARGET_PODS);
	// otherwise pinned is sorted by namespace/name.
	ordered bool
	// pool pods are subject to the percentage; sorted by namespace/name
	// and disjoint from pinned.
	pool []*corev1.Pod
}

func (s *Selector) collect(spec Spec) (collection, error) {
	if s.listers.Pods == nil {
		return collection{}, fmt.Errorf("target selector: no pod lister")
	}
	if names := splitNames(spec.TargetPods); len(names) > 0 {
		pods, err := s.targetPods(spec, names)
		return collection{pinned: pods, ordered: true}, err
	}
	if len(spec.Entries) == 0 {
		return collection{}, selErr("", "provide one of appinfo/selectors or TARGET_PODS")
	}

	var nodes map[string]struct{}
	if spec.NodeLabel != "" {
		var err error
		if nodes, err = s.nodeSet(spec.NodeLabel); err != nil {
			return collection{}, err
		}
	}

	b := builder{nodes: nodes}
	if len(spec.Entries) > 1 || normalizeKind(spec.Entries[0].Kind) == KindPod {
		// A single non-pod entry yields each cached pod at most once.
		b.seen = make(map[nsName]bool)
	}
	r := s.newResolver()
	for _, e := range spec.Entries {
		e.Kind = normalizeKind(e.Kind)
		e.Names = splitNames(e.Names)
		if e.Namespace == "" {
			e.Namespace = spec.DefaultNamespace
		}
		if e.Namespace == "" {
			return collection{}, selErr(e.String(), fmt.Sprintf("target %s names no namespace", e))
		}
		var err error
		switch e.Kind {
		case KindPod:
			err = s.addNamedPods(&b, e)
		case KindAll:
			err = s.addNamespace(&b, e)
		default:
			if kerr := checkWorkloadKind(e.Kind); kerr != nil {
				return collection{}, selErr(e.String(), fmt.Sprintf("target %s: %v", e, kerr))
			}
			if len(e.Names) > 0 {
				err = s.addWorkloadsByName(&b, r, e)
			} else {
				err = s.addWorkloadsBySelector(&b, r, e)
			}
		}
		if err != nil {
			return collection{}, err
		}
	}
	targets := entriesString(spec.Entries)
	if b.matched == 0 {
		return collection{}, selErr(targets, fmt.Sprintf("no target pods found (targets: %s)", targets))
	}
	c := b.result()
	if len(c.pinned)+len(c.pool) == 0 {
		return collection{}, selErr(targets, fmt.Sprintf(
			"no target pod found on the node(s) matching NODE_LABEL %q (targets: %s)", spec.NodeLabel, targets))
	}
	return c, nil
}

// builder accumulates candidates. It applies the NODE_LABEL filter and, when
// seen is set, de-duplicates by namespace/name; a pod that is both pinned
// and in the pool ends up pinned only.
type builder struct {
	nodes   map[string]struct{} // nil: no node filter
	matched int                 // candidates before the node filter
	seen    map[nsName]bool     // value: pinned; nil: no de-duplication
	pinned  []*corev1.Pod
	pool    []*corev1.Pod
	dirty   bool // pool holds pods that were later pinned
}

func (b *builder) add(p *corev1.Pod, pinned bool) {
	b.matched++
	if b.nodes != nil {
		if _, ok := b.nodes[p.Spec.NodeName]; !ok {
			return
		}
	}
	if b.seen != nil {
		k := nsName{p.Namespace, p.Name}
		was, ok := b.seen[k]
		switch {
		case !ok:
			b.seen[k] = pinned
		case pinned && !was:
			b.seen[k] = true
			b.dirty = true
		default:
			return
		}
	}
	if pinned {
		b.pinned = append(b.pinned, p)
	} else {
		b.pool = append(b.pool, p)
	}
}

func (b *builder) result() collection {
	pool := b.pool
	if b.dirty {
		pool = slices.DeleteFunc(pool, func(p *corev1.Pod) bool { return b.seen[nsName{p.Namespace, p.Name}] })
	}
	sortPods(b.pinned)
	sortPods(pool)
	return collection{pinned: b.pinned, pool: pool}
}

// targetPods resolves TARGET_PODS: every name must exist in the cache
// (NotFound is final); terminating and finished pods are skipped.
func (s *Selector) targetPods(spec Spec, names []string) ([]*corev1.Pod, error) {
	ns := spec.DefaultNamespace
	for _, e := range spec.Entries {
		if e.Namespace != "" {
			ns = e.Namespace
			break
		}
	}
	target := Entry{Kind: KindPod, Namespace: ns, Names: names}.String()
	if ns == "" {
		return nil, selErr(target, "TARGET_PODS: no namespace (no target names one and no default namespace)")
	}
	out := make([]*corev1.Pod, 0, len(names))
	for _, name := range names {
		p, err := s.listers.Pods.Pods(ns).Get(name)
		if apierrors.IsNotFound(err) {
			return nil, selErr(Entry{Kind: KindPod, Namespace: ns, Names: []string{name}}.String(),
				fmt.Sprintf("pod %q set by TARGET_PODS does not exist in namespace %q", name, ns))
		}
		if err != nil {
			return nil, fmt.Errorf("get pod %s/%s from cache: %w", ns, name, err)
		}
		if Eligible(p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, selErr(target, fmt.Sprintf(
			"all pods set by TARGET_PODS in namespace %q are terminating or finished", ns))
	}
	return out, nil
}

// addNamedPods handles an entry of kind pod: every named pod must exist.
func (s *Selector) addNamedPods(b *builder, e Entry) error {
	if len(e.Names) == 0 {
		return selErr(e.String(), fmt.Sprintf("target %s: pod targets need names", e))
	}
	for _, name := range e.Names {
		p, err := s.listers.Pods.Pods(e.Namespace).Get(name)
		if apierrors.IsNotFound(err) {
			return selErr(Entry{Kind: KindPod, Namespace: e.Namespace, Names: []string{name}}.String(),
				fmt.Sprintf("pod %q does not exist in namespace %q", name, e.Namespace))
		}
		if err != nil {
			return fmt.Errorf("get pod %s/%s from cache: %w", e.Namespace, name, err)
		}
		if Eligible(p) {
			b.add(p, true)
		}
	}
	return nil
}

// addNamespace handles a namespace-wide entry (upstream KIND): every pod of
// the namespace but Litmus' own, narrowed by Selector when one is given.
func (s *Selector) addNamespace(b *builder, e Entry) error {
	if len(e.Names) > 0 {
		return selErr(e.String(), fmt.Sprintf("target %s: names need a kind", e))
	}
	sel, err := parseSelector(e)
	if err != nil {
		return err
	}
	pods, err := s.listers.Pods.Pods(e.Namespace).List(sel)
	if err != nil {
		return fmt.Errorf("list pods in namespace %q from cache: %w", e.Namespace, err)
	}
	for _, p := range pods {
		if !Eligible(p) || p.Labels[chaosUIDLabel] != "" || p.Labels[operatorNameLabel] == operatorNameValue {
			continue
		}
		b.add(p, false)
	}
	return nil
}

// addWorkloadsByName handles a workload entry with names: the pods of the
// namespace whose derived owner is one of the named workloads of e.Kind.
// Every name must have at least one eligible pod.
func (s *Selector) addWorkloadsByName(b *builder, r *resolver, e Entry) error {
	pods, err := s.listers.Pods.Pods(e.Namespace).List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list pods in namespace %q from cache: %w", e.Namespace, err)
	}
	const (
		seenAny = 1 << iota
		seenEligible
	)
	found := make([]uint8, len(e.Names))
	for _, p := range pods {
		w := r.owner(p)
		if w.kind != e.Kind {
			continue
		}
		i := slices.Index(e.Names, w.name)
		if i < 0 {
			continue
		}
		found[i] |= seenAny
		if Eligible(p) {
			found[i] |= seenEligible
			b.add(p, false)
		}
	}
	for i, name := range e.Names {
		target := Entry{Kind: e.Kind, Namespace: e.Namespace, Names: []string{name}}.String()
		switch {
		case found[i]&seenAny == 0:
			return selErr(target, fmt.Sprintf("no pod found for %s %q in namespace %q", e.Kind, name, e.Namespace))
		case found[i]&seenEligible == 0:
			return selErr(target, fmt.Sprintf(
				"no eligible pod for %s %q in namespace %q: all its pods are terminating or finished",
				e.Kind, name, e.Namespace))
		}
	}
	return nil
}

// addWorkloadsBySelector handles a workload entry with a label selector: the
// eligible pods matching it whose derived owner kind is e.Kind.
func (s *Selector) addWorkloadsBySelector(b *builder, r *resolver, e Entry) error {
	if strings.TrimSpace(e.Selector) == "" {
		return selErr(e.String(), fmt.Sprintf("target %s names no workload and no label selector", e))
	}
	sel, err := parseSelector(e)
	if err != nil {
		return err
	}
	pods, err := s.listers.Pods.Pods(e.Namespace).List(sel)
	if err != nil {
		return fmt.Errorf("list pods in namespace %q from cache: %w", e.Namespace, err)
	}
	for _, p := range pods {
		if Eligible(p) && r.owner(p).kind == e.Kind {
			b.add(p, false)
		}
	}
	return nil
}

func parseSelector(e Entry) (labels.Selector, error) {
	sel, err := labels.Parse(e.Selector)
	if err != nil {
		return nil, selErr(e.String(), fmt.Sprintf("invalid label selector %q: %v", e.Selector, err))
	}
	return sel, nil
}

// nodeSet returns the names of the nodes matching the NODE_LABEL selector.
func (s *Selector) nodeSet(nodeLabel string) (map[string]struct{}, error) {
	target := "NODE_LABEL=" + nodeLabel
	if s.listers.Nodes == nil {
		return nil, selErr(target, "NODE_LABEL needs read access to nodes, which only a cluster-scoped install has; "+
			"install chaos-agent cluster-scoped or unset NODE_LABEL")
	}
	sel, err := labels.Parse(nodeLabel)
	if err != nil {
		return nil, selErr(target, fmt.Sprintf("invalid NODE_LABEL selector %q: %v", nodeLabel, err))
	}
	nodes, err := s.listers.Nodes.List(sel)
	if err != nil {
		return nil, fmt.Errorf("list nodes from cache: %w", err)
	}
	if len(nodes) == 0 {
		return nil, selErr(target, fmt.Sprintf("no nodes found with labels matching NODE_LABEL %q", nodeLabel))
	}
	set := make(map[string]struct{}, len(nodes))
	for _, n := range nodes {
		set[n.Name] = struct{}{}
	}
	return set, nil
}

// normalizeKind lower-cases kind and maps upstream's literal "KIND" to
// KindAll.
func normalizeKind(kind string) string {
	kind = strings.ToLower(strings.TrimSpace(kind))
	if kind == "kind" {
		return KindAll
	}
	return kind
}

// splitNames trims names and drops empty items and duplicates.
func splitNames(in []string) []string {
	var out []string
	for _, n := range in {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
