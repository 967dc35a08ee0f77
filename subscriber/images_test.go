package subscriber

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestMirrorImages(t *testing.T) {
	tmpl := func() []any {
		return []any{
			map[string]any{"name": "main", "steps": []any{}},
			map[string]any{"name": "install", "container": map[string]any{"image": "chaosnative/k8s:2.11.0"}},
			map[string]any{"name": "fault", "container": map[string]any{"image": "docker.io/chaosnative/litmus-checker:2.11.0"},
				"initContainers": []any{map[string]any{"image": "busybox"}}, "sidecars": []any{map[string]any{"image": "quay.io/x/y:1"}}},
			map[string]any{"name": "script", "script": map[string]any{"image": "registry.example.com/m/already:1"}},
			map[string]any{"name": "set", "containerSet": map[string]any{"containers": []any{map[string]any{"image": "ghcr.io/a/b:2"}}}},
		}
	}
	want := map[string]string{
		"install": "registry.example.com/m/chaosnative/k8s:2.11.0",
		"fault":   "registry.example.com/m/chaosnative/litmus-checker:2.11.0",
		"script":  "registry.example.com/m/already:1",
	}
	for _, kind := range []string{"Workflow", "CronWorkflow"} {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": kind}}
		if kind == "Workflow" {
			obj.Object["spec"] = map[string]any{"templates": tmpl()}
		} else {
			obj.Object["spec"] = map[string]any{"workflowSpec": map[string]any{"templates": tmpl()}}
		}
		if n := mirrorImages(obj, "registry.example.com/m"); n != 5 {
			t.Errorf("%s: %d images changed, want 5", kind, n)
		}
		spec := obj.Object["spec"].(map[string]any)
		if kind == "CronWorkflow" {
			spec = spec["workflowSpec"].(map[string]any)
		}
		for _, x := range spec["templates"].([]any) {
			tm := x.(map[string]any)
			var img string
			switch tm["name"] {
			case "install", "fault":
				img = tm["container"].(map[string]any)["image"].(string)
			case "script":
				img = tm["script"].(map[string]any)["image"].(string)
			case "set":
				if got := tm["containerSet"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"]; got != "registry.example.com/m/a/b:2" {
					t.Errorf("%s: container set image %v", kind, got)
				}
				continue
			default:
				continue
			}
			if img != want[tm["name"].(string)] {
				t.Errorf("%s template %v: image %q, want %q", kind, tm["name"], img, want[tm["name"].(string)])
			}
		}
	}
	// No registry, or not an Argo object: untouched.
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "spec": map[string]any{"templates": tmpl()}}}
	if n := mirrorImages(obj, ""); n != 0 {
		t.Errorf("no registry: %d images changed", n)
	}
	pod := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Pod", "spec": map[string]any{"templates": tmpl()}}}
	if n := mirrorImages(pod, "registry.example.com"); n != 0 {
		t.Errorf("a Pod: %d images changed", n)
	}
}
