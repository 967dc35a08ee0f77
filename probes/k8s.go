package probes

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// evalK8s evaluates a k8sProbe (§6.4).
func (s *Session) evalK8s(ctx context.Context, ev *evaluation, data map[string]artifactData) (string, *litmus.Error) {
	p := ev.p
	in := p.spec.K8sProbeInputs
	fieldSel, err := render(p.fieldSelTmpl, in.FieldSelector, data)
	if err != nil {
		return "", p.templateError(err)
	}
	labelSel, err := render(p.labelSelTmpl, in.LabelSelector, data)
	if err != nil {
		return "", p.templateError(err)
	}
	names, err := render(p.resourceNameTmpl, in.ResourceNames, data)
	if err != nil {
		return "", p.templateError(err)
	}
	q := k8sQuery{
		ns:       strings.TrimSpace(in.Namespace),
		names:    splitNames(names),
		selector: metav1.ListOptions{FieldSelector: strings.TrimSpace(fieldSel), LabelSelector: strings.TrimSpace(labelSel)},
	}
	return s.retry(ctx, p, func(ctx context.Context) (string, *litmus.Error) {
		if lerr := ev.tryK8s(ctx, q); lerr != nil {
			return "", lerr
		}
		return fmt.Sprintf("Probe successfully performed the '%s' operation on the specified Kubernetes resource", in.Operation), nil
	})
}

type k8sQuery struct {
	ns       string
	names    []string
	selector metav1.ListOptions
}

// where describes the resources addressed, for messages.
func (q k8sQuery) where(p *probe) string {
	var parts []string
	if q.selector.LabelSelector != "" {
		parts = append(parts, "labelSelector "+q.selector.LabelSelector)
	}
	if q.selector.FieldSelector != "" {
		parts = append(parts, "fieldSelector "+q.selector.FieldSelector)
	}
	w := p.gvr.String()
	if len(parts) > 0 {
		w += " matching " + strings.Join(parts, ", ")
	}
	if q.ns == "" {
		return w + " in all namespaces"
	}
	return w + " in namespace " + q.ns
}

func splitNames(s string) []string {
	var out []string
	for n := range strings.SplitSeq(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// tryK8s performs the operation once. Compatibility rules (§6.4): create API error =
// FAILURE; delete: missing named resource or empty selection = ERROR, delete error =
// FAILURE; present: missing named resource = ERROR, empty selection = FAILURE; absent:
// found = FAILURE.
func (ev *evaluation) tryK8s(ctx context.Context, q k8sQuery) *litmus.Error {
	p, s := ev.p, ev.s
	ri := s.run.Dynamic.Resource(p.gvr)
	res := ri.Namespace(q.ns)
	const (
		errCode  = litmus.ErrorCodeK8sProbeError
		failCode = litmus.ErrorCodeK8sProbeFailure
	)
	switch op := p.spec.K8sProbeInputs.Operation; op {
	case litmus.K8sOperationCreate:
		obj := p.manifest.DeepCopy()
		ns := q.ns
		if ns == "" {
			ns = obj.GetNamespace()
		}
		if ns == "" {
			ns = s.defaultNamespace(p)
		}
		obj.SetNamespace(ns)
		if _, err := ri.Namespace(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			return p.errorf(failCode, "create %s %q in namespace %q: %w", p.gvr, obj.GetName(), ns, err)
		}
		ev.logComparison("created", nil)
	case litmus.K8sOperationDelete:
		if len(q.names) > 0 {
			for _, name := range q.names {
				if _, err := res.Get(ctx, name, metav1.GetOptions{}); err != nil {
					return p.errorf(errCode, "get %s %q%s: %w", p.gvr, name, inNS(q.ns), err)
				}
				if err := res.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
					return p.errorf(failCode, "delete %s %q%s: %w", p.gvr, name, inNS(q.ns), err)
				}
			}
			return nil
		}
		list, err := res.List(ctx, q.selector)
		if err != nil {
			return p.errorf(errCode, "list %s: %w", q.where(p), err)
		}
		if len(list.Items) == 0 {
			return p.errorf(errCode, "no resource found to delete: %s", q.where(p))
		}
		for _, item := range list.Items {
			if err := ri.Namespace(item.GetNamespace()).Delete(ctx, item.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return p.errorf(failCode, "delete %s %q%s: %w", p.gvr, item.GetName(), inNS(item.GetNamespace()), err)
			}
		}
	case litmus.K8sOperationPresent:
		if len(q.names) > 0 {
			for _, name := range q.names {
				if _, err := res.Get(ctx, name, metav1.GetOptions{}); err != nil {
					// Upstream compatibility: a missing named resource is an error, not a failure.
					return p.errorf(errCode, "get %s %q%s: %w", p.gvr, name, inNS(q.ns), err)
				}
			}
			ev.logComparison("present", nil)
			return nil
		}
		n, lerr := count(ctx, res, q, p)
		if lerr != nil {
			return lerr
		}
		if n == 0 {
			err := fmt.Errorf("no resource found: %s", q.where(p))
			ev.logComparison("0 resources", err)
			return p.errorf(failCode, "%v", err)
		}
		ev.logComparison(fmt.Sprintf("%d resources", n), nil)
	case litmus.K8sOperationAbsent:
		if len(q.names) > 0 {
			for _, name := range q.names {
				_, err := res.Get(ctx, name, metav1.GetOptions{})
				switch {
				case apierrors.IsNotFound(err):
				case err != nil:
					return p.errorf(errCode, "get %s %q%s: %w", p.gvr, name, inNS(q.ns), err)
				default:
					ferr := fmt.Errorf("%s %q%s is present, expected it to be absent", p.gvr, name, inNS(q.ns))
					ev.logComparison("present", ferr)
					return p.errorf(failCode, "%v", ferr)
				}
			}
			ev.logComparison("absent", nil)
			return nil
		}
		n, lerr := count(ctx, res, q, p)
		if lerr != nil {
			return lerr
		}
		if n > 0 {
			ferr := fmt.Errorf("%d resources present, expected none: %s", n, q.where(p))
			ev.logComparison(fmt.Sprintf("%d resources", n), ferr)
			return p.errorf(failCode, "%v", ferr)
		}
		ev.logComparison("0 resources", nil)
	default:
		return p.errorf(errCode, "k8sProbe operation %q is not supported", op)
	}
	return nil
}

func count(ctx context.Context, res dynamic.ResourceInterface, q k8sQuery, p *probe) (int, *litmus.Error) {
	list, err := res.List(ctx, q.selector)
	if err != nil {
		return 0, p.errorf(litmus.ErrorCodeK8sProbeError, "list %s: %w", q.where(p), err)
	}
	return len(list.Items), nil
}

func inNS(ns string) string {
	if ns == "" {
		return ""
	}
	return " in namespace " + ns
}

// defaultNamespace is where a k8sProbe create puts an object whose probe and manifest name
// no namespace: the chaos namespace for namespaced resources (per discovery, or when
// discovery is unavailable), none for cluster-scoped ones.
func (s *Session) defaultNamespace(p *probe) string {
	if s.run.Kube == nil {
		return s.run.Namespace
	}
	list, err := s.run.Kube.Discovery().ServerResourcesForGroupVersion(p.gvr.GroupVersion().String())
	if err != nil {
		return s.run.Namespace
	}
	for _, r := range list.APIResources {
		if r.Name == p.gvr.Resource {
			if r.Namespaced {
				return s.run.Namespace
			}
			return ""
		}
	}
	return s.run.Namespace
}
