package subscriber

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	argofake "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned/fake"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
)

// FuzzHandleAction: whatever the control plane sends, the action handler neither panics nor
// blocks (fake clients; replies go to a local HTTP server).
func FuzzHandleAction(f *testing.F) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"podLog":"LOGS SENT SUCCESSFULLY","kubeObj":"ok","kubeNamespace":"ok","chaosExperimentRun":"ok"}}`))
	}))
	f.Cleanup(srv.Close)
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Workflow"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "CronWorkflow"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	gvrs := map[schema.GroupVersionResource]string{
		{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflows"}:       "WorkflowList",
		{Group: "argoproj.io", Version: "v1alpha1", Resource: "cronworkflows"}:   "CronWorkflowList",
		{Version: "v1", Resource: "configmaps"}:                                  "ConfigMapList",
		{Group: "litmuschaos.io", Version: "v1alpha1", Resource: "chaosengines"}: "ChaosEngineList",
	}
	s, err := New(Options{
		ServerAddr: srv.URL + "/query", InfraID: "infra", AccessKey: "k", Version: "3.31.0", Namespace: "hce",
		Kube: kubefake.NewClientset(), Dynamic: dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), gvrs),
		Argo: argofake.NewSimpleClientset(), Mapper: mapper, Outbox: &MemoryStore{}, Log: zap.NewNop(),
		HTTP: &HTTPOptions{Timeout: 2 * time.Second},
	})
	if err != nil {
		f.Fatal(err)
	}
	// The informers are not started: lookups find nothing.
	for _, seed := range [][3]string{
		{"create", "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: w\n  labels: {workflow_id: e}\nspec:\n  entrypoint: x\n", ""},
		{"update", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: subscriber-config}\n", ""},
		{"delete", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"subscriber",}}}`, ""},
		{"logs", "", `{"podName":"p","podNamespace":"hce","podType":"ChaosEngine","expPod":"e","chaosNamespace":"hce"}`},
		{"kubeobject", "", `{"kubeObjRequest":{"group":"","version":"v1","resource":"configmaps"},"namespace":"hce"}`},
		{"namespace", "", `{}`}, {"workflow_run_stop", "", "uid"}, {"workflow_delete", "", ""}, {"", "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, requestType, manifest, external string) {
		rt, rtErr := normalizeRequestType(requestType)
		panics := func() float64 {
			if rtErr != nil {
				return 0
			}
			return testutil.ToFloat64(s.o.Metrics.actions.WithLabelValues(string(rt), "panic"))
		}
		before := panics()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.handle(t.Context(), Action{RequestType: requestType, K8sManifest: manifest, ExternalData: &external, Namespace: "hce"})
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("handle(%q) blocked", requestType)
		}
		if panics() > before {
			t.Fatalf("handle(%q, %q, %q) panicked", requestType, manifest, external)
		}
	})
}
