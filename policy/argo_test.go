package policy

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/chaos-agent/chaos-agent/internal/kube"
)

func workflowFrom(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u, err := kube.DecodeObject(y)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

const wfHead = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\nspec:\n  entrypoint: main\n"

func TestCheckWorkflow(t *testing.T) {
	allowAll := ArgoPolicy{AllowedServiceAccounts: []string{"argo-chaos", "chaos-agent", "other"}, AllowPodSpecPatch: true, AllowHostPath: true,
		AllowHostNamespaces: true, AllowPrivileged: true, AllowTemplateRefs: true}
	for _, tc := range []struct {
		name, spec string
		want       string // "" = allowed by the default policy
		allowedBy  bool   // allowed when the policy allows everything (except the agent's SA)
	}{
		{name: "ChaosCenter-shaped", spec: "  serviceAccountName: argo-chaos\n  templates:\n  - name: main\n    container: {image: busybox, securityContext: {runAsNonRoot: true}}\n"},
		{name: "no service account: the controller's default", spec: "  templates:\n  - {name: main, container: {image: busybox}}\n"},
		{name: "the agent's own service account", spec: "  serviceAccountName: chaos-agent\n  templates: [{name: main}]\n", want: "agent's own service account"},
		{name: "agent's SA on a template", spec: "  serviceAccountName: argo-chaos\n  templates: [{name: main, serviceAccountName: chaos-agent}]\n", want: "agent's own service account"},
		{name: "agent's SA for the executor", spec: "  executor: {serviceAccountName: chaos-agent}\n  templates: [{name: main}]\n", want: "agent's own service account"},
		{name: "SA outside the allow-list", spec: "  serviceAccountName: cluster-admin-sa\n  templates: [{name: main}]\n", want: "allowedWorkflowServiceAccounts", allowedBy: false},
		{name: "podSpecPatch on the workflow", spec: "  podSpecPatch: '{\"hostPID\": true}'\n  templates: [{name: main}]\n", want: "allowPodSpecPatch", allowedBy: true},
		{name: "podSpecPatch on a template", spec: "  templates: [{name: main, podSpecPatch: '{\"hostIPC\":true}'}]\n", want: "allowPodSpecPatch", allowedBy: true},
		{name: "hostPath volume", spec: "  volumes: [{name: root, hostPath: {path: /}}]\n  templates: [{name: main}]\n", want: "allowHostPath", allowedBy: true},
		{name: "hostPath on a template", spec: "  templates: [{name: main, volumes: [{name: d, hostPath: {path: /var/run/docker.sock}}]}]\n", want: "allowHostPath", allowedBy: true},
		{name: "hostNetwork", spec: "  hostNetwork: true\n  templates: [{name: main}]\n", want: "allowHostNamespaces", allowedBy: true},
		{name: "privileged container", spec: "  templates: [{name: main, container: {image: x, securityContext: {privileged: true}}}]\n", want: "allowPrivileged", allowedBy: true},
		{name: "privileged script", spec: "  templates: [{name: main, script: {image: x, source: id, securityContext: {privileged: true}}}]\n", want: "allowPrivileged", allowedBy: true},
		{name: "capabilities", spec: "  templates: [{name: main, container: {image: x, securityContext: {capabilities: {add: [SYS_ADMIN]}}}}]\n", want: "adds capabilities", allowedBy: true},
		{name: "privileged in a containerSet", spec: "  templates: [{name: main, containerSet: {containers: [{name: a, image: x, securityContext: {privileged: true}}]}}]\n", want: "containerSet", allowedBy: true},
		{name: "privileged init container", spec: "  templates: [{name: main, container: {image: x}, initContainers: [{name: i, image: x, securityContext: {privileged: true}}]}]\n", want: "init container", allowedBy: true},
		{name: "privileged sidecar", spec: "  templates: [{name: main, container: {image: x}, sidecars: [{name: s, image: x, securityContext: {privileged: true}}]}]\n", want: "sidecar", allowedBy: true},
		{name: "privileged step inline", spec: "  templates:\n  - name: main\n    steps:\n    - - name: s\n        inline: {container: {image: x, securityContext: {privileged: true}}}\n", want: "inline", allowedBy: true},
		{name: "hostPath in a DAG task inline", spec: "  templates:\n  - name: main\n    dag:\n      tasks:\n      - name: t\n        inline: {container: {image: x}, volumes: [{name: h, hostPath: {path: /}}]}\n", want: "allowHostPath", allowedBy: true},
		{name: "agent's SA in a nested inline", spec: "  templates:\n  - name: main\n    steps:\n    - - name: s\n        inline: {serviceAccountName: chaos-agent, container: {image: x}}\n", want: "agent's own"},
		{name: "templateDefaults", spec: "  templateDefaults: {podSpecPatch: '{\"hostNetwork\":true}'}\n  templates: [{name: main}]\n", want: "templateDefaults", allowedBy: true},
		{name: "workflowTemplateRef", spec: "  workflowTemplateRef: {name: anything}\n", want: "allowTemplateRefs", allowedBy: true},
		{name: "templateRef in a step", spec: "  templates:\n  - name: main\n    steps:\n    - - {name: s, templateRef: {name: wt, template: t}}\n", want: "allowTemplateRefs", allowedBy: true},
		{name: "artifact GC pod", spec: "  artifactGC: {serviceAccountName: chaos-agent}\n  templates: [{name: main}]\n", want: "agent's own"},
		{name: "undecodable", spec: "  templates: {not: a list}\n", want: "not a valid Workflow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := workflowFrom(t, wfHead+tc.spec)
			def, _ := ParseArgoPolicy(nil)
			err := CheckWorkflow(def, "chaos-agent", obj)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want a refusal naming %q", err, tc.want)
			}
			var pe *Refusal
			if err != nil && tc.want != "not a valid Workflow" && !errors.As(err, &pe) {
				t.Errorf("refusal %v is not a policy error", err)
			}
			if tc.want == "" {
				return
			}
			err = CheckWorkflow(allowAll, "chaos-agent", obj)
			if tc.allowedBy != (err == nil) {
				t.Errorf("with everything allowed: %v (want allowed=%v)", err, tc.allowedBy)
			}
		})
	}
	// CronWorkflows are checked the same way.
	cron := workflowFrom(t, "apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\nmetadata: {name: c}\nspec:\n  schedules: ['* * * * *']\n  workflowSpec:\n    serviceAccountName: chaos-agent\n    templates: [{name: main}]\n")
	def, _ := ParseArgoPolicy(nil)
	if err := CheckWorkflow(def, "chaos-agent", cron); err == nil {
		t.Error("a CronWorkflow running as the agent was allowed")
	}
}

func TestParseArgoPolicy(t *testing.T) {
	p, err := ParseArgoPolicy(map[string]string{"allowedWorkflowServiceAccounts": "argo-chaos, chaos-runner", "allowHostPath": "true"})
	if err != nil || len(p.AllowedServiceAccounts) != 2 || !p.AllowHostPath || p.AllowPrivileged {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := ParseArgoPolicy(map[string]string{"allowPrivileged": "yes please"}); err == nil {
		t.Error("a bad boolean was accepted")
	}
}
