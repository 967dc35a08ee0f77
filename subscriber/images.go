package subscriber

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/chaos-agent/chaos-agent/internal/imageref"
)

// mirrorImages points every image of a Workflow's or CronWorkflow's templates (container,
// script, init containers, sidecars, container sets) at registry (imageref.Mirror), so an
// air-gapped cluster pulls the step images of control-plane Workflows from its mirror. It
// returns how many images it changed; other kinds and an empty registry are left alone.
func mirrorImages(obj *unstructured.Unstructured, registry string) int {
	if registry == "" || obj.GroupVersionKind().Group != "argoproj.io" {
		return 0
	}
	var spec map[string]any
	switch obj.GetKind() {
	case "Workflow":
		spec, _ = obj.Object["spec"].(map[string]any)
	case "CronWorkflow":
		if s, ok := obj.Object["spec"].(map[string]any); ok {
			spec, _ = s["workflowSpec"].(map[string]any)
		}
	}
	templates, _ := spec["templates"].([]any)
	n := 0
	mirror := func(c any) {
		m, ok := c.(map[string]any)
		if !ok {
			return
		}
		if img, ok := m["image"].(string); ok {
			if to := imageref.Mirror(registry, img); to != img {
				m["image"] = to
				n++
			}
		}
	}
	for _, t := range templates {
		tm, ok := t.(map[string]any)
		if !ok {
			continue
		}
		mirror(tm["container"])
		mirror(tm["script"])
		for _, key := range []string{"initContainers", "sidecars"} {
			list, _ := tm[key].([]any)
			for _, c := range list {
				mirror(c)
			}
		}
		if cs, ok := tm["containerSet"].(map[string]any); ok {
			list, _ := cs["containers"].([]any)
			for _, c := range list {
				mirror(c)
			}
		}
	}
	return n
}
