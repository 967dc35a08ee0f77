package runner

import (
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
	"github.com/chaos-agent/chaos-agent/internal/testing/compat"
)

// TestParseCompatCorpus checks how `run` reads every piece of the compatibility corpus.
func TestParseCompatCorpus(t *testing.T) {
	t.Run("ChaosHub experiment", func(t *testing.T) {
		doc := compat.Load(t, compat.ChaosHub)
		doc = compat.SetParameter(t, doc, "adminModeNamespace", "chaos")
		m, err := Parse([]byte(doc), "default")
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Workflows) != 1 {
			t.Fatalf("%d workflows", len(m.Workflows))
		}
		wf := m.Workflows[0]
		if wf.Namespace != "chaos" {
			t.Errorf("Workflow kept in %q, want the admin-mode namespace", wf.Namespace)
		}
		if wf.Labels["subject"] != "kube-system_kube-proxy" {
			t.Errorf("subject label %q: not resolved", wf.Labels["subject"])
		}
		if got := Namespaces(m); !slices.Equal(got, []string{"chaos", "kube-system"}) {
			t.Errorf("namespaces %v: want the engine and Workflow namespace (chaos) and the target's (kube-system)", got)
		}
		w := strings.Join(m.Warnings, "\n")
		for _, want := range []string{"spec.serviceAccountName is ignored", "spec.securityContext is ignored"} {
			if !strings.Contains(w, want) {
				t.Errorf("warnings %q lack %q", w, want)
			}
		}
		// A typo in a parameter name is refused before anything is created, naming it.
		bad := strings.Replace(doc, "-n {{workflow.parameters.adminModeNamespace}}\"]", "-n {{workflow.parameters.adminNamespace}}\"]", 1)
		if _, err := Parse([]byte(bad), "default"); err == nil || !strings.Contains(err.Error(), `no parameter "adminNamespace"`) {
			t.Errorf("typo: %v", err)
		}
		// So is a parameter the metadata uses and the Workflow does not define.
		bad = strings.Replace(doc, "- name: appNamespace\n", "- name: appNS\n", 1)
		if _, err := Parse([]byte(bad), "default"); err == nil || !strings.Contains(err.Error(), `{{workflow.parameters.appNamespace}} in metadata.labels.subject`) {
			t.Errorf("undefined parameter in a label: %v", err)
		}
	})
	t.Run("ChaosCenter workflow", func(t *testing.T) {
		doc := compat.Load(t, compat.ChaosCenter, "CHAOS_NS", "chaos", "APP_NS", "shop", "INFRA_ID", "infra-1")
		_, err := Parse([]byte(doc), "default")
		if err == nil || !strings.Contains(err.Error(), "probe(s) cart-answers") {
			t.Fatalf("unexpanded probeRef: %v", err)
		}
		doc = compat.ExpandProbeRefs(t, doc, compat.Load(t, compat.Probes, "APP_NS", "shop"))
		m, err := Parse([]byte(doc), "default")
		if err != nil {
			t.Fatal(err)
		}
		engines := workflowEngines(m.Workflows[0])
		if len(engines) != 2 {
			t.Fatalf("%d engines", len(engines))
		}
		for _, e := range engines {
			if e.Namespace != "chaos" || e.Spec.AppInfo.AppNS != "shop" || len(e.Spec.Experiments[0].Spec.Probe) != 1 {
				t.Errorf("engine %s: namespace %q appns %q probes %v", e.GenerateName, e.Namespace, e.Spec.AppInfo.AppNS, e.Spec.Experiments[0].Spec.Probe)
			}
		}
		if got := Namespaces(m); !slices.Equal(got, []string{"chaos", "shop"}) {
			t.Errorf("namespaces %v", got)
		}
		if l := m.Workflows[0].Labels; l["workflow_id"] == "" || l["infra_id"] != "infra-1" {
			t.Errorf("labels %v", l)
		}
	})
	t.Run("CronWorkflow", func(t *testing.T) {
		m, err := Parse([]byte(compat.Load(t, compat.CronWorkflow, "CHAOS_NS", "chaos", "APP_NS", "shop", "INFRA_ID", "infra-1")), "default")
		if err != nil {
			t.Fatal(err)
		}
		wf := m.Workflows[0]
		if wf.Name != "cart-nightly" || wf.Labels["subject"] != "shop_cart" || wf.Labels["workflow_id"] == "" {
			t.Errorf("workflow %s labels %v", wf.Name, wf.Labels)
		}
		if !strings.Contains(strings.Join(m.Warnings, "\n"), `spec.schedule "* * * * *"`) {
			t.Errorf("warnings %v lack the schedule", m.Warnings)
		}
	})
	t.Run("ChaosEngines only", func(t *testing.T) {
		m, err := Parse([]byte(compat.Load(t, compat.Engines, "CHAOS_NS", "chaos", "APP_NS", "shop", "TARGET_POD", "cart-1", "NODE_NAME", "n")), "default")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range m.Engines {
			names = append(names, e.Name)
		}
		if !slices.Equal(names, []string{"target-pods", "node-label", "serial", "ramp-no-force"}) || len(m.Experiments) != 0 {
			t.Errorf("engines %v, experiments %d", names, len(m.Experiments))
		}
		if got := Namespaces(m); !slices.Equal(got, []string{"chaos", "shop"}) {
			t.Errorf("namespaces %v", got)
		}
		// An engine file has no workflow parameters: a reference is an error naming it.
		bad := strings.Replace(compat.Load(t, compat.Engines), "namespace: CHAOS_NS", "namespace: '{{workflow.parameters.adminModeNamespace}}'", 1)
		if _, err := Parse([]byte(bad), "default"); err == nil || !strings.Contains(err.Error(), "{{workflow.parameters.adminModeNamespace}}") {
			t.Errorf("parameter in an engine file: %v", err)
		}
	})
	t.Run("Litmus 2.x engine", func(t *testing.T) {
		doc := compat.Load(t, compat.Litmus2, "CHAOS_NS", "chaos", "APP_NS", "shop")
		m, err := Parse([]byte(doc), "default")
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Engines) != 1 || m.Engines[0].Spec.JobCleanUpPolicy != "delete" || m.Engines[0].Spec.Components.Runner.Image == "" {
			t.Fatalf("engines %+v", m.Engines)
		}
		var raw map[string]any
		if err := yaml.Unmarshal([]byte(doc), &raw); err != nil {
			t.Fatal(err)
		}
		w := strings.Join(litmus.EngineWarnings(raw), "\n")
		for _, want := range []string{"spec.annotationCheck", "spec.components", "spec.jobCleanUpPolicy", "spec.monitoring", "spec.experiments[0].spec.components.nodeSelector"} {
			if !strings.Contains(w, want) {
				t.Errorf("warnings %q lack %s", w, want)
			}
		}
	})
}
