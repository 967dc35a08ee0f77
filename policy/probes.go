package policy

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// CheckProbe checks one resilience probe of an engine in namespace engineNS before it runs:
//
//   - k8sProbe: the operation must be in allowedProbeOperations (default read-only); the
//     namespace it acts in (inputs.namespace, the created object's namespace, or the engine's)
//     must be allowed. A read without a namespace (cluster-scoped resources, or every
//     namespace) is allowed; a write without one is not.
//   - cmdProbe: without a source the command runs in the agent's own process, which needs
//     allowInlineCommands; with a source it runs in a pod in the engine's namespace, which must
//     be allowed.
//   - httpProbe: with allowedHTTPProbeURLs set, the URL must start with one of them.
func (p Policy) CheckProbe(pr litmus.Probe, engineNS string) error {
	name := pr.Name
	switch pr.Type {
	case litmus.ProbeTypeK8s:
		in := pr.K8sProbeInputs
		if in == nil {
			return nil // the probe runner reports missing inputs
		}
		op := strings.TrimSpace(string(in.Operation))
		if Templated(op) || !slices.ContainsFunc(p.AllowedProbeOperations, func(a string) bool { return a == "*" || strings.EqualFold(a, op) }) {
			return refuse("allowedProbeOperations", op, "k8sProbe %s: operation %q is not allowed (allowed: %s)", name, op, strings.Join(p.AllowedProbeOperations, ", "))
		}
		ns := strings.TrimSpace(in.Namespace)
		write := op == string(litmus.K8sOperationCreate) || op == string(litmus.K8sOperationDelete)
		if op == string(litmus.K8sOperationCreate) && ns == "" {
			var obj unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(pr.Data), &obj.Object); err != nil {
				return refuse("allowedNamespaces", "", "k8sProbe %s: the object it creates cannot be parsed: %v", name, err)
			}
			ns = obj.GetNamespace()
			if ns == "" {
				ns = engineNS
			}
		}
		if ns == "" && !write {
			return nil
		}
		if ns == "" {
			return refuse("allowedNamespaces", "", "k8sProbe %s: a %s without a namespace may act in every namespace", name, op)
		}
		return p.CheckNamespace(fmt.Sprintf("k8sProbe %s (%s %s)", name, op, in.Resource), ns)
	case litmus.ProbeTypeCmd:
		in := pr.CmdProbeInputs
		if in == nil {
			return nil
		}
		if in.Source == nil {
			if !p.AllowInlineCommands {
				return refuse("allowInlineCommands", "inline", "cmdProbe %s: an inline command would run inside chaos-agent's own process; give the probe a source (its own pod) or set allowInlineCommands: \"true\"", name)
			}
			return nil
		}
		return p.CheckNamespace(fmt.Sprintf("cmdProbe %s source pod", name), engineNS)
	case litmus.ProbeTypeHTTP:
		in := pr.HTTPProbeInputs
		if in == nil || len(p.AllowedHTTPProbeURLs) == 0 {
			return nil
		}
		u, err := url.Parse(strings.TrimSpace(in.URL))
		if err != nil || Templated(in.URL) {
			return refuse("allowedHTTPProbeURLs", in.URL, "httpProbe %s: the URL cannot be checked", name)
		}
		for _, prefix := range p.AllowedHTTPProbeURLs {
			if urlAllowed(u, prefix) {
				return nil
			}
		}
		return refuse("allowedHTTPProbeURLs", in.URL, "httpProbe %s: URL is not allowed (allowed prefixes: %s)", name, strings.Join(p.AllowedHTTPProbeURLs, ", "))
	}
	return nil
}

// urlAllowed reports whether u is under prefix: same scheme and host (port included), no
// userinfo, and a path that starts with the prefix's path.
func urlAllowed(u *url.URL, prefix string) bool {
	pu, err := url.Parse(prefix)
	if err != nil || u.User != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, pu.Scheme) && strings.EqualFold(u.Host, pu.Host) && strings.HasPrefix(u.EscapedPath(), pu.EscapedPath())
}
