package subscriber

import (
	"strings"
	"testing"

	"github.com/chaos-agent/chaos-agent/policy"
)

// The early check decodes embedded ChaosEngines whatever their spelling, substitutes the
// Workflow's parameters, and refuses what still is templated or points elsewhere.
func TestEarlyCheckOfEmbeddedEngines(t *testing.T) {
	pol := policy.Policy{AllowedNamespaces: []string{"hce"}, AllowedKinds: []string{"Workflow"}, MaxPodsAffectedPerc: 50,
		AllowedProbeOperations: []string{"present", "absent"}}
	workflow := func(params, engine string) string {
		return `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: wf, namespace: hce}
spec:
  arguments:
    parameters:
` + params + `
  templates:
  - name: fault
    inputs:
      artifacts:
      - name: engine
        raw:
          data: |
` + indent(engine, "            ")
	}
	engine := func(kind, ns, extra string) string {
		return `apiVersion: litmuschaos.io/v1alpha1
kind: ` + kind + `
metadata: {name: e, namespace: '` + ns + `'}
spec:
  engineState: active
  appinfo: {appns: '` + ns + `', applabel: app=web, appkind: deployment}
  experiments:
  - name: pod-delete
    spec:
      components:
        env:
        - {name: TOTAL_CHAOS_DURATION, value: "30"}
` + extra
	}
	tests := []struct {
		name, manifest, rule string // rule "" = allowed
	}{
		{"allowed", workflow("    - {name: ns, value: hce}", engine("ChaosEngine", "{{workflow.parameters.ns}}", "")), ""},
		{"escaped kind, other namespace", workflow("    - {name: x, value: y}", engine(`"ChaosEngin\u0065"`, "kube-system", "")), "allowedNamespaces"},
		{"parameter to another namespace", workflow("    - {name: ns, value: kube-system}", engine("ChaosEngine", "{{workflow.parameters.ns}}", "")), "allowedNamespaces"},
		{"unresolved template", workflow("    - {name: x, value: y}", engine("ChaosEngine", "{{workflow.parameters.ns}}", "")), "allowedNamespaces"},
		{"selectors elsewhere", workflow("    - {name: x, value: y}", strings.Replace(engine("ChaosEngine", "hce", ""), "  experiments:",
			"  selectors: {workloads: [{kind: deployment, namespace: kube-system, names: coredns}]}\n  experiments:", 1)), "allowedNamespaces"},
		{"percentage", workflow("    - {name: x, value: y}", engine("ChaosEngine", "hce", "        - {name: PODS_AFFECTED_PERC, value: \"10-100\"}\n")), "maxPodsAffectedPerc"},
		{"deleting probe", workflow("    - {name: x, value: y}", engine("ChaosEngine", "hce", `      probe:
      - name: kill
        type: k8sProbe
        mode: SOT
        k8sProbe/inputs: {version: v1, resource: pods, namespace: kube-system, operation: delete}
        runProperties: {probeTimeout: 5s, interval: 1s}
`)), "allowedProbeOperations"},
		{"inline command", workflow("    - {name: x, value: y}", engine("ChaosEngine", "hce", `      probe:
      - name: sh
        type: cmdProbe
        mode: SOT
        cmdProbe/inputs: {command: "id", comparator: {type: string, criteria: contains, value: uid}}
        runProperties: {probeTimeout: 5s, interval: 1s}
`)), "allowInlineCommands"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := parseManifest(tc.manifest)
			if err != nil {
				t.Fatal(err)
			}
			engines, err := embeddedEngines(obj)
			if err == nil {
				if len(engines) != 1 {
					t.Fatalf("%d engines found", len(engines))
				}
				err = checkEngine(pol, engines[0], "hce")
			}
			if tc.rule == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "rule "+tc.rule) {
				t.Fatalf("err %v, want rule %s", err, tc.rule)
			}
		})
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}
