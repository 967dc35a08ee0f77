package manifests_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/chaos-agent/chaos-agent/internal/config"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
	"github.com/chaos-agent/chaos-agent/manifests"
)

// These tests install both renders on the real local cluster (RBAC enabled) and then act with
// the tokens of the ServiceAccounts the install created: what the install grants is what works,
// everything else is a 403 from the API server. Nothing here is a SubjectAccessReview.

// TestInstallNamespaceScope installs a namespace-scoped render into a fresh namespace, checks the
// agent's permissions with its own token inside and outside that namespace, then runs the real
// chaos-agent binary with that token (linked to a test control plane, next to Argo's real
// workflow-controller running with the argo token) and once more with --scope cluster, which
// the token does not allow.
func TestInstallNamespaceScope(t *testing.T) {
	c := testcluster.Get(t)
	kubectl := kubectlPath(t)
	ns := c.Namespace(t)    // namespace scope: the namespace exists before the install
	other := c.Namespace(t) // a namespace the install has no business in

	cp := testcp.New(testcp.Options{KeepAlive: time.Second})
	cpURL, err := cp.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	infraID, key := "infra-"+randHex(8), "initial-key-"+randHex(10)
	cp.RegisterInfra(infraID, key)

	o := manifests.Options{
		Scope: config.ScopeNamespace, Namespace: ns, ServerAddr: cpURL, InfraID: infraID, AccessKey: key,
		StartTime: time.Now().UnixMilli(), Image: "registry.invalid/chaos-agent:test",
	}
	doc := render(t, o)
	apply(t, kubectl, c, doc, "--dry-run=server")
	apply(t, kubectl, c, doc)
	waitAvailable(t, c, ns, "chaos-agent", "workflow-controller")

	agentCfg, agentKubeconfig := serviceAccountConfig(t, c, ns, "chaos-agent")
	a := newActor(t, agentCfg)
	admin := newActor(t, c.Config)

	t.Run("in its namespace", func(t *testing.T) {
		a.allowedInNamespace(t, admin, ns)
	})
	t.Run("elsewhere forbidden", func(t *testing.T) {
		pod := admin.throwawayPod(t, other)
		forbidden(t, "list pods", a.listPods(t, other))
		forbidden(t, "create Workflow", a.createWorkflow(t, other))
		forbidden(t, "list Workflows", a.listWorkflows(t, other))
		forbidden(t, "create ChaosEngine", a.create(t, litmus.ChaosEngineGVR(), engine(other)))
		forbidden(t, "patch ChaosEngine", a.patch(t, litmus.ChaosEngineGVR(), admin.created(t, litmus.ChaosEngineGVR(), engine(other))))
		forbidden(t, "create ChaosResult", a.create(t, litmus.ChaosResultGVR(), result(other)))
		forbidden(t, "patch ChaosResult", a.patch(t, litmus.ChaosResultGVR(), admin.created(t, litmus.ChaosResultGVR(), result(other))))
		forbidden(t, "delete pod", a.deletePod(t, pod))
		forbidden(t, "delete pod as litmus-admin", a.as(t, ns, "litmus-admin").deletePod(t, pod))
		forbidden(t, "impersonate litmus-admin of another namespace", a.as(t, other, "litmus-admin").whoAmI(t))
		forbidden(t, "get Secret", a.getSecret(t, other, admin.secret(t, other)))
		// Namespace scope needs nothing cluster-wide.
		forbidden(t, "list namespaces", a.listNamespaces(t))
		forbidden(t, "list nodes", a.listNodes(t))
	})

	bin := buildAgent(t)
	controller := startWorkflowController(t, c, ns, o) // nil without Argo in the test cluster

	t.Run("the agent with its token", func(t *testing.T) {
		env := installEnv(t, c, ns)
		agent, health := startAgent(t, bin, env, "serve", "--leader-elect", "--kubeconfig", agentKubeconfig)
		waitStatus(t, agent, "http://"+health+"/readyz", http.StatusOK, 60*time.Second)

		// Registration: the rotated key went to the Secret, then the flag to the ConfigMap.
		if !cp.Confirmed(infraID) {
			t.Error("the control plane never saw the registration confirmed")
		}
		sec, err := c.Client.CoreV1().Secrets(ns).Get(t.Context(), "subscriber-secret", metav1.GetOptions{})
		if err != nil || string(sec.Data["ACCESS_KEY"]) != cp.AccessKey(infraID) || string(sec.Data["ACCESS_KEY"]) == key {
			t.Errorf("subscriber-secret ACCESS_KEY not rotated to the control plane's key (err %v)", err)
		}
		cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(t.Context(), "subscriber-config", metav1.GetOptions{})
		if err != nil || cm.Data["IS_INFRA_CONFIRMED"] != "true" {
			t.Errorf("subscriber-config IS_INFRA_CONFIRMED %q (err %v), want true", cm.Data["IS_INFRA_CONFIRMED"], err)
		}
		lease, err := c.Client.CoordinationV1().Leases(ns).Get(t.Context(), "chaos-agent-leader", metav1.GetOptions{})
		if err != nil || ptr.Deref(lease.Spec.HolderIdentity, "") != agentPodName {
			t.Errorf("leader Lease: %v (err %v)", lease, err)
		}
		testcluster.Eventually(t, 10*time.Second, "a ControlPlaneConnected Event", func(ctx context.Context) (bool, error) {
			evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=ControlPlaneConnected"})
			return err == nil && len(evs.Items) > 0, err
		})

		// The control plane applies a Workflow through the agent; Argo's controller (if it runs
		// here) executes it, and the run's events reach the control plane through the outbox.
		wfName := "install-check-" + randHex(3)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := cp.Send(ctx, infraID, testcp.Action{RequestType: "create", Namespace: ns, Username: "admin", K8sManifest: runWorkflow(ns, wfName, infraID)}); err != nil {
			t.Fatal(err)
		}
		argo := admin.argo
		testcluster.Eventually(t, 30*time.Second, "the Workflow applied by the agent", func(ctx context.Context) (bool, error) {
			_, err := argo.ArgoprojV1alpha1().Workflows(ns).Get(ctx, wfName, metav1.GetOptions{})
			return err == nil, err
		})
		want := func(e testcp.RunEvent) bool { return e.ExperimentID == "exp-install" }
		if controller != nil {
			want = func(e testcp.RunEvent) bool { return e.ExperimentID == "exp-install" && e.Completed }
		}
		testcluster.Eventually(t, 120*time.Second, "the run's events at the control plane", func(context.Context) (bool, error) {
			for _, e := range cp.Runs() {
				if want(e) {
					return true, nil
				}
			}
			return false, nil
		})
		if _, err := c.Client.CoreV1().ConfigMaps(ns).Get(t.Context(), "chaos-agent-outbox", metav1.GetOptions{}); err != nil {
			t.Errorf("outbox ConfigMap: %v", err)
		}
		if controller != nil {
			wf, err := argo.ArgoprojV1alpha1().Workflows(ns).Get(t.Context(), wfName, metav1.GetOptions{})
			if err != nil || wf.Status.Phase != wfv1.WorkflowSucceeded {
				t.Errorf("Workflow %s: phase %v (err %v), want Succeeded\ncontroller log:\n%s", wfName, wf.Status.Phase, err, controller.output())
			}
		}
		if code := agent.stop(t, 30*time.Second); code != 0 {
			t.Errorf("agent exited %d on SIGTERM, want 0\n%s", code, agent.output())
		}
		checkNoPanic(t, agent)
		// Everything the agent did in this run, its Role allowed.
		if out := agent.output(); strings.Contains(strings.ToLower(out), "forbidden") {
			t.Errorf("the agent was refused something:\n%s", grepLines(out, "forbidden"))
		}
	})

	t.Run("the agent with its token and --scope cluster", func(t *testing.T) {
		// Stand-alone (no control plane): only the executor's caches matter here. They list pods,
		// engines and nodes cluster-wide, which the namespace-scope token may not: the agent must
		// neither crash nor loop on restarts, but stay alive (healthz), unready (readyz) and say why.
		env := []string{"INFRA_NAMESPACE=" + ns, "POD_NAME=" + agentPodName}
		agent, health := startAgent(t, bin, env, "serve", "--leader-elect", "--scope", "cluster", "--kubeconfig", agentKubeconfig)
		waitStatus(t, agent, "http://"+health+"/healthz", http.StatusOK, 30*time.Second)
		testcluster.Eventually(t, 30*time.Second, "a forbidden error in the agent's log", func(context.Context) (bool, error) {
			return strings.Contains(agent.output(), "forbidden"), nil
		})
		time.Sleep(3 * time.Second) // still alive and still unready a while later
		if agent.exited() {
			t.Fatalf("agent exited:\n%s", agent.output())
		}
		if code := httpStatus("http://" + health + "/readyz"); code != http.StatusServiceUnavailable {
			t.Errorf("readyz %d, want 503", code)
		}
		log := agent.output()
		for _, want := range []string{"cannot list resource", "at the cluster scope", "system:serviceaccount:" + ns + ":chaos-agent"} {
			if !strings.Contains(log, want) {
				t.Errorf("the agent's log does not say %q", want)
			}
		}
		// On SIGTERM it exits with an error saying what never happened.
		code := agent.stop(t, 30*time.Second)
		if code == 0 || !strings.Contains(agent.output(), "cache never synced") {
			t.Errorf("exit code %d, want non-zero with \"cache never synced\"\n%s", code, tail(agent.output(), 3))
		}
		checkNoPanic(t, agent)
		t.Logf("exit %d, last line: %s", code, tail(agent.output(), 1))
	})

	if controller != nil {
		controller.stop(t, 10*time.Second)
		// Everything the controller did in this run, its Role allowed.
		if out := controller.output(); strings.Contains(strings.ToLower(out), "forbidden") {
			t.Errorf("the workflow-controller was refused something:\n%s", grepLines(out, "forbidden"))
		}
	}
}

