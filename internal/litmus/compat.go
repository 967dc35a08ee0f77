package litmus

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// engineFields are the spec fields chaos-agent reads; how it treats the others is in
// EngineWarnings and docs/compatibility.md.
var engineSpecHonoured = map[string]bool{
	"appinfo": true, "selectors": true, "engineState": true, "chaosServiceAccount": true, "defaultHealthCheck": true,
	"auxiliaryAppInfo": true, "experiments": true,
}

// engineSpecIgnored are upstream fields that shape the runner pod or the experiment Job, which
// chaos-agent does not create (it runs experiments in-process), with the reason.
var engineSpecIgnored = map[string]string{
	"jobCleanUpPolicy": "chaos-agent creates no experiment Job to clean up",
	"terminationGracePeriodSeconds": "it is the experiment pod's grace period upstream, and chaos-agent creates no experiment pod " +
		"(victims are deleted with their own grace period, or 0 with FORCE=true)",
	"components":      "chaos-agent creates no runner pod or sidecar (components.runner, components.sidecar)",
	"annotationCheck": "a Litmus 1.x/2.x field that Litmus 3 dropped too: targets are not filtered by the litmuschaos.io/chaos annotation",
	"monitoring":      "a Litmus 1.x field: metrics come from chaos-agent's own exporter",
}

// experimentComponentsIgnored are spec.experiments[].spec.components fields that shape the
// experiment pod, which chaos-agent does not create.
var experimentComponentsIgnored = []string{"configMaps", "secrets", "experimentAnnotations", "experimentImage",
	"experimentImagePullSecrets", "nodeSelector", "resources", "tolerations", "sidecar"}

// EngineWarnings names the fields of a raw ChaosEngine object that chaos-agent does not honour,
// each with the reason; empty when everything it says is honoured. Fields chaos-agent does not
// know at all are named too.
func EngineWarnings(obj map[string]any) []string {
	spec, _ := obj["spec"].(map[string]any)
	var out []string
	for _, k := range sortedKeys(spec) {
		if engineSpecHonoured[k] {
			continue
		}
		if why, ok := engineSpecIgnored[k]; ok && why != "" {
			if k == "components" && isEmpty(spec[k]) {
				continue
			}
			out = append(out, fmt.Sprintf("spec.%s is ignored: %s", k, why))
			continue
		}
		out = append(out, fmt.Sprintf("spec.%s is not a ChaosEngine field chaos-agent knows; it is ignored", k))
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		var e ChaosEngine
		if ann, ok := md["annotations"].(map[string]any); ok {
			e.Annotations = map[string]string{}
			for k, v := range ann {
				e.Annotations[k], _ = v.(string)
			}
		}
		exps, _ := spec["experiments"].([]any)
		for _, x := range exps {
			xm, _ := x.(map[string]any)
			xs, _ := xm["spec"].(map[string]any)
			probes, _ := xs["probe"].([]any)
			var ee EngineExperiment
			for _, p := range probes {
				pm, _ := p.(map[string]any)
				name, _ := pm["name"].(string)
				ee.Spec.Probe = append(ee.Spec.Probe, Probe{Name: name})
			}
			e.Spec.Experiments = append(e.Spec.Experiments, ee)
		}
		missing, err := UnexpandedProbeRefs(&e)
		switch {
		case err != nil:
			out = append(out, "metadata.annotations."+AnnotationProbeRef+" is ignored: "+err.Error())
		case len(missing) > 0:
			out = append(out, fmt.Sprintf("metadata.annotations.%s names probe(s) %s that are not in spec.experiments[].spec.probe: "+
				"they are stored in ChaosCenter, which expands them when it sends a run; they are not run", AnnotationProbeRef, strings.Join(missing, ", ")))
		}
	}
	exps, _ := spec["experiments"].([]any)
	for i, x := range exps {
		xm, _ := x.(map[string]any)
		xs, _ := xm["spec"].(map[string]any)
		comps, _ := xs["components"].(map[string]any)
		for _, k := range experimentComponentsIgnored {
			if v, ok := comps[k]; ok && !isEmpty(v) {
				out = append(out, fmt.Sprintf("spec.experiments[%d].spec.components.%s is ignored: chaos-agent creates no experiment pod", i, k))
			}
		}
	}
	return out
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case map[string]any:
		for _, x := range t {
			if !isEmpty(x) {
				return false
			}
		}
		return true
	case []any:
		return len(t) == 0
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// UnknownEnv names the variables of an experiment's environment that the fault does not read,
// given the names it does (known); they are reported rather than silently dropped.
func UnknownEnv(names []string, known func(string) bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] || known(n) {
			continue
		}
		seen[n] = true
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// JoinWarnings is the one-line form of warnings for an Event message.
func JoinWarnings(w []string) string { return strings.Join(w, "; ") }

// AnnotationProbeRef is ChaosCenter's annotation naming the stored probes of a ChaosEngine:
// JSON [{"name": ..., "mode": ...}]. The control plane expands it into
// spec.experiments[].spec.probe before it sends a run.
const AnnotationProbeRef = "probeRef"

// ProbeRef is an entry of the probeRef annotation.
type ProbeRef struct {
	Name string    `json:"name"`
	Mode ProbeMode `json:"mode"`
}

// ProbeRefs reads the probeRef annotation (nil without it).
func ProbeRefs(annotations map[string]string) ([]ProbeRef, error) {
	v := strings.TrimSpace(annotations[AnnotationProbeRef])
	if v == "" {
		return nil, nil
	}
	var refs []ProbeRef
	if err := json.Unmarshal([]byte(v), &refs); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", AnnotationProbeRef, err)
	}
	return refs, nil
}

