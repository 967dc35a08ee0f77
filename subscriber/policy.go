package subscriber

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/kube"
)

// PolicyConfigMapName is the cluster owner's policy, which the agent enforces on every action
// whatever the control plane says.
const PolicyConfigMapName = "chaos-agent-policy"

// Policy is what the cluster owner allows. Its ConfigMap keys:
//
//	allowedNamespaces:   comma list; objects may only be applied there (default: the agent's namespace)
//	allowedKinds:        comma list of kinds that may be applied (default: Workflow,CronWorkflow)
//	maxPodsAffectedPerc: the highest PODS_AFFECTED_PERC an experiment may ask for (default: 100)
//	killSwitch:          "true" refuses every new run and stops the active ones
type Policy struct {
	AllowedNamespaces   []string
	AllowedKinds        []string
	MaxPodsAffectedPerc int
	KillSwitch          bool
}

// PolicySource reads the policy ConfigMap.
type PolicySource struct {
	kube      kube.Interface
	namespace string
	name      string
}

// NewPolicySource reads the policy from ConfigMap namespace/name.
func NewPolicySource(kube kube.Interface, namespace, name string) *PolicySource {
	return &PolicySource{kube: kube, namespace: namespace, name: name}
}

// Get returns the current policy; without the ConfigMap, the defaults.
func (p *PolicySource) Get(ctx context.Context) (Policy, error) {
	pol := Policy{AllowedNamespaces: []string{p.namespace}, AllowedKinds: []string{"Workflow", "CronWorkflow"}, MaxPodsAffectedPerc: 100}
	cm, err := p.kube.CoreV1().ConfigMaps(p.namespace).Get(ctx, p.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return pol, nil
	}
	if err != nil {
		return pol, fmt.Errorf("read policy %s: %w", p.name, err)
	}
	if v := list(cm.Data["allowedNamespaces"]); len(v) > 0 {
		pol.AllowedNamespaces = v
	}
	if v := list(cm.Data["allowedKinds"]); len(v) > 0 {
		pol.AllowedKinds = v
	}
	if v := strings.TrimSpace(cm.Data["maxPodsAffectedPerc"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			// A broken policy must not widen what is allowed: refuse everything until fixed.
			return Policy{KillSwitch: true}, fmt.Errorf("policy %s: maxPodsAffectedPerc %q is not 0-100", p.name, v)
		}
		pol.MaxPodsAffectedPerc = n
	}
	if v := strings.TrimSpace(cm.Data["killSwitch"]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Policy{KillSwitch: true}, fmt.Errorf("policy %s: killSwitch %q is not a boolean", p.name, v)
		}
		pol.KillSwitch = b
	}
	return pol, nil
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// allowsNamespace reports whether objects may be applied in ns.
func (p Policy) allowsNamespace(ns string) bool {
	return slices.Contains(p.AllowedNamespaces, ns) || slices.Contains(p.AllowedNamespaces, "*")
}

// allowsKind reports whether objects of kind may be applied.
func (p Policy) allowsKind(kind string) bool {
	return slices.ContainsFunc(p.AllowedKinds, func(k string) bool { return strings.EqualFold(k, kind) || k == "*" })
}
