package workflow

import (
	"reflect"
	"strings"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
)

func TestParseKubectl(t *testing.T) {
	tests := []struct {
		cmd  []string
		want kubectlCall
	}{
		{[]string{"sh", "-c", "kubectl apply -f /tmp/pod-delete.yaml -n litmus"}, kubectlCall{verb: "apply", namespace: "litmus"}},
		{[]string{"sh", "-c", "kubectl apply -f /tmp/ -n hce && sleep 30"}, kubectlCall{verb: "apply", namespace: "hce"}},
		{[]string{"sh", "-c", "kubectl delete chaosengine kube-proxy-pod-delete-chaos -n litmus"},
			kubectlCall{verb: "delete", namespace: "litmus", names: []string{"kube-proxy-pod-delete-chaos"}}},
		{[]string{"sh", "-c", "kubectl delete chaosengine -l workflow_run_id=abc -n hce"},
			kubectlCall{verb: "delete", namespace: "hce", selector: "workflow_run_id=abc"}},
		{[]string{"sh", "-c", "kubectl delete chaosengines --all --namespace=x"}, kubectlCall{verb: "delete", namespace: "x", all: true}},
		{[]string{"sh", "-c", "kubectl delete chaosengine/a chaosengine/b -nfoo"}, kubectlCall{verb: "delete", namespace: "foo", names: []string{"a", "b"}}},
		{[]string{"sh", "-c", "echo hi"}, kubectlCall{}},
	}
	for _, tc := range tests {
		got := parseKubectl(tc.cmd)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseKubectl(%q) = %+v, want %+v", tc.cmd, got, tc.want)
		}
	}
}

func TestIgnored(t *testing.T) {
	spec := &wfv1.WorkflowSpec{ServiceAccountName: "argo-chaos", OnExit: "notify",
		Templates: []wfv1.Template{{Name: "run", RetryStrategy: &wfv1.RetryStrategy{}}}}
	got := strings.Join(Ignored(spec), "\n")
	for _, want := range []string{"spec.serviceAccountName", "spec.onExit (notify)", "spec.templates[run].retryStrategy"} {
		if !strings.Contains(got, want) {
			t.Errorf("Ignored: %q lacks %q", got, want)
		}
	}
	if n := len(Ignored(&wfv1.WorkflowSpec{})); n != 0 {
		t.Errorf("empty spec: %d warnings", n)
	}
}
