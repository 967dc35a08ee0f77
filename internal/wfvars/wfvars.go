// Package wfvars resolves the Argo workflow variables that chaos Workflows from ChaosHub and
// ChaosCenter use — {{workflow.parameters.NAME}}, {{workflow.name}}, {{workflow.namespace}},
// {{workflow.uid}}, {{workflow.serviceAccountName}}, {{workflow.creationTimestamp[.X]}},
// {{workflow.labels.KEY}}, {{workflow.annotations.KEY}} and, inside a step, {{pod.name}} — in
// the places where chaos-agent itself creates Kubernetes objects from them: a Workflow's own
// metadata (which Argo never resolves), and the ChaosExperiments and ChaosEngines of its raw
// artifacts (which the native workflow engine creates without Argo). A reference that cannot
// be resolved is an error naming it; nothing unresolved reaches the API server.
package wfvars

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Vars are variable values by name ("workflow.parameters.appNamespace" → "shop").
type Vars map[string]string

// Unknown values: known to exist but not known yet (the UID before the Workflow is created).
const unknown = "\x00unknown"

// ForWorkflow returns the global variables of a Workflow (or of a CronWorkflow's workflowSpec
// with the CronWorkflow's metadata). A parameter without a value is an error naming it. The
// UID and creation timestamp are variables only once the object has them.
func ForWorkflow(meta *metav1.ObjectMeta, spec *wfv1.WorkflowSpec) (Vars, error) {
	v := Vars{
		"workflow.name":               meta.Name,
		"workflow.namespace":          meta.Namespace,
		"workflow.serviceAccountName": spec.ServiceAccountName,
		"workflow.mainEntrypoint":     spec.Entrypoint,
		"workflow.uid":                string(meta.UID),
	}
	if meta.UID == "" {
		v["workflow.uid"] = unknown
	}
	if meta.Name == "" {
		v["workflow.name"] = unknown // generateName: the name is the API server's
	}
	if !meta.CreationTimestamp.IsZero() {
		t := meta.CreationTimestamp.UTC()
		v["workflow.creationTimestamp"] = t.Format(time.RFC3339)
		v["workflow.creationTimestamp.RFC3339"] = t.Format(time.RFC3339)
		v["workflow.creationTimestamp.s"] = strconv.FormatInt(t.Unix(), 10)
		for c, layout := range map[string]string{"Y": "2006", "y": "06", "m": "01", "d": "02", "e": "_2", "H": "15", "I": "03",
			"M": "04", "S": "05", "p": "PM", "b": "Jan", "B": "January", "a": "Mon", "A": "Monday"} {
			v["workflow.creationTimestamp."+c] = t.Format(layout)
		}
		v["workflow.creationTimestamp.j"] = fmt.Sprintf("%03d", t.YearDay())
	}
	for k, val := range meta.Labels {
		v["workflow.labels."+k] = val
	}
	for k, val := range meta.Annotations {
		v["workflow.annotations."+k] = val
	}
	var missing []string
	for _, p := range spec.Arguments.Parameters {
		switch {
		case p.Value != nil:
			v["workflow.parameters."+p.Name] = p.Value.String()
		case p.Default != nil:
			v["workflow.parameters."+p.Name] = p.Default.String()
		default:
			missing = append(missing, p.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("workflow parameter(s) %s have no value (spec.arguments.parameters[].value)", strings.Join(missing, ", "))
	}
	return v, nil
}

// With returns a copy of v with more variables (a step's pod.name).
func (v Vars) With(kv ...string) Vars {
	out := make(Vars, len(v)+len(kv)/2)
	for k, val := range v {
		out[k] = val
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// UnresolvedError is a variable reference that cannot be resolved.
type UnresolvedError struct {
	Ref    string // the reference as written, "{{workflow.parameters.appNamespace}}"
	Where  string // where it was found, "metadata.labels.subject"
	Reason string
}

func (e *UnresolvedError) Error() string {
	where := ""
	if e.Where != "" {
		where = " in " + e.Where
	}
	return fmt.Sprintf("cannot resolve %s%s: %s", e.Ref, where, e.Reason)
}

// Resolve replaces every {{ variable }} of s. where names the place for errors.
func Resolve(s string, v Vars, where string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return "", &UnresolvedError{Ref: rest[i:min(len(rest), i+40)], Where: where, Reason: "the {{ has no closing }}"}
		}
		ref := rest[i : i+j+2]
		name := strings.TrimSpace(ref[2 : len(ref)-2])
		val, err := lookup(name, v)
		if err != nil {
			return "", &UnresolvedError{Ref: ref, Where: where, Reason: err.Error()}
		}
		b.WriteString(rest[:i])
		b.WriteString(val)
		rest = rest[i+j+2:]
	}
}

func lookup(name string, v Vars) (string, error) {
	if strings.HasPrefix(name, "=") {
		return "", errors.New("expressions ({{=...}}) are not supported here")
	}
	val, ok := v[name]
	switch {
	case ok && val == unknown && name == "workflow.uid":
		return "", errors.New("the Workflow's uid is only known once it is created, and Argo does not resolve its metadata")
	case ok && val == unknown:
		return "", fmt.Errorf("%s is only known once the Workflow is created", name)
	case ok:
		return val, nil
	}
	if p, found := strings.CutPrefix(name, "workflow.parameters."); found {
		return "", fmt.Errorf("the Workflow has no parameter %q (spec.arguments.parameters)", p)
	}
	if strings.HasPrefix(name, "workflow.creationTimestamp") {
		return "", errors.New("the Workflow's creation time is not known here, or the format is not supported")
	}
	if strings.HasPrefix(name, "workflow.labels.") || strings.HasPrefix(name, "workflow.annotations.") {
		return "", errors.New("the Workflow has no such label or annotation")
	}
	return "", fmt.Errorf("%s is not a variable chaos-agent resolves here (supported: %s)", name, strings.Join(Supported(), ", "))
}

// Supported lists the variables this package resolves, for messages and documentation.
func Supported() []string {
	s := []string{"workflow.parameters.NAME", "workflow.name", "workflow.namespace", "workflow.uid", "workflow.serviceAccountName",
		"workflow.mainEntrypoint", "workflow.creationTimestamp[.RFC3339|.s|.Y|.m|.d|...]", "workflow.labels.KEY", "workflow.annotations.KEY", "pod.name (in a step)"}
	sort.Strings(s)
	return s
}

// ResolveMeta resolves an object's name, generateName, namespace, labels and annotations (keys
// and values) in place.
func ResolveMeta(m *metav1.ObjectMeta, v Vars, where string) error {
	var err error
	for _, f := range []struct {
		p    *string
		name string
	}{{&m.Name, "name"}, {&m.GenerateName, "generateName"}, {&m.Namespace, "namespace"}} {
		if *f.p, err = Resolve(*f.p, v, where+"metadata."+f.name); err != nil {
			return err
		}
	}
	if m.Labels, err = resolveMap(m.Labels, v, where+"metadata.labels"); err != nil {
		return err
	}
	m.Annotations, err = resolveMap(m.Annotations, v, where+"metadata.annotations")
	return err
}

func resolveMap(in map[string]string, v Vars, where string) (map[string]string, error) {
	if in == nil {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic: the first error is always the same one
	for _, k := range keys {
		rk, err := Resolve(k, v, where)
		if err != nil {
			return nil, err
		}
		rv, err := Resolve(in[k], v, where+"."+rk)
		if err != nil {
			return nil, err
		}
		out[rk] = rv
	}
	return out, nil
}

// ResolveWorkflowMeta resolves what Argo never resolves and the API server validates: the
// Workflow's own metadata and spec.workflowMetadata's labels and annotations. Templates are
// left to Argo (or to the native engine, step by step). A Workflow without a creation time gets
// now, as the API server would give it.
func ResolveWorkflowMeta(wf *wfv1.Workflow, now time.Time) error {
	meta := wf.ObjectMeta.DeepCopy()
	if meta.CreationTimestamp.IsZero() {
		meta.CreationTimestamp = metav1.NewTime(now)
	}
	v, err := ForWorkflow(meta, &wf.Spec)
	if err != nil {
		return err
	}
	if err := ResolveMeta(&wf.ObjectMeta, v, ""); err != nil {
		return err
	}
	if wm := wf.Spec.WorkflowMetadata; wm != nil {
		if wm.Labels, err = resolveMap(wm.Labels, v, "spec.workflowMetadata.labels"); err != nil {
			return err
		}
		if wm.Annotations, err = resolveMap(wm.Annotations, v, "spec.workflowMetadata.annotations"); err != nil {
			return err
		}
	}
	return nil
}

// ResolveCronWorkflowMeta resolves a CronWorkflow's own metadata and its workflowMetadata with
// the variables of its workflowSpec (the spawned Workflows' names are Argo's).
func ResolveCronWorkflowMeta(cwf *wfv1.CronWorkflow, now time.Time) error {
	meta := cwf.ObjectMeta.DeepCopy()
	if meta.CreationTimestamp.IsZero() {
		meta.CreationTimestamp = metav1.NewTime(now)
	}
	v, err := ForWorkflow(meta, &cwf.Spec.WorkflowSpec)
	if err != nil {
		return err
	}
	if err := ResolveMeta(&cwf.ObjectMeta, v, ""); err != nil {
		return err
	}
	if wm := cwf.Spec.WorkflowMetadata; wm != nil {
		v["workflow.name"] = unknown // each spawned Workflow's
		v["workflow.uid"] = unknown
		if wm.Labels, err = resolveMap(wm.Labels, v, "spec.workflowMetadata.labels"); err != nil {
			return err
		}
		if wm.Annotations, err = resolveMap(wm.Annotations, v, "spec.workflowMetadata.annotations"); err != nil {
			return err
		}
	}
	return nil
}

// CheckTemplates reports the first reference in the Workflow's raw artifacts and container
// command lines that would never resolve (an undefined parameter, an unsupported variable),
// before anything is created. Variables known only at run time (uid, name, pod.name) pass.
func CheckTemplates(spec *wfv1.WorkflowSpec, v Vars) error {
	check := v.With("pod.name", "x")
	for k, val := range check {
		if val == unknown {
			check[k] = "x"
		}
	}
	if check["workflow.uid"] == "" {
		check["workflow.uid"] = "x"
	}
	for _, t := range spec.Templates {
		for _, a := range t.Inputs.Artifacts {
			if a.Raw == nil {
				continue
			}
			if _, err := Resolve(a.Raw.Data, check, fmt.Sprintf("template %s, artifact %s", t.Name, a.Name)); err != nil {
				return err
			}
		}
		if t.Container != nil {
			for _, s := range append(append([]string{}, t.Container.Command...), t.Container.Args...) {
				if _, err := Resolve(s, check, fmt.Sprintf("template %s, container command", t.Name)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