// TestInstallClusterScope installs a cluster-scoped render (which creates its namespace and the
// ClusterRoles) and checks with the agent's token that it works across namespaces but reads no
// Secret except its own subscriber-secret.
//
// CRDs: the test cluster already has Argo's *full* CRDs (hack/cluster.sh), which every other test
// relies on; applying the minimal ones for real would replace their schemas under the other tests'
// feet. So the CRDs are only dry-run (server side, as the same field manager that installed them,
// so no conflict), and the real apply uses a render with SkipCRDs.
//
// The agent binary is not run with the cluster-scope token: a cluster-wide executor in the shared
// test cluster would reconcile the ChaosEngines of every other test running in parallel.
func TestInstallClusterScope(t *testing.T) {
	c := testcluster.Get(t)
	kubectl := kubectlPath(t)
	ns := "t-install-cluster-" + randHex(3)
	other := c.Namespace(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(context.Background()), 20*time.Second)
		defer cancel()
		for _, name := range []string{"chaos-agent-" + ns, "litmus-admin-" + ns} {
			if err := c.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete ClusterRoleBinding %s: %v", name, err)
			}
			if err := c.Client.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete ClusterRole %s: %v", name, err)
			}
		}
		if err := c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns, err)
		}
	})

	o := manifests.Options{
		Scope: config.ScopeCluster, Namespace: ns, ServerAddr: "https://chaos.example.com/api/query",
		InfraID: "infra-" + randHex(8), AccessKey: "initial-key-" + randHex(10),
		StartTime: time.Now().UnixMilli(), Image: "registry.invalid/chaos-agent:test",
		ChaosNamespaces: []string{ns, other}, // engines may run in other too, as its litmus-admin
	}
	if testcluster.RealNode() {
		// The install creates its own namespace, which the harness cannot mark for kwok: the
		// fake image must not land on the real node.
		o.NodeSelector = testcluster.KwokNodeSelector
		o.Tolerations = []corev1.Toleration{testcluster.KwokToleration}
	}
	full := render(t, o)
	// The cluster-scoped part first (its namespace does not exist yet, so namespaced objects
	// cannot be dry-run before the real apply creates it).
	apply(t, kubectl, c, only(t, full, clusterKinds...), "--dry-run=server")
	noCRDs := o
	noCRDs.SkipCRDs = true
	apply(t, kubectl, c, render(t, noCRDs))
	apply(t, kubectl, c, full, "--dry-run=server")
	waitAvailable(t, c, ns, "chaos-agent", "workflow-controller")

	agentCfg, _ := serviceAccountConfig(t, c, ns, "chaos-agent")
	a := newActor(t, agentCfg)
	admin := newActor(t, c.Config)

	t.Run("in its namespace", func(t *testing.T) {
		a.allowedInNamespace(t, admin, ns)
	})
	t.Run("across namespaces", func(t *testing.T) {
		allowed(t, "list pods", a.listPods(t, other))
		allowed(t, "list pods in all namespaces", a.listPods(t, metav1.NamespaceAll))
		allowed(t, "list namespaces", a.listNamespaces(t))
		allowed(t, "list nodes", a.listNodes(t))
		allowed(t, "list Workflows", a.listWorkflows(t, other))
		allowed(t, "create ChaosEngine", a.create(t, litmus.ChaosEngineGVR(), engine(other)))
		allowed(t, "patch ChaosEngine", a.patch(t, litmus.ChaosEngineGVR(), admin.created(t, litmus.ChaosEngineGVR(), engine(other))))
		allowed(t, "create ChaosResult", a.create(t, litmus.ChaosResultGVR(), result(other)))
		allowed(t, "patch ChaosResult", a.patch(t, litmus.ChaosResultGVR(), admin.created(t, litmus.ChaosResultGVR(), result(other))))
		allowed(t, "delete pod as litmus-admin", a.as(t, ns, "litmus-admin").deletePod(t, admin.throwawayPod(t, other)))
		// Engines in a namespace the install names run as its litmus-admin (the SA needs not
		// exist to impersonate); in any other namespace, not at all.
		user, err := a.as(t, other, "litmus-admin").whoAmIName(t)
		allowed(t, "impersonate litmus-admin of a named namespace", err)
		if want := "system:serviceaccount:" + other + ":litmus-admin"; err == nil && user != want {
			t.Errorf("impersonated user %q, want %q", user, want)
		}
		forbidden(t, "impersonate litmus-admin of a namespace the install does not name", a.as(t, "t-unnamed-"+randHex(3), "litmus-admin").whoAmI(t))
		forbidden(t, "impersonate litmus-admin of kube-system", a.as(t, "kube-system", "litmus-admin").whoAmI(t))
	})
	t.Run("no Secrets but its own, no writes of Workflows elsewhere", func(t *testing.T) {
		forbidden(t, "get Secret in another namespace", a.getSecret(t, other, admin.secret(t, other)))
		forbidden(t, "get another Secret in its namespace", a.getSecret(t, ns, admin.secret(t, ns)))
		forbidden(t, "list Secrets in all namespaces", a.listSecrets(t, metav1.NamespaceAll))
		forbidden(t, "list Secrets in its namespace", a.listSecrets(t, ns))
		forbidden(t, "get Secret as litmus-admin in another namespace", a.as(t, ns, "litmus-admin").getSecret(t, other, admin.secret(t, other)))
		forbidden(t, "create Workflow in another namespace", a.createWorkflow(t, other))
		forbidden(t, "impersonate another service account", a.as(t, other, "default").whoAmI(t))
		forbidden(t, "impersonate argo", a.as(t, ns, "argo").whoAmI(t))
	})
}

