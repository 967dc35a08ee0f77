package subscriber

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	argofake "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

// TestApplyRefusesHostileWorkflow: the subscriber's apply path refuses a Workflow that runs as the
// agent, creates nothing and reports the run as failed, naming the rule.
func TestApplyRefusesHostileWorkflow(t *testing.T) {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Workflow"}, meta.RESTScopeNamespace)
	argo := argofake.NewSimpleClientset()
	s, err := New(Options{
		ServerAddr: "http://127.0.0.1:1/query", InfraID: "infra", AccessKey: "k", Version: "3.31.0", Namespace: "hce",
		Kube: kubefake.NewClientset(), Dynamic: dynfake.NewSimpleDynamicClient(runtime.NewScheme()), Argo: argo,
		Mapper: mapper, Outbox: &MemoryStore{}, Log: zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, spec := range map[string]string{
		"as-agent":   "  serviceAccountName: chaos-agent\n  templates: [{name: main, container: {image: x}}]\n",
		"privileged": "  serviceAccountName: argo-chaos\n  templates: [{name: main, container: {image: x, securityContext: {privileged: true}}}]\n",
	} {
		manifest := "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: " + name + ", labels: {workflow_id: exp, notify_id: n-" + name + "}}\nspec:\n  entrypoint: main\n" + spec
		s.handle(t.Context(), Action{RequestType: "create", K8sManifest: manifest, Namespace: "hce"})
		if !s.outbox.queuedCompleted("n-" + name) {
			t.Errorf("%s: no failed run reported", name)
		}
	}
	wfs, err := argo.ArgoprojV1alpha1().Workflows("hce").List(t.Context(), metav1.ListOptions{})
	if err != nil || len(wfs.Items) != 0 {
		t.Fatalf("%d Workflows created (%v)", len(wfs.Items), err)
	}
	s.outbox.mu.Lock()
	defer s.outbox.mu.Unlock()
	for _, r := range s.outbox.recs {
		if !strings.Contains(string(decodeExecution(t, r.Request)), "refused by the cluster policy") {
			t.Errorf("run %s: the failure does not name the policy", r.RunID)
		}
	}
}

func decodeExecution(t *testing.T, req json.RawMessage) []byte {
	t.Helper()
	var m struct {
		ExecutionData string `json:"executionData"`
	}
	if err := json.Unmarshal(req, &m); err != nil {
		t.Fatal(err)
	}
	b, _ := base64.StdEncoding.DecodeString(m.ExecutionData)
	return b
}
