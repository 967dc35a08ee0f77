package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// This file is the Argo part of the cluster owner's policy: what the pods of a Workflow from the
// control plane may be. Its keys are parsed with the others (Policy.Argo); the subscriber checks
// every Workflow and CronWorkflow it creates or updates.

// DefaultWorkflowServiceAccount is the service account ChaosCenter's Workflows run as, and the
// workflow-controller's default for Workflows that name none (the install's workflowDefaults).
const DefaultWorkflowServiceAccount = "argo-chaos"

// ArgoPolicy is the Argo part of the policy ConfigMap. Its keys:
//
//	allowedWorkflowServiceAccounts: comma list of service accounts Workflow pods may run as
//	                                (default: argo-chaos); never the agent's own
//	allowPodSpecPatch:              "true" allows podSpecPatch (default false)
//	allowHostPath:                  "true" allows hostPath volumes (default false)
//	allowHostNamespaces:            "true" allows hostNetwork (hostPID and hostIPC can only come
//	                                through podSpecPatch) (default false)
//	allowPrivileged:                "true" allows privileged containers, added capabilities and
//	                                privilege escalation (default false)
//	allowTemplateRefs:              "true" allows workflowTemplateRef and templateRef, whose
//	                                content the agent cannot see when it applies (default false)
type ArgoPolicy struct {
	AllowedServiceAccounts []string
	AllowPodSpecPatch      bool
	AllowHostPath          bool
	AllowHostNamespaces    bool
	AllowPrivileged        bool
	AllowTemplateRefs      bool
}

// ParseArgoPolicy reads the Argo keys of the policy ConfigMap's data (nil: no ConfigMap). A value
// that does not parse is an error; the caller then refuses Workflows (fail closed).
func ParseArgoPolicy(data map[string]string) (ArgoPolicy, error) {
	p := ArgoPolicy{AllowedServiceAccounts: []string{DefaultWorkflowServiceAccount}}
	if v := list(data["allowedWorkflowServiceAccounts"]); len(v) > 0 {
		p.AllowedServiceAccounts = v
	}
	var errs []error
	for key, dst := range map[string]*bool{
		"allowPodSpecPatch": &p.AllowPodSpecPatch, "allowHostPath": &p.AllowHostPath, "allowHostNamespaces": &p.AllowHostNamespaces,
		"allowPrivileged": &p.AllowPrivileged, "allowTemplateRefs": &p.AllowTemplateRefs,
	} {
		v := strings.TrimSpace(data[key])
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not a boolean", key, v))
			continue
		}
		*dst = b
	}
	return p, errors.Join(errs...)
}

// CheckWorkflow refuses a Workflow or CronWorkflow whose pods would run as agentSA or as a
// service account outside the allow-list, or that asks for podSpecPatch, hostPath volumes, host
// namespaces, privileged containers or template references the policy does not allow — in any
// template: templateDefaults, steps' and DAG tasks' inline templates, containerSets, init
// containers and sidecars. Other kinds pass. A manifest that does not decode is refused.
func CheckWorkflow(p ArgoPolicy, agentSA string, obj *unstructured.Unstructured) error {
	var spec *wfv1.WorkflowSpec
	switch obj.GetKind() {
	case "Workflow":
		var wf wfv1.Workflow
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &wf); err != nil {
			return fmt.Errorf("not a valid Workflow: %w", err)
		}
		spec = &wf.Spec
	case "CronWorkflow":
		var cwf wfv1.CronWorkflow
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &cwf); err != nil {
			return fmt.Errorf("not a valid CronWorkflow: %w", err)
		}
		spec = &cwf.Spec.WorkflowSpec
	default:
		return nil
	}
	c := &wfCheck{p: p, agentSA: agentSA}
	c.serviceAccount("spec.serviceAccountName", spec.ServiceAccountName, true)
	if spec.Executor != nil {
		c.serviceAccount("spec.executor.serviceAccountName", spec.Executor.ServiceAccountName, false)
	}
	if gc := spec.ArtifactGC; gc != nil {
		c.serviceAccount("spec.artifactGC.serviceAccountName", gc.ServiceAccountName, false)
		c.podSpecPatch("spec.artifactGC.podSpecPatch", gc.PodSpecPatch)
	}
	c.podSpecPatch("spec.podSpecPatch", spec.PodSpecPatch)
	c.volumes("spec.volumes", spec.Volumes)
	if spec.HostNetwork != nil && *spec.HostNetwork && !p.AllowHostNamespaces {
		c.refuse("allowHostNamespaces", "spec.hostNetwork", "spec.hostNetwork is true (policy key allowHostNamespaces)")
	}
	if spec.WorkflowTemplateRef != nil && !p.AllowTemplateRefs {
		c.refuse("allowTemplateRefs", spec.WorkflowTemplateRef.Name, "spec.workflowTemplateRef %q: the referenced template cannot be checked (policy key allowTemplateRefs)", spec.WorkflowTemplateRef.Name)
	}
	if spec.TemplateDefaults != nil {
		c.template("spec.templateDefaults", spec.TemplateDefaults)
	}
	for i := range spec.Templates {
		c.template(fmt.Sprintf("template %q", spec.Templates[i].Name), &spec.Templates[i])
	}
	for name, h := range spec.Hooks {
		c.templateRef(fmt.Sprintf("hook %q", name), h.TemplateRef)
	}
	return errors.Join(c.errs...)
}