// ----- the install -----

func kubectlPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv(testcluster.EnvKubectl)
	if p == "" {
		if os.Getenv(testcluster.EnvRequire) == "1" {
			t.Fatalf("%s is unset: source hack/cluster.sh's env file", testcluster.EnvKubectl)
		}
		t.Skipf("%s unset", testcluster.EnvKubectl)
	}
	return p
}

// apply runs kubectl apply --server-side on doc.
func apply(t *testing.T, kubectl string, c *testcluster.Cluster, doc []byte, extra ...string) {
	t.Helper()
	args := append([]string{"--kubeconfig", c.Kubeconfig, "apply", "--server-side", "-f", "-"}, extra...)
	cmd := exec.CommandContext(t.Context(), kubectl, args...)
	cmd.Stdin = bytes.NewReader(doc)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args[2:], " "), err, out)
	}
	t.Logf("kubectl %s: %d objects", strings.Join(args[2:], " "), strings.Count(string(out), "\n"))
}

// only keeps the documents of the given kinds.
func only(t *testing.T, doc []byte, kinds ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, o := range parse(t, doc) {
		for _, k := range kinds {
			if o.kind == k {
				b.WriteString("---\n")
				b.Write(o.raw)
			}
		}
	}
	return b.Bytes()
}

func waitAvailable(t *testing.T, c *testcluster.Cluster, ns string, names ...string) {
	t.Helper()
	for _, name := range names {
		testcluster.Eventually(t, 60*time.Second, "Deployment "+name+" Available", func(ctx context.Context) (bool, error) {
			d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, cond := range d.Status.Conditions {
				if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue {
					return d.Status.AvailableReplicas == 1, nil
				}
			}
			return false, fmt.Errorf("conditions %+v", d.Status.Conditions)
		})
	}
}