// UnexpandedProbeRefs names the probes the engine's probeRef annotation references that are not
// in any spec.experiments[].spec.probe: probes stored in ChaosCenter that nobody expanded.
func UnexpandedProbeRefs(e *ChaosEngine) ([]string, error) {
	refs, err := ProbeRefs(e.Annotations)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, x := range e.Spec.Experiments {
		for _, p := range x.Spec.Probe {
			have[p.Name] = true
		}
	}
	var out []string
	for _, r := range refs {
		if !have[r.Name] {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

// ExpandProbeRefs does what the control plane does before it sends a run: the probes the
// probeRef annotation names, taken from stored (by name), are added with the referenced mode to
// the probes of every experiment of the engine that lacks them. A reference to a probe that is
// not stored is an error naming it.
func ExpandProbeRefs(e *ChaosEngine, stored map[string]Probe) error {
	refs, err := ProbeRefs(e.Annotations)
	if err != nil {
		return err
	}
	for _, r := range refs {
		p, ok := stored[r.Name]
		if !ok {
			return fmt.Errorf("annotation %s names probe %q, which is not stored", AnnotationProbeRef, r.Name)
		}
		p.Mode = r.Mode
		for i := range e.Spec.Experiments {
			x := &e.Spec.Experiments[i]
			if !slices.ContainsFunc(x.Spec.Probe, func(q Probe) bool { return q.Name == r.Name }) {
				x.Spec.Probe = append(x.Spec.Probe, p)
			}
		}
	}
	return nil
}

// ExperimentWarnings names the spec.definition fields of a ChaosExperiment that would shape the
// experiment pod, which chaos-agent does not create (it runs the fault in-process). image,
// command, args, permissions and scope are not named: every ChaosHub experiment carries them,
// and what they mean (run pod-delete with these rights) is what chaos-agent does.
func ExperimentWarnings(x *ChaosExperiment) []string {
	d := x.Spec.Definition
	var out []string
	add := func(set bool, field string) {
		if set {
			out = append(out, "ChaosExperiment "+x.Name+": spec.definition."+field+" is ignored: chaos-agent creates no experiment pod")
		}
	}
	add(len(d.ConfigMaps) > 0, "configMaps")
	add(len(d.Secrets) > 0, "secrets")
	add(len(d.HostFileVolumes) > 0, "hostFileVolumes")
	add(len(d.ExperimentAnnotations) > 0, "experimentAnnotations")
	add(d.SecurityContext.PodSecurityContext != nil || d.SecurityContext.ContainerSecurityContext != nil, "securityContext")
	add(d.HostPID, "hostPID")
	return out
}