type wfCheck struct {
	p       ArgoPolicy
	agentSA string
	errs    []error
}

func (c *wfCheck) refuse(rule, value, format string, a ...any) {
	c.errs = append(c.errs, refuse(rule, value, format, a...))
}

// serviceAccount checks one serviceAccountName; an empty one is the controller's default
// (argo-chaos in the install) where defaulted, else inherited, so it passes.
func (c *wfCheck) serviceAccount(where, sa string, defaulted bool) {
	if sa == "" {
		if !defaulted {
			return
		}
		sa = DefaultWorkflowServiceAccount
	}
	switch {
	case c.agentSA != "" && sa == c.agentSA:
		c.refuse("allowedWorkflowServiceAccounts", sa, "%s %q is the agent's own service account", where, sa)
	case !slices.Contains(c.p.AllowedServiceAccounts, sa):
		c.refuse("allowedWorkflowServiceAccounts", sa, "%s %q is not allowed (policy key allowedWorkflowServiceAccounts: %s)", where, sa, strings.Join(c.p.AllowedServiceAccounts, ", "))
	}
}

func (c *wfCheck) podSpecPatch(where, patch string) {
	if strings.TrimSpace(patch) != "" && !c.p.AllowPodSpecPatch {
		c.refuse("allowPodSpecPatch", where, "%s is set (policy key allowPodSpecPatch)", where)
	}
}

func (c *wfCheck) volumes(where string, vols []corev1.Volume) {
	for _, v := range vols {
		if v.HostPath != nil && !c.p.AllowHostPath {
			c.refuse("allowHostPath", where, "%s: volume %q is a hostPath (%s) (policy key allowHostPath)", where, v.Name, v.HostPath.Path)
		}
	}
}

func (c *wfCheck) container(where string, sc *corev1.SecurityContext) {
	if sc == nil || c.p.AllowPrivileged {
		return
	}
	if sc.Privileged != nil && *sc.Privileged {
		c.refuse("allowPrivileged", where, "%s is privileged (policy key allowPrivileged)", where)
	}
	if sc.Capabilities != nil && len(sc.Capabilities.Add) > 0 {
		c.refuse("allowPrivileged", where, "%s adds capabilities %v (policy key allowPrivileged)", where, sc.Capabilities.Add)
	}
	if sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
		c.refuse("allowPrivileged", where, "%s allows privilege escalation (policy key allowPrivileged)", where)
	}
}

func (c *wfCheck) templateRef(where string, ref *wfv1.TemplateRef) {
	if ref != nil && !c.p.AllowTemplateRefs {
		c.refuse("allowTemplateRefs", where, "%s: templateRef %s/%s cannot be checked (policy key allowTemplateRefs)", where, ref.Name, ref.Template)
	}
}

// template checks one template and the inline templates of its steps and DAG tasks.
func (c *wfCheck) template(where string, t *wfv1.Template) {
	c.serviceAccount(where+": serviceAccountName", t.ServiceAccountName, false)
	if t.Executor != nil {
		c.serviceAccount(where+": executor.serviceAccountName", t.Executor.ServiceAccountName, false)
	}
	c.podSpecPatch(where+": podSpecPatch", t.PodSpecPatch)
	c.volumes(where, t.Volumes)
	if t.Container != nil {
		c.container(where+": container", t.Container.SecurityContext)
	}
	if t.Script != nil {
		c.container(where+": script", t.Script.SecurityContext)
	}
	if t.ContainerSet != nil {
		for _, n := range t.ContainerSet.Containers {
			c.container(fmt.Sprintf("%s: containerSet container %q", where, n.Name), n.SecurityContext)
		}
	}
	for _, u := range t.InitContainers {
		c.container(fmt.Sprintf("%s: init container %q", where, u.Name), u.SecurityContext)
	}
	for _, u := range t.Sidecars {
		c.container(fmt.Sprintf("%s: sidecar %q", where, u.Name), u.SecurityContext)
	}
	for i, par := range t.Steps {
		for j := range par.Steps {
			st := &par.Steps[j]
			c.templateRef(fmt.Sprintf("%s: step %q", where, st.Name), st.TemplateRef)
			if st.Inline != nil {
				c.template(fmt.Sprintf("%s: step %d/%q inline", where, i, st.Name), st.Inline)
			}
			for name, h := range st.Hooks {
				c.templateRef(fmt.Sprintf("%s: step %q hook %q", where, st.Name, name), h.TemplateRef)
			}
		}
	}
	if t.DAG != nil {
		for k := range t.DAG.Tasks {
			task := &t.DAG.Tasks[k]
			c.templateRef(fmt.Sprintf("%s: task %q", where, task.Name), task.TemplateRef)
			if task.Inline != nil {
				c.template(fmt.Sprintf("%s: task %q inline", where, task.Name), task.Inline)
			}
			for name, h := range task.Hooks {
				c.templateRef(fmt.Sprintf("%s: task %q hook %q", where, task.Name, name), h.TemplateRef)
			}
		}
	}
}