// serviceAccountConfig returns a client configuration (and a kubeconfig file) that
// authenticates with nothing but a fresh token of the service account.
func serviceAccountConfig(t *testing.T, c *testcluster.Cluster, ns, sa string) (*rest.Config, string) {
	t.Helper()
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), sa,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of %s/%s: %v", ns, sa, err)
	}
	ca := c.Config.CAData
	if len(ca) == 0 && c.Config.CAFile != "" {
		if ca, err = os.ReadFile(c.Config.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: c.Config.Host, CertificateAuthorityData: ca}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts[sa] = &clientcmdapi.Context{Cluster: "test", AuthInfo: sa, Namespace: ns}
	kc.CurrentContext = sa
	path := filepath.Join(t.TempDir(), sa+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

// ----- acting as an identity -----

type actor struct {
	cfg  *rest.Config
	kube kubernetes.Interface
	dyn  dynamic.Interface
	argo argoclient.Interface
}

func newActor(t *testing.T, cfg *rest.Config) *actor {
	t.Helper()
	a := &actor{cfg: cfg}
	var err error
	if a.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if a.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if a.argo, err = argoclient.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return a
}

// as impersonates a service account, as the agent does for faults.
func (a *actor) as(t *testing.T, ns, sa string) *actor {
	cfg := rest.CopyConfig(a.cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":" + sa}
	return newActor(t, cfg)
}

// allowedInNamespace checks what the agent does in its own namespace (both scopes).
func (a *actor) allowedInNamespace(t *testing.T, admin *actor, ns string) {
	allowed(t, "list pods", a.listPods(t, ns))
	allowed(t, "create Workflow", a.createWorkflow(t, ns))
	allowed(t, "list Workflows", a.listWorkflows(t, ns))
	allowed(t, "create ChaosEngine", a.create(t, litmus.ChaosEngineGVR(), engine(ns)))
	allowed(t, "patch ChaosEngine", a.patch(t, litmus.ChaosEngineGVR(), a.created(t, litmus.ChaosEngineGVR(), engine(ns))))
	allowed(t, "create ChaosResult", a.create(t, litmus.ChaosResultGVR(), result(ns)))
	allowed(t, "patch ChaosResult", a.patch(t, litmus.ChaosResultGVR(), a.created(t, litmus.ChaosResultGVR(), result(ns))))
	allowed(t, "delete pod as litmus-admin", a.as(t, ns, "litmus-admin").deletePod(t, admin.throwawayPod(t, ns)))
	allowed(t, "get subscriber-secret", a.getSecret(t, ns, "subscriber-secret"))
	forbidden(t, "get another Secret", a.getSecret(t, ns, admin.secret(t, ns)))
	forbidden(t, "delete pod itself", a.deletePod(t, admin.throwawayPod(t, ns)))
	user, err := a.as(t, ns, "litmus-admin").whoAmIName(t)
	allowed(t, "impersonate litmus-admin", err)
	if want := "system:serviceaccount:" + ns + ":litmus-admin"; err == nil && user != want {
		t.Errorf("impersonated user %q, want %q", user, want)
	}
}

func (a *actor) listPods(t *testing.T, ns string) error {
	_, err := a.kube.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	return err
}

func (a *actor) listNamespaces(t *testing.T) error {
	_, err := a.kube.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	return err
}

func (a *actor) listNodes(t *testing.T) error {
	_, err := a.kube.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	return err
}

func (a *actor) listSecrets(t *testing.T, ns string) error {
	_, err := a.kube.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{})
	return err
}

func (a *actor) getSecret(t *testing.T, ns, name string) error {
	_, err := a.kube.CoreV1().Secrets(ns).Get(t.Context(), name, metav1.GetOptions{})
	return err
}

func (a *actor) deletePod(t *testing.T, pod *corev1.Pod) error {
	return a.kube.CoreV1().Pods(pod.Namespace).Delete(t.Context(), pod.Name, metav1.DeleteOptions{})
}

func (a *actor) listWorkflows(t *testing.T, ns string) error {
	_, err := a.argo.ArgoprojV1alpha1().Workflows(ns).List(t.Context(), metav1.ListOptions{})
	return err
}

// createWorkflow creates a Workflow no controller runs (no instanceID label).
func (a *actor) createWorkflow(t *testing.T, ns string) error {
	wf := &wfv1.Workflow{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "rbac-check-", Namespace: ns},
		Spec: wfv1.WorkflowSpec{Entrypoint: "main", Templates: []wfv1.Template{{Name: "main",
			Container: &corev1.Container{Name: "main", Image: "registry.invalid/step:test", Command: []string{"true"}}}}},
	}
	_, err := a.argo.ArgoprojV1alpha1().Workflows(ns).Create(t.Context(), wf, metav1.CreateOptions{})
	return err
}

