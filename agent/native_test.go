package agent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/agent"
	"github.com/chaos-agent/chaos-agent/internal/config"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
)

// TestNativeWorkflowEngineWithControlPlane: the control plane sends the seed tutorial's exact
// Workflow; the agent, with --workflow-engine=native and no Argo controller, runs its install,
// fault and cleanup steps, and the run's events — with the fault's chaos data — reach the
// control plane until the completed one.
func TestNativeWorkflowEngineWithControlPlane(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	const infra, key = "native-infra", "native-initial-key-0123456789abcd"
	cp := testcp.New(testcp.Options{KeepAlive: 500 * time.Millisecond})
	if _, err := cp.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	cp.RegisterInfra(infra, key)
	for _, cm := range []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Name: "subscriber-config"}, Data: map[string]string{"IS_INFRA_CONFIRMED": "false"}}} {
		if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "subscriber-secret"},
		StringData: map[string]string{"ACCESS_KEY": key}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The application and the chaos service account the seed's engine names.
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, testcluster.Deployment(ns, "cartservice", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"}}, metav1.CreateOptions{})
	_, _ = c.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}}}}, metav1.CreateOptions{})
	_, _ = c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "litmus-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "litmus-admin", Namespace: ns}}}, metav1.CreateOptions{})
	frontend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(frontend.Close)

	cfg := config.Defaults()
	cfg.Kubeconfig, cfg.Namespace, cfg.PodName = c.Kubeconfig, ns, "native-test"
	cfg.MetricsAddr, cfg.HealthAddr = "", ""
	cfg.ServerAddr, cfg.InfraID, cfg.AccessKey, cfg.WorkflowEngine = cp.URL(), infra, key, config.WorkflowEngineNative
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- agent.New(cfg, zaptest.NewLogger(t)).Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
	})
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := cp.WaitConnected(wctx, infra); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile("../runner/testdata/seed-workflow.json")
	if err != nil {
		t.Fatal(err)
	}
	manifest := strings.NewReplacer(`"hce"`, `"`+ns+`"`, `appns: hce`, `appns: `+ns, `http://frontend/cart`, frontend.URL+"/cart",
		`e640346b-bff5-40db-a828-68b44e06e2d1`, infra, `value: \"30\"`, `value: \"4\"`, `value: \"10\"`, `value: \"2\"`,
		`"name": "my-pod-delete-experiment"`, `"name": "my-pod-delete-experiment-1700000000000"`).Replace(string(raw))
	manifest = strings.Replace(manifest, `"labels": {`, `"labels": {"notify_id": "notify-native",`, 1)
	if err := cp.Send(ctx, infra, testcp.Action{RequestType: "create", K8sManifest: manifest, Namespace: ns, Username: "admin"}); err != nil {
		t.Fatal(err)
	}
	var last testcp.RunEvent
	testcluster.Eventually(t, 90*time.Second, "the completed run event", func(context.Context) (bool, error) {
		for _, r := range cp.Runs() {
			if r.NotifyID == "notify-native" && r.Completed {
				last = r
				return true, nil
			}
		}
		return false, nil
	})
	if last.Phase != "Completed" {
		t.Errorf("final phase %q (message %v)", last.Phase, last.Execution["message"])
	}
	nodes, _ := last.Execution["nodes"].(map[string]any)
	var chaos map[string]any
	for _, n := range nodes {
		if nm := n.(map[string]any); nm["type"] == "ChaosEngine" {
			chaos, _ = nm["chaosData"].(map[string]any)
		}
	}
	if chaos == nil || chaos["experimentVerdict"] != "Pass" || chaos["probeSuccessPercentage"] != "100" {
		t.Errorf("chaos data %v", chaos)
	}
	t.Logf("%d run events; final phase %s; fault %v verdict %v PSP %v", len(cp.Runs()), last.Phase, chaos["engineName"], chaos["experimentVerdict"], chaos["probeSuccessPercentage"])
}
