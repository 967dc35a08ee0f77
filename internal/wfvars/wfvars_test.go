package wfvars

import (
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func workflow() *wfv1.Workflow {
	return &wfv1.Workflow{
		ObjectMeta: metav1.ObjectMeta{Name: "argowf-chaos-pod-delete", Namespace: "litmus",
			Labels: map[string]string{"subject": "{{workflow.parameters.appNamespace}}_pod-delete"}},
		Spec: wfv1.WorkflowSpec{Entrypoint: "argowf-chaos", ServiceAccountName: "argo-chaos",
			Arguments: wfv1.Arguments{Parameters: []wfv1.Parameter{
				{Name: "adminModeNamespace", Value: wfv1.AnyStringPtr("litmus")},
				{Name: "appNamespace", Value: wfv1.AnyStringPtr("shop")},
				{Name: "withDefault", Default: wfv1.AnyStringPtr("d")},
			}}},
	}
}

func TestResolve(t *testing.T) {
	wf := workflow()
	wf.UID = "1234"
	wf.CreationTimestamp = metav1.NewTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	v, err := ForWorkflow(&wf.ObjectMeta, &wf.Spec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want, wantErr string }{
		{in: "no variables", want: "no variables"},
		{in: "{{workflow.parameters.appNamespace}}_pod-delete", want: "shop_pod-delete"},
		{in: "-n {{ workflow.parameters.adminModeNamespace }} x", want: "-n litmus x"},
		{in: "{{workflow.parameters.withDefault}}", want: "d"},
		{in: "{{workflow.uid}}/{{workflow.name}}/{{workflow.namespace}}/{{workflow.serviceAccountName}}", want: "1234/argowf-chaos-pod-delete/litmus/argo-chaos"},
		{in: "{{workflow.creationTimestamp}} {{workflow.creationTimestamp.Y}}-{{workflow.creationTimestamp.m}}-{{workflow.creationTimestamp.d}} {{workflow.creationTimestamp.s}}",
			want: "2026-03-04T05:06:07Z 2026-03-04 1772600767"},
		{in: "{{workflow.labels.subject}}", want: "{{workflow.parameters.appNamespace}}_pod-delete"},
		{in: "{{workflow.parameters.missing}}", wantErr: `cannot resolve {{workflow.parameters.missing}} in here: the Workflow has no parameter "missing"`},
		{in: "{{inputs.parameters.x}}", wantErr: "inputs.parameters.x is not a variable chaos-agent resolves here"},
		{in: "{{=sprig.trim('a')}}", wantErr: "expressions"},
		{in: "a {{workflow.name", wantErr: "no closing"},
		{in: "{{workflow.creationTimestamp.Q}}", wantErr: "format is not supported"},
	}
	for _, tc := range tests {
		got, err := Resolve(tc.in, v, "here")
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Resolve(%q) = %q, %v; want error %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestResolveWorkflowMeta(t *testing.T) {
	wf := workflow()
	wf.Annotations = map[string]string{"{{workflow.parameters.adminModeNamespace}}/owner": "team"}
	wf.Spec.WorkflowMetadata = &wfv1.WorkflowMetadata{Labels: map[string]string{"app": "{{workflow.parameters.appNamespace}}"}}
	if err := ResolveWorkflowMeta(wf, time.Now()); err != nil {
		t.Fatal(err)
	}
	if wf.Labels["subject"] != "shop_pod-delete" || wf.Annotations["litmus/owner"] != "team" || wf.Spec.WorkflowMetadata.Labels["app"] != "shop" {
		t.Errorf("labels %v annotations %v workflowMetadata %v", wf.Labels, wf.Annotations, wf.Spec.WorkflowMetadata.Labels)
	}

	// Before creation the uid is unknown: an error, not a label value the API server rejects.
	wf = workflow()
	wf.Labels["run"] = "{{workflow.uid}}"
	err := ResolveWorkflowMeta(wf, time.Now())
	if err == nil || !strings.Contains(err.Error(), "{{workflow.uid}} in metadata.labels.run") {
		t.Errorf("uid in metadata: %v", err)
	}
	wf = workflow()
	wf.Spec.Arguments.Parameters = append(wf.Spec.Arguments.Parameters, wfv1.Parameter{Name: "empty"})
	if err := ResolveWorkflowMeta(wf, time.Now()); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("parameter without value: %v", err)
	}
	wf = workflow()
	wf.Spec.Arguments.Parameters = wf.Spec.Arguments.Parameters[:1]
	if err := ResolveWorkflowMeta(wf, time.Now()); err == nil || !strings.Contains(err.Error(), `no parameter "appNamespace"`) {
		t.Errorf("undefined parameter: %v", err)
	}
}

func TestResolveCronWorkflowMeta(t *testing.T) {
	wf := workflow()
	cwf := &wfv1.CronWorkflow{ObjectMeta: wf.ObjectMeta, Spec: wfv1.CronWorkflowSpec{WorkflowSpec: wf.Spec,
		WorkflowMetadata: &metav1.ObjectMeta{Labels: map[string]string{"subject": "{{workflow.parameters.appNamespace}}"}}}}
	if err := ResolveCronWorkflowMeta(cwf, time.Now()); err != nil {
		t.Fatal(err)
	}
	if cwf.Labels["subject"] != "shop_pod-delete" || cwf.Spec.WorkflowMetadata.Labels["subject"] != "shop" {
		t.Errorf("labels %v / %v", cwf.Labels, cwf.Spec.WorkflowMetadata.Labels)
	}
}

func TestCheckTemplates(t *testing.T) {
	wf := workflow()
	wf.Spec.Templates = []wfv1.Template{{Name: "run-chaos", Inputs: wfv1.Inputs{Artifacts: []wfv1.Artifact{{Name: "engine",
		ArtifactLocation: wfv1.ArtifactLocation{Raw: &wfv1.RawArtifact{Data: "namespace: {{workflow.parameters.adminModeNamespace}}\nrun: {{workflow.uid}}\npod: {{pod.name}}"}}}}}}}
	v, err := ForWorkflow(&wf.ObjectMeta, &wf.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckTemplates(&wf.Spec, v); err != nil {
		t.Errorf("valid templates: %v", err)
	}
	wf.Spec.Templates[0].Inputs.Artifacts[0].Raw.Data += "\nx: {{workflow.parameters.typo}}"
	if err := CheckTemplates(&wf.Spec, v); err == nil || !strings.Contains(err.Error(), "template run-chaos, artifact engine") || !strings.Contains(err.Error(), "typo") {
		t.Errorf("typo: %v", err)
	}
}
