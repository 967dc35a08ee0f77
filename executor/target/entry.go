package target

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// Target kinds, lower case as in the Litmus TARGETS env. KindAll (the empty
// string) is upstream's "KIND": every pod of the namespace.
const (
	KindAll              = ""
	KindPod              = "pod"
	KindDeployment       = "deployment"
	KindStatefulSet      = "statefulset"
	KindDaemonSet        = "daemonset"
	KindReplicaSet       = "replicaset"
	KindDeploymentConfig = "deploymentconfig"
	KindRollout          = "rollout"
)

// workloadKinds are the kinds accepted for workload entries (appinfo.appkind
// and selectors.workloads[].kind), in the order they are listed in errors.
var workloadKinds = []string{
	KindDeployment, KindStatefulSet, KindDaemonSet, KindReplicaSet,
	KindDeploymentConfig, KindRollout,
}

// Entry is one target descriptor (one element of upstream's TARGETS).
type Entry struct {
	// Kind is deployment, statefulset, daemonset, replicaset,
	// deploymentconfig, rollout, pod, or "" meaning every pod of the
	// namespace (upstream "KIND", also accepted). Case is ignored.
	Kind      string
	Namespace string
	// Names are workload names (workload kinds) or pod names (kind pod).
	Names []string
	// Selector is a Kubernetes label selector, used when Names is empty.
	// It is parsed as one selector: commas mean AND.
	Selector string
}

// String renders e in the TARGETS notation, kind:namespace:[list].
func (e Entry) String() string {
	kind := e.Kind
	if kind == KindAll {
		kind = "KIND"
	}
	list := e.Selector
	if len(e.Names) > 0 {
		list = strings.Join(e.Names, ",")
	}
	return kind + ":" + e.Namespace + ":[" + list + "]"
}

func entriesString(es []Entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.String()
	}
	return strings.Join(parts, ";")
}

// FromEngine derives the target entries of a ChaosEngine.
//
// spec.selectors, when present, win over spec.appinfo. A workload selector
// becomes one entry of its kind (Names from names, Selector from labels); a
// pod selector becomes an entry of kind "pod". Namespaces default to the
// engine namespace.
//
// appinfo yields a single entry: Kind appkind (lower-cased), Namespace appns
// (default: the engine namespace), Selector applabel. When only appns is
// set the entry has Kind "" (namespace-wide, upstream "KIND"). Exactly one of
// appkind/applabel set is an error, as is an unsupported kind. An engine with
// neither selectors nor appinfo has no entries (nil, nil); the caller then
// needs TARGET_PODS.
func FromEngine(e *litmus.ChaosEngine) ([]Entry, error) {
	if e == nil {
		return nil, nil
	}
	if sel := e.Spec.Selectors; sel != nil {
		return fromSelectors(sel, e.Namespace)
	}
	ai := e.Spec.AppInfo
	kind := strings.ToLower(strings.TrimSpace(ai.AppKind))
	label := strings.TrimSpace(ai.AppLabel)
	ns := strings.TrimSpace(ai.AppNS)
	if kind == "" && label == "" {
		if ns == "" {
			return nil, nil
		}
		return []Entry{{Kind: KindAll, Namespace: ns}}, nil
	}
	if kind == "" || label == "" {
		return nil, fmt.Errorf("incomplete appinfo: provide appkind and applabel both")
	}
	if err := checkWorkloadKind(kind); err != nil {
		return nil, fmt.Errorf("appinfo.appkind: %w", err)
	}
	if ns == "" {
		ns = e.Namespace
	}
	return []Entry{{Kind: kind, Namespace: ns, Selector: label}}, nil
}

func fromSelectors(sel *litmus.Selectors, engineNS string) ([]Entry, error) {
	switch {
	case len(sel.Workloads) == 0 && len(sel.Pods) == 0:
		return nil, fmt.Errorf("selectors: specify one out of workloads or pods")
	case len(sel.Workloads) > 0 && len(sel.Pods) > 0:
		return nil, fmt.Errorf("selectors: specify only one out of workloads or pods")
	}
	var out []Entry
	for i, w := range sel.Workloads {
		kind := strings.ToLower(strings.TrimSpace(w.Kind))
		if err := checkWorkloadKind(kind); err != nil {
			return nil, fmt.Errorf("selectors.workloads[%d].kind: %w", i, err)
		}
		names := splitList(w.Names)
		labels := strings.TrimSpace(w.Labels)
		switch {
		case len(names) > 0 && labels != "":
			return nil, fmt.Errorf("selectors.workloads[%d]: set only one of names or labels", i)
		case len(names) == 0 && labels == "":
			return nil, fmt.Errorf("selectors.workloads[%d]: set one of names or labels", i)
		}
		out = append(out, Entry{
			Kind:      kind,
			Namespace: orDefault(strings.TrimSpace(w.Namespace), engineNS),
			Names:     names,
			Selector:  labels,
		})
	}
	for i, p := range sel.Pods {
		names := splitList(p.Names)
		if len(names) == 0 {
			return nil, fmt.Errorf("selectors.pods[%d]: names is empty", i)
		}
		out = append(out, Entry{
			Kind:      KindPod,
			Namespace: orDefault(strings.TrimSpace(p.Namespace), engineNS),
			Names:     names,
		})
	}
	return out, nil
}

func checkWorkloadKind(kind string) error {
	if slices.Contains(workloadKinds, kind) {
		return nil
	}
	if kind == "" {
		return fmt.Errorf("kind is empty; supported kinds: %s", strings.Join(workloadKinds, ", "))
	}
	return fmt.Errorf("unsupported kind %q; supported kinds: %s", kind, strings.Join(workloadKinds, ", "))
}

// splitList splits a comma-separated list, trimming items and dropping empty
// ones and duplicates (first occurrence wins).
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item != "" && !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
