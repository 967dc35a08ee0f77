// Package compat loads chaos-agent's compatibility corpus (testdata/compat: the Workflow and
// ChaosEngine formats of ChaosHub, ChaosCenter and Litmus 2.x, written from the public formats)
// for the tests that run it through `run` and `serve`.
package compat

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// Files are the corpus's pieces.
const (
	ChaosHub     = "chaoshub-pod-delete.yaml"
	ChaosCenter  = "chaoscenter-workflow.yaml"
	Probes       = "chaoscenter-probes.yaml"
	CronWorkflow = "cronworkflow.yaml"
	Engines      = "engines.yaml"
	Litmus2      = "litmus2-engine.yaml"
)

// Dir is testdata/compat at the repository root.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "compat")
}

// Load reads a piece with its placeholders replaced (old, new, old, new, ...).
func Load(t testing.TB, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Dir(), name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(replace...).Replace(string(b))
}

// SetParameter changes the value of a Workflow's (or a CronWorkflow's) parameter in its YAML:
// the only change a user makes to a downloaded experiment.
func SetParameter(t testing.TB, doc, name, value string) string {
	t.Helper()
	marker := "- name: " + name + "\n"
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("no parameter %s", name)
	}
	rest := doc[i+len(marker):]
	j := strings.Index(rest, "value:")
	k := strings.Index(rest[j:], "\n")
	return doc[:i+len(marker)] + rest[:j] + fmt.Sprintf("value: %q", value) + rest[j+k:]
}

// ExpandProbeRefs does to a Workflow what ChaosCenter does before it sends a run: it expands
// every ChaosEngine artifact's probeRef annotation with the stored probes of probesYAML.
func ExpandProbeRefs(t testing.TB, workflowYAML, probesYAML string) string {
	t.Helper()
	var probes []litmus.Probe
	if err := yaml.Unmarshal([]byte(probesYAML), &probes); err != nil {
		t.Fatal(err)
	}
	stored := map[string]litmus.Probe{}
	for _, p := range probes {
		stored[p.Name] = p
	}
	var wf wfv1.Workflow
	if err := yaml.Unmarshal([]byte(workflowYAML), &wf); err != nil {
		t.Fatal(err)
	}
	for i := range wf.Spec.Templates {
		for j := range wf.Spec.Templates[i].Inputs.Artifacts {
			a := &wf.Spec.Templates[i].Inputs.Artifacts[j]
			var e litmus.ChaosEngine
			if a.Raw == nil || yaml.Unmarshal([]byte(a.Raw.Data), &e) != nil || e.Kind != litmus.KindChaosEngine {
				continue
			}
			if err := litmus.ExpandProbeRefs(&e, stored); err != nil {
				t.Fatal(err)
			}
			b, err := yaml.Marshal(&e)
			if err != nil {
				t.Fatal(err)
			}
			a.Raw.Data = string(b)
		}
	}
	b, err := yaml.Marshal(&wf)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