func (a *actor) create(t *testing.T, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	_, err := a.dyn.Resource(gvr).Namespace(obj.GetNamespace()).Create(t.Context(), obj, metav1.CreateOptions{})
	return err
}

// created creates obj and returns it (failing the test on error).
func (a *actor) created(t *testing.T, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	out, err := a.dyn.Resource(gvr).Namespace(obj.GetNamespace()).Create(t.Context(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s %s: %v", gvr.Resource, obj.GetNamespace(), err)
	}
	return out
}

func (a *actor) patch(t *testing.T, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) error {
	patch := []byte(`{"metadata":{"annotations":{"chaos-agent.io/install-test":"patched"}}}`)
	_, err := a.dyn.Resource(gvr).Namespace(obj.GetNamespace()).Patch(t.Context(), obj.GetName(), types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

func (a *actor) whoAmI(t *testing.T) error {
	_, err := a.whoAmIName(t)
	return err
}

// whoAmIName asks the API server who the caller is (SelfSubjectReview, allowed to anyone
// authenticated): impersonation succeeded when the answer is the impersonated user.
func (a *actor) whoAmIName(t *testing.T) (string, error) {
	r, err := a.kube.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return r.Status.UserInfo.Username, nil
}

func (a *actor) throwawayPod(t *testing.T, ns string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "victim-", Namespace: ns},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/victim:test"}}},
	}
	out, err := a.kube.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (a *actor) secret(t *testing.T, ns string) string {
	t.Helper()
	s, err := a.kube.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "not-the-agents-", Namespace: ns},
		StringData: map[string]string{"password": "hunter2"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Name
}

// engine is an inert ChaosEngine (engineState stop): no executor of a parallel test starts it.
func engine(ns string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "litmuschaos.io/v1alpha1", "kind": "ChaosEngine",
		"metadata": map[string]any{"generateName": "rbac-check-", "namespace": ns},
		"spec": map[string]any{
			"engineState": "stop", "chaosServiceAccount": "litmus-admin",
			"appinfo":     map[string]any{"appns": ns, "applabel": "app=none", "appkind": "deployment"},
			"experiments": []any{map[string]any{"name": "pod-delete"}},
		},
	}}
}

