// Package policy is the cluster owner's policy (ConfigMap chaos-agent-policy): loading it,
// watching it, and evaluating actions, engines and probes against it. The subscriber applies it
// early to control-plane actions; the executor and the probe checks apply it again at run time,
// on fully resolved inputs, whatever the engine's source.
package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/kube"
)

// ConfigMapName is the cluster owner's policy, which the agent enforces on every action
// whatever the control plane says.
const ConfigMapName = "chaos-agent-policy"

// DefaultLinkLossTimeout is how long a configured control-plane link may be down before running
// faults stop and new ones are refused.
const DefaultLinkLossTimeout = 60 * time.Second

// Policy is what the cluster owner allows. Its ConfigMap keys:
//
//	allowedNamespaces:      comma list; objects may only be applied there, and faults and probes
//	                        may only act there ("*": anywhere; default: the agent's namespace)
//	allowedKinds:           comma list of kinds that may be applied (default: Workflow,CronWorkflow)
//	maxPodsAffectedPerc:    the highest PODS_AFFECTED_PERC an experiment may ask for (default: 100)
//	killSwitch:             "true" refuses every new run and stops the active ones (alias: haltAll)
//	allowedProbeOperations: comma list of k8sProbe operations (default: present,absent: read-only)
//	allowInlineCommands:    "true" lets cmdProbes without a source run their command in the
//	                        agent's process (default: false under serve, true under run)
//	allowedHTTPProbeURLs:   comma list of URL prefixes httpProbes may call (default: any)
//	linkLossTimeout:        seconds without a live control-plane link after which running faults
//	                        stop and new ones are refused (default: 60; 0 disables)
//
// and the Argo keys of ArgoPolicy.
type Policy struct {
	// Found is false when the ConfigMap does not exist and the defaults apply.
	Found                  bool
	AllowedNamespaces      []string
	AllowedKinds           []string
	MaxPodsAffectedPerc    int
	KillSwitch             bool
	AllowedProbeOperations []string
	AllowInlineCommands    bool
	AllowedHTTPProbeURLs   []string
	LinkLossTimeout        time.Duration
	// Argo is what the pods of Workflows from the control plane may be (argo.go).
	Argo ArgoPolicy
}

// Defaults are the values that apply where the ConfigMap is silent. They depend on how the agent
// runs: `serve` is a service acting for a remote control plane, `run` a user's own command.
type Defaults struct {
	// Namespaces allowed without an allowedNamespaces key; empty means the ConfigMap's namespace.
	Namespaces []string
	// AllowInlineCommands without an allowInlineCommands key.
	AllowInlineCommands bool
	// Optional: without the ConfigMap everything is allowed (`run` on a user's own machine
	// enforces a policy only when the cluster has one).
	Optional bool
}

// Source reads the policy ConfigMap.
type Source struct {
	kube      kube.Interface
	namespace string
	name      string
	defaults  Defaults
}

// NewSource reads the policy from ConfigMap namespace/name.
func NewSource(kube kube.Interface, namespace, name string, d Defaults) *Source {
	return &Source{kube: kube, namespace: namespace, name: name, defaults: d}
}

// Namespace is where the ConfigMap is read.
func (s *Source) Namespace() string { return s.namespace }

// Get returns the current policy; without the ConfigMap, the defaults. An invalid policy is
// returned as an error together with a policy that refuses everything (fail closed).
func (s *Source) Get(ctx context.Context) (Policy, error) {
	cm, err := s.kube.CoreV1().ConfigMaps(s.namespace).Get(ctx, s.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Parse(nil, false, s.namespace, s.defaults)
	}
	if err != nil {
		return closed(), fmt.Errorf("read policy %s/%s: %w", s.namespace, s.name, err)
	}
	return Parse(cm.Data, true, s.namespace, s.defaults)
}

// closed is the policy that allows nothing.
func closed() Policy {
	return Policy{Found: true, KillSwitch: true, LinkLossTimeout: DefaultLinkLossTimeout}
}

