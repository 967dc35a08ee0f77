package litmus

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestEngineWarnings(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{name: "3.x engine", in: `spec: {appinfo: {appns: a}, engineState: active, chaosServiceAccount: x, experiments: [{name: pod-delete, spec: {components: {env: [{name: A, value: b}]}}}]}`},
		{name: "2.x engine", in: `spec:
  annotationCheck: "false"
  jobCleanUpPolicy: delete
  auxiliaryAppInfo: ""
  components: {runner: {image: litmuschaos/chaos-runner:2.14.0}}
  experiments: [{name: pod-delete, spec: {components: {nodeSelector: {a: b}, statusCheckTimeouts: {delay: 2}}}}]
  monitoring: true
  somethingNew: 1`, want: []string{"spec.annotationCheck is ignored", "spec.components is ignored", "spec.jobCleanUpPolicy is ignored",
			"spec.monitoring is ignored", "spec.somethingNew is not a ChaosEngine field", "spec.experiments[0].spec.components.nodeSelector is ignored"}},
		{name: "empty components", in: `spec: {components: {runner: {}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(tc.in), &obj); err != nil {
				t.Fatal(err)
			}
			got := EngineWarnings(obj)
			if len(got) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("warning %d: %q, want prefix %q", i, got[i], w)
				}
			}
		})
	}
	x := &ChaosExperiment{}
	x.Name = "pod-delete"
	x.Spec.Definition.HostPID = true
	x.Spec.Definition.Secrets = []SecretVolume{{Name: "s"}}
	if got := strings.Join(ExperimentWarnings(x), "\n"); !strings.Contains(got, "spec.definition.secrets is ignored") || !strings.Contains(got, "spec.definition.hostPID is ignored") {
		t.Errorf("ExperimentWarnings = %q", got)
	}
	if got := ExperimentWarnings(&ChaosExperiment{}); len(got) != 0 {
		t.Errorf("empty definition: %q", got)
	}
	if got := UnknownEnv([]string{"FORCE", "KILL_COUNT", "LIB", "KILL_COUNT"}, func(n string) bool { return n == "FORCE" }); strings.Join(got, ",") != "KILL_COUNT,LIB" {
		t.Errorf("UnknownEnv = %v", got)
	}
}