func result(ns string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "litmuschaos.io/v1alpha1", "kind": "ChaosResult",
		"metadata": map[string]any{"generateName": "rbac-check-", "namespace": ns},
		"spec":     map[string]any{"engine": "rbac-check", "experiment": "pod-delete"},
	}}
}

func allowed(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v, want allowed", what, err)
	}
}

func forbidden(t *testing.T, what string, err error) {
	t.Helper()
	var status apierrors.APIStatus
	switch {
	case err == nil:
		t.Errorf("%s: allowed, want 403 Forbidden", what)
	case !apierrors.IsForbidden(err):
		t.Errorf("%s: %v, want 403 Forbidden", what, err)
	case errors.As(err, &status) && status.Status().Code != http.StatusForbidden:
		t.Errorf("%s: status code %d, want 403", what, status.Status().Code)
	}
}

// ----- processes -----

const agentPodName = "chaos-agent-install-test"

// installEnv is the agent's environment as the Deployment builds it: the subscriber-config
// ConfigMap and subscriber-secret Secret as installed, and the downward API.
func installEnv(t *testing.T, c *testcluster.Cluster, ns string) []string {
	t.Helper()
	cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(t.Context(), "subscriber-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := c.Client.CoreV1().Secrets(ns).Get(t.Context(), "subscriber-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for k, v := range cm.Data {
		env = append(env, k+"="+v)
	}
	for k, v := range sec.Data {
		env = append(env, k+"="+string(v))
	}
	return append(env, "INFRA_NAMESPACE="+ns, "POD_NAMESPACE="+ns, "POD_NAME="+agentPodName)
}

func buildAgent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chaos-agent")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/chaos-agent/chaos-agent/cmd/chaos-agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a child process whose combined output is kept.
type process struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func startProcess(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	// A clean environment: nothing of the test's (KUBECONFIG, ...) leaks in.
	p.cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output (last lines):\n%s", name, tail(p.output(), 30))
		}
	})
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *process) stop(t *testing.T, timeout time.Duration) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("%s did not stop within %s of SIGTERM", p.name, timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// startAgent starts the agent binary with fresh local ports; it returns the health address.
func startAgent(t *testing.T, bin string, env []string, args ...string) (*process, string) {
	t.Helper()
	metrics, health := freePort(t), freePort(t)
	args = append(args, "--metrics-addr", metrics, "--health-addr", health)
	return startProcess(t, "chaos-agent", env, bin, args...), health
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

func httpStatus(url string) int {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	defer func() { _ = resp.Body.Close() }()
	return resp.StatusCode
}

func waitStatus(t *testing.T, p *process, url string, want int, timeout time.Duration) {
	t.Helper()
	testcluster.Eventually(t, timeout, fmt.Sprintf("%s %d", url, want), func(context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("%s exited: %v", p.name, p.err)
		}
		code := httpStatus(url)
		return code == want, fmt.Errorf("status %d", code)
	})
}

func checkNoPanic(t *testing.T, p *process) {
	t.Helper()
	if out := p.output(); strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
		t.Errorf("%s panicked:\n%s", p.name, tail(out, 40))
	}
}