// Parse builds a policy from a ConfigMap's data (found: the ConfigMap exists). A broken policy
// must not widen what is allowed: any invalid key yields an error and a policy that refuses
// everything until it is fixed.
func Parse(data map[string]string, found bool, namespace string, d Defaults) (Policy, error) {
	pol := Policy{
		Found:                  found,
		AllowedNamespaces:      d.Namespaces,
		AllowedKinds:           []string{"Workflow", "CronWorkflow"},
		MaxPodsAffectedPerc:    100,
		AllowedProbeOperations: []string{"present", "absent"},
		AllowInlineCommands:    d.AllowInlineCommands,
		LinkLossTimeout:        DefaultLinkLossTimeout,
	}
	if len(pol.AllowedNamespaces) == 0 {
		pol.AllowedNamespaces = []string{namespace}
	}
	pol.Argo, _ = ParseArgoPolicy(nil)
	if !found && d.Optional {
		pol.AllowedNamespaces, pol.AllowedKinds, pol.AllowedProbeOperations, pol.AllowInlineCommands = []string{"*"}, []string{"*"}, []string{"*"}, true
		return pol, nil
	}
	var errs []error
	if v := list(data["allowedNamespaces"]); len(v) > 0 {
		pol.AllowedNamespaces = v
	}
	if v := list(data["allowedKinds"]); len(v) > 0 {
		pol.AllowedKinds = v
	}
	if v := strings.TrimSpace(data["maxPodsAffectedPerc"]); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 100 {
			errs = append(errs, fmt.Errorf("maxPodsAffectedPerc %q is not 0-100", v))
		}
		pol.MaxPodsAffectedPerc = n
	}
	for _, key := range []string{"killSwitch", "haltAll"} {
		if v := strings.TrimSpace(data[key]); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s %q is not a boolean", key, v))
			}
			pol.KillSwitch = pol.KillSwitch || b
		}
	}
	if v := list(data["allowedProbeOperations"]); len(v) > 0 {
		for _, op := range v {
			if !slices.Contains([]string{"present", "absent", "create", "delete", "*"}, op) {
				errs = append(errs, fmt.Errorf("allowedProbeOperations: %q is not a k8sProbe operation (present, absent, create, delete)", op))
			}
		}
		pol.AllowedProbeOperations = v
	}
	if v := strings.TrimSpace(data["allowInlineCommands"]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("allowInlineCommands %q is not a boolean", v))
		}
		pol.AllowInlineCommands = b
	}
	pol.AllowedHTTPProbeURLs = list(data["allowedHTTPProbeURLs"])
	if v := strings.TrimSpace(data["linkLossTimeout"]); v != "" {
		d, err := ParseSeconds(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("linkLossTimeout %q: %w", v, err))
		}
		pol.LinkLossTimeout = d
	}
	argo, err := ParseArgoPolicy(data)
	if err != nil {
		errs = append(errs, err)
	}
	pol.Argo = argo
	if err := errors.Join(errs...); err != nil {
		return closed(), fmt.Errorf("policy %s: %w", ConfigMapName, err)
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

// AllowsNamespace reports whether objects may be applied, and faults act, in ns.
func (p Policy) AllowsNamespace(ns string) bool {
	return slices.Contains(p.AllowedNamespaces, ns) || slices.Contains(p.AllowedNamespaces, "*")
}

// AllowsKind reports whether objects of kind may be applied.
func (p Policy) AllowsKind(kind string) bool {
	return slices.ContainsFunc(p.AllowedKinds, func(k string) bool { return strings.EqualFold(k, kind) || k == "*" })
}

// Refusal is a refusal by the cluster owner's policy: the rule (the policy key, or the check)
// and the value that broke it.
type Refusal struct {
	Rule   string // e.g. allowedNamespaces, maxPodsAffectedPerc, allowInlineCommands
	Value  string // the offending value, e.g. the namespace
	Reason string // a sentence for people
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("refused by the cluster policy (rule %s, value %q): %s", r.Rule, r.Value, r.Reason)
}

// IsRefusal reports whether err is (or wraps) a policy refusal.
func IsRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

func refuse(rule, value, format string, args ...any) *Refusal {
	if len(value) > 120 { // values come from input: keep failSteps and events bounded
		value = value[:120] + "…"
	}
	return &Refusal{Rule: rule, Value: value, Reason: fmt.Sprintf(format, args...)}
}

// CheckNamespace refuses ns unless it is allowed; what names the source ("target of selectors.workloads[0]").
func (p Policy) CheckNamespace(what, ns string) error {
	if Templated(ns) {
		return refuse("allowedNamespaces", ns, "%s: the namespace is still templated", what)
	}
	if !p.AllowsNamespace(ns) {
		return refuse("allowedNamespaces", ns, "%s: namespace %q is not allowed (allowed: %s)", what, ns, strings.Join(p.AllowedNamespaces, ", "))
	}
	return nil
}

// CheckKillSwitch refuses every new run while the kill switch is on.
func (p Policy) CheckKillSwitch() error {
	if p.KillSwitch {
		return refuse("killSwitch", "true", "the kill switch is on: no new chaos starts")
	}
	return nil
}

// CheckPodsAffectedPerc checks a PODS_AFFECTED_PERC value ("50" or a range "25-50") against
// maxPodsAffectedPerc. An empty value is the fault's default (100% of one pod's worth: the
// fault always deletes at least one pod), which is allowed. Unparsable or templated values are
// refused.
func (p Policy) CheckPodsAffectedPerc(value string) error {
	v := strings.TrimSpace(value)
	if v == "" {
		return nil
	}
	if Templated(v) {
		return refuse("maxPodsAffectedPerc", v, "PODS_AFFECTED_PERC is still templated")
	}
	hi := v
	if lo, after, ok := strings.Cut(v, "-"); ok {
		if _, err := strconv.Atoi(strings.TrimSpace(lo)); err != nil {
			return refuse("maxPodsAffectedPerc", v, "PODS_AFFECTED_PERC=%q is not a whole number or a range like 25-50", v)
		}
		hi = after
	}
	n, err := strconv.Atoi(strings.TrimSpace(hi))
	if err != nil {
		return refuse("maxPodsAffectedPerc", v, "PODS_AFFECTED_PERC=%q is not a whole number or a range like 25-50", v)
	}
	if n > p.MaxPodsAffectedPerc {
		return refuse("maxPodsAffectedPerc", v, "PODS_AFFECTED_PERC=%s is above the allowed %d", v, p.MaxPodsAffectedPerc)
	}
	return nil
}

// Templated reports whether a value still holds an unsubstituted template ({{ ... }}), which
// cannot be checked and is refused.
func Templated(v string) bool {
	return strings.Contains(v, "{{")
}

// ParseSeconds parses whole seconds ("30") or a Go duration ("1m30s") with overflow checks.
func ParseSeconds(v string) (time.Duration, error) {
	return ParseDuration(v, MaxDuration)
}

// MaxDuration bounds every duration the agent accepts from input: one year.
const MaxDuration = 366 * 24 * time.Hour

// ParseDuration parses whole seconds ("30") or a Go duration ("1m30s", "500ms"): never negative,
// never above limit, never overflowing.
func ParseDuration(v string, limit time.Duration) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > int64(limit/time.Second) {
			return 0, fmt.Errorf("%s seconds is above the limit of %s", v, limit)
		}
		if n < 0 {
			return 0, errors.New("must not be negative")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		if strings.Contains(err.Error(), "invalid duration") && strings.TrimLeft(v, "0123456789.") != v {
			return 0, fmt.Errorf("%q is not a number of seconds or a duration like 10s (or it is out of range)", v)
		}
		return 0, errors.New("not a number of seconds or a duration like 10s")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	if d > limit {
		return 0, fmt.Errorf("%s is above the limit of %s", d, limit)
	}
	return d, nil
}
