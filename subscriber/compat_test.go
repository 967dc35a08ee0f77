package subscriber

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chaos-agent/chaos-agent/internal/testing/compat"
)

// TestResolveWorkflowMetaCorpus checks what serve resolves before it creates the corpus's
// Workflows and CronWorkflows (Argo resolves only their templates, at run time).
func TestResolveWorkflowMetaCorpus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name, doc string
		labels    map[string]string
		wantErr   string
	}{
		{name: "ChaosHub", doc: compat.SetParameter(t, compat.Load(t, compat.ChaosHub), "appNamespace", "shop"),
			labels: map[string]string{"subject": "shop_kube-proxy"}},
		{name: "CronWorkflow", doc: compat.Load(t, compat.CronWorkflow, "CHAOS_NS", "hce", "APP_NS", "shop", "INFRA_ID", "i"),
			labels: map[string]string{"subject": "shop_cart", "infra_id": "i"}},
		{name: "ChaosCenter", doc: compat.Load(t, compat.ChaosCenter, "CHAOS_NS", "hce", "APP_NS", "shop", "INFRA_ID", "i"),
			labels: map[string]string{"infra_id": "i"}},
		{name: "undefined parameter", doc: strings.Replace(compat.Load(t, compat.ChaosHub), "- name: appNamespace\n", "- name: appNS\n", 1),
			wantErr: `cannot resolve {{workflow.parameters.appNamespace}} in metadata.labels.subject: the Workflow has no parameter "appNamespace"`},
		{name: "uid in a label", doc: strings.Replace(compat.Load(t, compat.ChaosHub), `_kube-proxy"`, `_{{workflow.uid}}"`, 1),
			wantErr: "{{workflow.uid}} in metadata.labels.subject: the Workflow's uid is only known once it is created"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := parseManifest(tc.doc)
			if err != nil {
				t.Fatal(err)
			}
			err = resolveWorkflowMeta(obj, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.labels {
				if got := obj.GetLabels()[k]; got != v {
					t.Errorf("label %s = %q, want %q", k, got, v)
				}
			}
			// Templates are Argo's: left as they are.
			if !strings.Contains(mustJSON(t, obj.Object), "{{workflow.parameters.adminModeNamespace}}") {
				t.Error("templates were resolved too: they are Argo's")
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
