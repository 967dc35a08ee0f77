package subscriber

import (
	"errors"
	"testing"
)

// FuzzDecodeFrame: no input may panic the frame or action decoder, and a data frame either yields
// an action, server errors, or errFrame.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"ka"}`,
		`{"type":"connection_ack"}`,
		`{"payload":{"data":{"infraConnect":{"action":{"k8sManifest":"","externalData":null,"requestID":"r","requestType":"namespace","username":null,"namespace":""}}}},"type":"data"}`,
		`{"payload":{"errors":[{"message":"CLUSTER ALREADY CONNECTED","path":["infraConnect"]}],"data":null},"type":"data"}`,
		`{"type":"data","payload":{"data":null}}`,
		`{"type":"data","payload":[]}`,
		`{"type":`, `null`, `[]`, `{}`, "\x00\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			if !errors.Is(err, errFrame) {
				t.Fatalf("decodeFrame error %v is not errFrame", err)
			}
			return
		}
		if fr.Type == frameData {
			a, gqlErrs, err := decodeAction(fr.Payload)
			if err == nil && len(gqlErrs) == 0 && a == nil {
				t.Fatal("no action, no errors, no error")
			}
			if err != nil && !errors.Is(err, errFrame) {
				t.Fatalf("decodeAction error %v is not errFrame", err)
			}
		}
	})
}

// FuzzParseManifest: manifests from the control plane never panic the parser or the policy's
// look inside experiments.
func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{
		"apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: x\nspec:\n  templates:\n  - name: a\n    inputs:\n      artifacts:\n      - name: e\n        raw:\n          data: \"apiVersion: litmuschaos.io/v1alpha1\\nkind: ChaosEngine\\nmetadata:\\n  generateName: pod-delete-\\n\"\n",
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"subscriber-config","namespace":litmus,}}`,
		"kind: Deployment\nmetadata:\n  labels:\n    app: subscriber\n",
		"", "---", "- a\n- b", "apiVersion: v1/v2/v3\nkind: X", "{{", "\t\t:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseManifest(s)
		if err != nil {
			return
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			t.Fatal("parsed a manifest without kind or apiVersion")
		}
		_, _ = embeddedEngines(u)
	})
}

// FuzzRequestType: dispatch is by exact type; nothing but the known spellings is accepted.
func FuzzRequestType(f *testing.F) {
	for _, s := range []string{"create", "CREATE", "kubeobjects", "namespace", "kubenamespaces", "", "o", "date", "workflow_run", "logs "} {
		f.Add(s)
	}
	known := map[string]bool{"create": true, "update": true, "delete": true, "get": true, "logs": true, "kubeobject": true,
		"kubeobjects": true, "namespace": true, "kubenamespace": true, "kubenamespaces": true, "workflow_run_stop": true,
		"workflow_run_delete": true, "workflow_delete": true, "halt_all": true}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := normalizeRequestType(s)
		if (err == nil) != known[lower(s)] {
			t.Fatalf("normalizeRequestType(%q) error %v", s, err)
		}
	})
}
