package agent_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/chaos-agent/chaos-agent/agent"
	"github.com/chaos-agent/chaos-agent/internal/config"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// TestServeOperatorMode runs the agent as `chaos-agent serve` would without a control plane: a
// ChaosEngine applied with the API is executed, /readyz turns ready, /metrics carries the
// chaos-exporter gauges and our histograms, and cancelling (SIGTERM in main) stops a running
// experiment with a Stopped result.
func TestServeOperatorMode(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()

	cfg := config.Defaults()
	cfg.Kubeconfig = c.Kubeconfig
	cfg.Namespace = ns
	cfg.Scope = config.ScopeNamespace
	cfg.MetricsAddr = "127.0.0.1:0"
	cfg.HealthAddr = "127.0.0.1:0"
	cfg.PodName = "chaos-agent-test"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := agent.New(cfg, zaptest.NewLogger(t))
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer stop()

	health, err := a.HealthAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := a.MetricsAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, "/readyz 200", func(ctx context.Context) (bool, error) {
		code, _, err := get(ctx, "http://"+health.String()+"/readyz")
		return code == http.StatusOK, err
	})

	setupChaos(t, c, ns)
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, testcluster.Deployment(ns, "web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createEngine(t, c, ns, "quick", "4", "2")
	res := waitVerdict(t, c, ns, "quick")
	if res.Status.ExperimentStatus.Verdict != litmus.VerdictPass {
		t.Fatalf("verdict %s (%+v)", res.Status.ExperimentStatus.Verdict, res.Status.ExperimentStatus.ErrorOutput)
	}

	_, body, err := get(ctx, "http://"+metrics.String()+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`litmuschaos_passed_experiments{chaosengine_context="",chaosengine_name="quick",chaosresult_name="quick-pod-delete",chaosresult_namespace=%q,fault_name="pod-delete"} 1`, ns),
		fmt.Sprintf(`litmuschaos_namespace_scoped_experiments_installed_count{chaosresult_namespace=%q} 1`, ns),
		`chaos_agent_time_to_ready_seconds_count{namespace="` + ns + `",owner_kind="deployment"} 2`,
		`chaos_agent_experiment_runs_total{fault="pod-delete",verdict="Pass"} 1`,
		`litmuschaos_experiment_chaos_injected_time{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Shutdown during a run: the experiment stops and its result says why.
	createEngine(t, c, ns, "long", "120", "1")
	testcluster.Eventually(t, 30*time.Second, "chaos injected by the long run", func(ctx context.Context) (bool, error) {
		evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=ChaosInject,involvedObject.name=long"})
		return err == nil && len(evs.Items) > 0, err
	})
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not shut down")
	}
	res = waitVerdict(t, c, ns, "long")
	if res.Status.ExperimentStatus.Verdict != litmus.VerdictStopped {
		t.Errorf("verdict after shutdown %s, want Stopped", res.Status.ExperimentStatus.Verdict)
	}
}

// TestServeWithServiceAccountToken runs the agent with nothing but a service account token that
// may not read the litmus CRDs: it must fail with a clear error, not crash or hang.
func TestServeForbidden(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	if _, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "nobody",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeTokenKubeconfig(t, c, tok.Status.Token)
	cfg := config.Defaults()
	cfg.Kubeconfig, cfg.Namespace, cfg.MetricsAddr, cfg.HealthAddr, cfg.PodName = kubeconfig, ns, "", "", "x"
	runCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- agent.New(cfg, zaptest.NewLogger(t)).Run(runCtx) }()
	// The informers keep retrying (and log the 403s); the agent is never ready, and it stops cleanly.
	time.Sleep(2 * time.Second)
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "never synced") {
			t.Errorf("agent returned %v, want a cache sync error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not stop")
	}
}

func get(ctx context.Context, url string) (int, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func setupChaos(t *testing.T, c *testcluster.Cluster, ns string) {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "chaos"}}, metav1.CreateOptions{})
	must(err)
	_, err = c.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "chaos"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}},
	}}, metav1.CreateOptions{})
	must(err)
	_, err = c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "chaos"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "chaos"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "chaos", Namespace: ns}}}, metav1.CreateOptions{})
	must(err)
	u, err := litmus.ToUnstructured(&litmus.ChaosExperiment{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-delete", Namespace: ns},
		Spec: litmus.ChaosExperimentSpec{Definition: litmus.ExperimentDefinition{
			Args: []string{"-c", "./experiments -name pod-delete"},
			Env:  []corev1.EnvVar{{Name: "FORCE", Value: "true"}, {Name: "DEFAULT_HEALTH_CHECK", Value: "false"}},
		}},
	})
	must(err)
	_, err = c.Dynamic.Resource(litmus.ChaosExperimentGVR()).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
	must(err)
}

func createEngine(t *testing.T, c *testcluster.Cluster, ns, name, duration, interval string) {
	t.Helper()
	u, err := litmus.ToUnstructured(&litmus.ChaosEngine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: litmus.ChaosEngineSpec{
			AppInfo: litmus.AppInfo{AppNS: ns, AppKind: "deployment", AppLabel: "app=web"}, EngineState: litmus.EngineStateActive,
			ChaosServiceAccount: "chaos",
			Experiments: []litmus.EngineExperiment{{Name: "pod-delete", Spec: litmus.EngineExperimentSpec{Components: litmus.ExperimentComponents{
				Env: []corev1.EnvVar{{Name: "TOTAL_CHAOS_DURATION", Value: duration}, {Name: "CHAOS_INTERVAL", Value: interval}},
			}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns).Create(t.Context(), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitVerdict(t *testing.T, c *testcluster.Cluster, ns, engine string) *litmus.ChaosResult {
	t.Helper()
	return c.FinalResult(t, ns, litmus.ResultName(engine, "pod-delete", ""), 60*time.Second)
}

func writeTokenKubeconfig(t *testing.T, c *testcluster.Cluster, token string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: c.Config.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "sa"}
	kc.CurrentContext = "local"
	path := t.TempDir() + "/kubeconfig"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