// grepLines returns the lines of s that contain word (case-insensitive).
func grepLines(s, word string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(strings.ToLower(line), word) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ----- Argo -----

// startWorkflowController runs Argo's real workflow-controller (built by hack/cluster.sh) with
// the token of the install's argo ServiceAccount and the install's ConfigMap, as the Deployment
// would, so the run below proves the argo Role is enough. Without Argo in the test cluster it
// returns nil (and fails the test when the cluster is required).
func startWorkflowController(t *testing.T, c *testcluster.Cluster, ns string, o manifests.Options) *process {
	t.Helper()
	if os.Getenv(testcluster.EnvArgo) != "1" {
		if os.Getenv(testcluster.EnvRequire) == "1" {
			t.Fatal("this test runs Argo's workflow-controller: start the cluster with ARGO=1")
		}
		t.Log("no Argo in the test cluster: Workflows are applied, not run")
		return nil
	}
	bin := filepath.Join(filepath.Dir(kubectlPath(t)), "workflow-controller")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("Argo's workflow-controller: %v", err)
	}
	// Only the listening ports differ from the install: the cluster's own controller already
	// runs in this network namespace, and a second metrics server on :9090 would panic.
	patch := `{"data":{"metricsConfig":"{enabled: false}","telemetryConfig":"{enabled: false}"}}`
	if _, err := c.Client.CoreV1().ConfigMaps(ns).Patch(t.Context(), "workflow-controller-configmap", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	_, kubeconfig := serviceAccountConfig(t, c, ns, "argo")
	p := startProcess(t, "workflow-controller", []string{"LEADER_ELECTION_IDENTITY=workflow-controller-test", "DEFAULT_REQUEUE_TIME=1s"}, bin,
		"--kubeconfig", kubeconfig, "--namespace", ns, "--namespaced", "--managed-namespace", ns,
		"--configmap", "workflow-controller-configmap", "--executor-image", "argoexec:local")
	testcluster.Eventually(t, 60*time.Second, "the workflow-controller to hold its Lease", func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("exited: %v", p.err)
		}
		l, err := c.Client.CoordinationV1().Leases(ns).Get(ctx, "workflow-controller-"+o.InfraID, metav1.GetOptions{})
		return err == nil && ptr.Deref(l.Spec.HolderIdentity, "") == "workflow-controller-test", err
	})
	return p
}

// runWorkflow is the manifest of a one-step experiment Workflow as a control plane sends it.
func runWorkflow(ns, name, infraID string) string {
	wf := map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{
			"workflow_id": "exp-install", "infra_id": infraID, "workflows.argoproj.io/controller-instanceid": infraID,
			"revision_id": "rev-1", "notify_id": "notify-install",
		}},
		"spec": map[string]any{
			"entrypoint": "main", "serviceAccountName": "argo-chaos",
			"securityContext": map[string]any{"runAsUser": int64(1000), "runAsNonRoot": true},
			"templates": []any{map[string]any{"name": "main", "container": map[string]any{
				"name": "main", "image": "registry.invalid/step:test", "command": []any{"true"},
			}}},
		},
	}
	b, _ := json.Marshal(wf)
	return string(b)
}
