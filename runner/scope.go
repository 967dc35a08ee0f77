package runner

import (
	"context"
	"fmt"
	"sort"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/executor/target"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	"github.com/chaos-agent/chaos-agent/internal/wfvars"
)

// RunLabel marks the ChaosEngines one `run` creates; its executor runs only those.
const RunLabel = "chaos-agent.io/run"

// AccessChecker asks the API server whether the user may do something
// (authorizationv1.SelfSubjectAccessReviewInterface satisfies it).
type AccessChecker interface {
	Create(ctx context.Context, r *authv1.SelfSubjectAccessReview, o metav1.CreateOptions) (*authv1.SelfSubjectAccessReview, error)
}

// Scope is the namespace `run`'s executor watches: "" (every namespace) when the user may list
// and watch what target selection reads cluster-wide, so that an engine in the chaos namespace
// may target an application in another (admin mode); else the one namespace the file's engines
// and targets share. What the chaos itself may touch is bounded by RBAC: the chaos service
// account each engine names, impersonated with the user's credentials.
func Scope(ctx context.Context, access AccessChecker, m *Manifests) (string, error) {
	namespaces := Namespaces(m)
	if access == nil {
		if len(namespaces) == 1 {
			return namespaces[0], nil
		}
		return "", nil
	}
	var missing []string
	for _, ra := range []authv1.ResourceAttributes{
		{Verb: "list", Resource: "pods"}, {Verb: "watch", Resource: "pods"},
		{Verb: "list", Group: "apps", Resource: "replicasets"}, {Verb: "watch", Group: "apps", Resource: "replicasets"},
		{Verb: "list", Group: litmus.GroupVersion().Group, Resource: litmus.ChaosEngineGVR().Resource},
		{Verb: "watch", Group: litmus.GroupVersion().Group, Resource: litmus.ChaosEngineGVR().Resource},
		{Verb: "list", Group: litmus.GroupVersion().Group, Resource: litmus.ChaosResultGVR().Resource},
		{Verb: "watch", Group: litmus.GroupVersion().Group, Resource: litmus.ChaosResultGVR().Resource},
	} {
		r, err := access.Create(ctx, &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &ra}}, metav1.CreateOptions{})
		if err != nil {
			return "", fmt.Errorf("ask the API server what your kubeconfig may do: %w", err)
		}
		if !r.Status.Allowed {
			missing = append(missing, ra.Verb+" "+strings.TrimPrefix(ra.Group+"/"+ra.Resource, "/"))
		}
	}
	if len(missing) == 0 {
		return "", nil
	}
	if len(namespaces) == 1 {
		return namespaces[0], nil
	}
	return "", fmt.Errorf("the engines and their targets span namespaces %s, and your kubeconfig may not %s in all namespaces, which run needs to watch them",
		strings.Join(namespaces, ", "), strings.Join(missing, ", "))
}

// Namespaces lists, sorted, the namespaces a file's engines live in and target (for a
// Workflow: as its steps would create them).
func Namespaces(m *Manifests) []string {
	set := map[string]bool{}
	addEngine := func(e *litmus.ChaosEngine) {
		set[e.Namespace] = true
		entries, err := target.FromEngine(e)
		if err != nil {
			return
		}
		for _, en := range entries {
			if en.Namespace != "" {
				set[en.Namespace] = true
			}
		}
	}
	for _, e := range m.Engines {
		addEngine(e)
	}
	for _, wf := range m.Workflows {
		set[workflowNamespace(wf)] = true
		for _, e := range workflowEngines(wf) {
			if e.Namespace == "" {
				e.Namespace = workflowNamespace(wf)
			}
			addEngine(e)
		}
	}
	delete(set, "")
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// workflowEngines returns the ChaosEngines of a Workflow's fault steps, resolved with what is
// known before the run (the run's uid and pod names are placeholders).
func workflowEngines(wf *wfv1.Workflow) []*litmus.ChaosEngine {
	vars, err := wfvars.ForWorkflow(&wf.ObjectMeta, &wf.Spec)
	if err != nil {
		return nil
	}
	vars = vars.With("workflow.uid", "uid", "pod.name", "pod", "workflow.name", wf.Name+"x")
	var out []*litmus.ChaosEngine
	for _, t := range wf.Spec.Templates {
		for _, a := range t.Inputs.Artifacts {
			if a.Raw == nil {
				continue
			}
			data, err := wfvars.Resolve(a.Raw.Data, vars, "")
			if err != nil {
				continue
			}
			var e litmus.ChaosEngine
			if yaml.Unmarshal([]byte(data), &e) == nil && e.Kind == litmus.KindChaosEngine {
				out = append(out, &e)
			}
		}
	}
	return out
}
