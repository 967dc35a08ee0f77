package litmus

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeEngine(t *testing.T) {
	const engine = `apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata:
  generateName: web-chaos
  namespace: hce
  labels:
    workflow_run_id: "{{workflow.uid}}"
spec:
  engineState: active
  appinfo: {appns: hce, applabel: app=web, appkind: deployment}
  experiments:
  - name: pod-delete
    spec:
      components:
        env:
        - {name: TOTAL_CHAOS_DURATION, value: "30"}
`
	tests := []struct {
		name     string
		data     string
		wantKey  string
		wantErr  string
		wantKind string
	}{
		{name: "ChaosHub fault step", data: engine, wantKey: "web-chaos", wantKind: KindChaosEngine},
		{name: "JSON", data: `{"apiVersion":"litmuschaos.io/v1alpha1","kind":"ChaosEngine","metadata":{"name":"e"}}`, wantKey: "e", wantKind: KindChaosEngine},
		{name: "no apiVersion", data: "kind: ChaosEngine\nmetadata: {name: e}\n", wantKey: "e", wantKind: KindChaosEngine},
		{name: "other group", data: "apiVersion: example.com/v1\nkind: ChaosEngine\nmetadata: {name: e}\n", wantErr: "apiVersion", wantKind: KindChaosEngine},
		{name: "experiment", data: "apiVersion: litmuschaos.io/v1alpha1\nkind: ChaosExperiment\nmetadata: {name: x}\n", wantErr: "not a ChaosEngine", wantKind: KindChaosExperiment},
		{name: "no kind", data: "metadata: {name: ChaosEngine}\n", wantErr: "no kind"},
		{name: "two documents", data: "kind: ChaosEngine\n---\nkind: ChaosEngine\n", wantErr: "more than one"},
		{name: "trailing separator and comment", data: "---\nkind: ChaosEngine\nmetadata: {name: e}\n---\n# end\n", wantKey: "e", wantKind: KindChaosEngine},
		{name: "not an object", data: "- ChaosEngine\n", wantErr: "single object"},
		{name: "empty", data: "  \n", wantErr: "empty manifest"},
		{name: "garbage", data: "kind: [ChaosEngine", wantErr: "neither YAML nor JSON"},
		{name: "bad field type", data: "kind: ChaosEngine\nspec: {experiments: 3}\n", wantErr: "converting", wantKind: KindChaosEngine},
		{name: "too large", data: "kind: ChaosEngine\n#" + strings.Repeat("x", MaxArtifactBytes), wantErr: "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ArtifactKind(tc.data); got != tc.wantKind {
				t.Errorf("ArtifactKind = %q, want %q", got, tc.wantKind)
			}
			en, err := DecodeEngine(tc.data)
			if tc.wantKey == "" {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", en)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q, want it to mention %q", err, tc.wantErr)
				}
				if EngineArtifact(tc.data) != nil {
					t.Error("EngineArtifact returned an engine for a bad artifact")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if EngineKey(en) != tc.wantKey {
				t.Errorf("key %q, want %q", EngineKey(en), tc.wantKey)
			}
			if a := EngineArtifact(tc.data); a == nil || EngineKey(a) != tc.wantKey {
				t.Errorf("EngineArtifact = %+v", a)
			}
		})
	}
	en, _ := DecodeEngine(engine)
	if en.Labels[LabelWorkflowRunID] == "" || len(en.Spec.Experiments) != 1 || en.Spec.Experiments[0].Spec.Components.Env[0].Value != "30" {
		t.Errorf("engine not fully decoded: %+v", en)
	}
}

func TestDecodeExperiment(t *testing.T) {
	x, err := DecodeExperiment("apiVersion: litmuschaos.io/v1alpha1\nkind: ChaosExperiment\nmetadata: {name: pod-delete}\nspec:\n  definition:\n    args: [-c, ./experiments -name pod-delete]\n")
	if err != nil || x.Name != "pod-delete" || len(x.Spec.Definition.Args) != 2 {
		t.Fatalf("%+v, %v", x, err)
	}
	if _, err := DecodeExperiment("kind: ChaosEngine\n"); err == nil {
		t.Error("an engine decoded as an experiment")
	}
}

func TestEnv(t *testing.T) {
	e := NewEnv(map[string]string{"A": " 5 ", "B": "1m", "C": "-1", "D": "maybe", "E": "0", "F": ""})
	a, b, f := time.Duration(0), time.Duration(0), 7*time.Second
	e.Seconds("A", &a, false)
	e.Seconds("B", &b, false)
	e.Seconds("F", &f, false)
	var c time.Duration
	e.Seconds("C", &c, true)
	var d bool
	e.Bool("D", &d)
	var z time.Duration
	e.Seconds("E", &z, false)
	if a != 5*time.Second || b != time.Minute || f != 7*time.Second {
		t.Errorf("a=%s b=%s f=%s", a, b, f)
	}
	err := e.Err("test")
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"invalid test parameters", `C="-1"`, `D="maybe"`, `E="0": must be positive`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q lacks %q", err, w)
		}
	}
	if NewEnv(nil).Err("x") != nil {
		t.Error("an empty env has errors")
	}
}
