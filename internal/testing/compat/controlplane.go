package compat

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// AsSentByControlPlane does to an uploaded Workflow (or CronWorkflow) what ChaosCenter does
// before it sends it to an agent: the run's name, the server's labels (workflow_id, infra_id,
// revision_id, the controller instanceid and, for a Workflow run, notify_id), and on every
// embedded ChaosEngine the labels infra_id, step_pod_name={{pod.name}} and
// workflow_run_id={{workflow.uid}}, which Argo resolves when the step runs.
func AsSentByControlPlane(t testing.TB, doc, name, infraID, experimentID, notifyID string) string {
	t.Helper()
	obj := unmarshal(t, doc)
	meta := obj["metadata"].(map[string]any)
	meta["name"] = name
	labels := map[string]any{"workflow_id": experimentID, "infra_id": infraID, "revision_id": "rev-1",
		"workflows.argoproj.io/controller-instanceid": infraID}
	if notifyID != "" {
		labels["notify_id"] = notifyID
	}
	for k, v := range asMap(meta["labels"]) {
		if _, ok := labels[k]; !ok {
			labels[k] = v
		}
	}
	meta["labels"] = labels
	spec := workflowSpec(obj)
	if obj["kind"] == "CronWorkflow" {
		cronSpec := obj["spec"].(map[string]any)
		wm := asMap(cronSpec["workflowMetadata"])
		wl := asMap(wm["labels"])
		for k, v := range labels {
			if k != "notify_id" {
				wl[k] = v
			}
		}
		wm["labels"] = wl
		cronSpec["workflowMetadata"] = wm
	}
	forEachEngine(t, spec, func(_ map[string]any, engine map[string]any) {
		em := asMap(engine["metadata"])
		el := asMap(em["labels"])
		el["infra_id"], el["step_pod_name"], el["workflow_run_id"] = infraID, "{{pod.name}}", "{{workflow.uid}}"
		em["labels"] = el
		engine["metadata"] = em
	})
	return marshal(t, obj)
}

// ForKwok adapts a Workflow to the local cluster's emulated step containers: its step pods go
// to the kwok nodes, and its fault steps (litmus-checker) run until the test, playing
// litmus-checker, completes them (label kwokwait, see hack/kwok/pod-complete.yaml).
func ForKwok(t testing.TB, doc string) string {
	t.Helper()
	obj := unmarshal(t, doc)
	spec := workflowSpec(obj)
	spec["nodeSelector"] = map[string]any{"type": "kwok"}
	spec["tolerations"] = []any{map[string]any{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}}
	forEachEngine(t, spec, func(template map[string]any, _ map[string]any) {
		md := asMap(template["metadata"])
		l := asMap(md["labels"])
		l["kwokwait"] = "true"
		md["labels"] = l
		template["metadata"] = md
	})
	return marshal(t, obj)
}

func workflowSpec(obj map[string]any) map[string]any {
	spec := obj["spec"].(map[string]any)
	if obj["kind"] == "CronWorkflow" {
		return spec["workflowSpec"].(map[string]any)
	}
	return spec
}

// forEachEngine calls fn with every template whose raw artifact is a ChaosEngine, and the
// engine (written back after fn).
func forEachEngine(t testing.TB, spec map[string]any, fn func(template, engine map[string]any)) {
	t.Helper()
	templates, _ := spec["templates"].([]any)
	for _, tpl := range templates {
		tm := tpl.(map[string]any)
		arts, _ := asMap(tm["inputs"])["artifacts"].([]any)
		for _, a := range arts {
			raw := asMap(asMap(a)["raw"])
			data, _ := raw["data"].(string)
			if !strings.Contains(data, "kind: ChaosEngine") {
				continue
			}
			engine := unmarshal(t, data)
			fn(tm, engine)
			raw["data"] = marshal(t, engine)
		}
	}
}

func asMap(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

func unmarshal(t testing.TB, doc string) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func marshal(t testing.TB, obj any) string {
	t.Helper()
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
