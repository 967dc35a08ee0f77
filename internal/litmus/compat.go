package litmus

import (
	"fmt"
	"sort"
	"strings"
)

// engineFields are the spec fields chaos-agent reads; how it treats the others is in
// EngineWarnings and docs/compatibility.md.
var engineSpecHonoured = map[string]bool{
	"appinfo": true, "selectors": true, "engineState": true, "chaosServiceAccount": true, "defaultHealthCheck": true,
	"auxiliaryAppInfo": true, "terminationGracePeriodSeconds": true, "experiments": true,
}

// engineSpecIgnored are upstream fields that shape the runner pod or the experiment Job, which
// chaos-agent does not create (it runs experiments in-process), with the reason.
var engineSpecIgnored = map[string]string{
	"jobCleanUpPolicy": "chaos-agent creates no experiment Job to clean up",
	"components":       "chaos-agent creates no runner pod or sidecar (components.runner, components.sidecar)",
	"annotationCheck":  "a Litmus 1.x/2.x field that Litmus 3 dropped too: targets are not filtered by the litmuschaos.io/chaos annotation",
	"monitoring":       "a Litmus 1.x field: metrics come from chaos-agent's own exporter",
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
