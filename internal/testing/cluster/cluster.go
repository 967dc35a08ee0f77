// Package cluster (imported as testcluster) hands integration tests a client for the real local cluster that
// hack/cluster.sh starts (kube-apiserver, etcd, controllers, scheduler, kwok nodes) and a fresh
// namespace per test.
//
// The cluster is found through CHAOS_AGENT_TEST_KUBECONFIG. Without it the integration tests
// skip, unless CHAOS_AGENT_REQUIRE_CLUSTER=1 (set by `make test` and CI): then a missing or
// unreachable cluster fails the test loudly. With -short (the fast tier, `make test-fast`) they
// skip even when a cluster is configured.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Environment variables written by hack/cluster.sh (see its run/env file).
const (
	EnvKubeconfig     = "CHAOS_AGENT_TEST_KUBECONFIG"
	EnvRequire        = "CHAOS_AGENT_REQUIRE_CLUSTER"
	EnvArgo           = "CHAOS_AGENT_TEST_ARGO"
	EnvArgoNamespace  = "CHAOS_AGENT_TEST_ARGO_NAMESPACE"
	EnvArgoInstanceID = "CHAOS_AGENT_TEST_ARGO_INSTANCE_ID"
	EnvKubectl        = "CHAOS_AGENT_TEST_KUBECTL"
	EnvRealNode       = "CHAOS_AGENT_TEST_REAL_NODE"
	namespaceLabelKey = "chaos-agent.io/test"
)

// With a real node (REAL_NODE=1 hack/cluster.sh up), the kwok nodes carry this taint: pods land
// on them only where they tolerate it. The integration tests' pods use fake images and are made
// for kwok, so Namespace marks its namespaces for the PodNodeSelector and
// PodTolerationRestriction admission plugins, which add KwokNodeSelector and KwokToleration
// to every pod created in them.
const (
	KwokTaintKey = "kwok.x-k8s.io/node"
)

var (
	// KwokNodeSelector selects the kwok nodes.
	KwokNodeSelector = map[string]string{"type": "kwok"}
	// KwokToleration tolerates the kwok nodes' taint.
	KwokToleration = corev1.Toleration{Key: KwokTaintKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
)

// RealNode reports whether the test cluster has a real node next to the kwok nodes.
func RealNode() bool { return os.Getenv(EnvRealNode) == "1" }

// kwokAnnotations place every pod of a namespace on the kwok nodes (see KwokTaintKey).
func kwokAnnotations() map[string]string {
	if !RealNode() {
		return nil
	}
	return map[string]string{
		"scheduler.alpha.kubernetes.io/node-selector":      "type=kwok",
		"scheduler.alpha.kubernetes.io/defaultTolerations": `[{"key":"` + KwokTaintKey + `","operator":"Exists","effect":"NoSchedule"}]`,
	}
}

// Cluster is a connection to the local test cluster.
type Cluster struct {
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
}

// Get returns the test cluster, or skips (fails, when the cluster is required) if there is none.
func Get(t testing.TB) *Cluster {
	t.Helper()
	path := os.Getenv(EnvKubeconfig)
	required := os.Getenv(EnvRequire) == "1"
	if testing.Short() {
		if required {
			t.Fatalf("%s=1 asks for the integration tests, -short skips them: drop one", EnvRequire)
		}
		t.Skip("integration test: skipped with -short (the fast tier)")
	}
	if path == "" {
		if required {
			t.Fatalf("%s=1 but %s is unset: start the cluster with hack/cluster.sh up and source its env file", EnvRequire, EnvKubeconfig)
		}
		t.Skipf("integration test: %s unset (make test starts the local cluster)", EnvKubeconfig)
	}
	c, err := connect(t.Context(), path)
	if err != nil {
		t.Fatalf("test cluster at %s: %v", path, err)
	}
	return c
}

// ArgoNamespace returns the namespace that Argo's workflow-controller manages in the test
// cluster, skipping (or failing when required) if the cluster runs without Argo.
func ArgoNamespace(t testing.TB) string {
	t.Helper()
	if os.Getenv(EnvArgo) != "1" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("this test needs Argo's workflow-controller: start the cluster with ARGO=1 NETNS=<name>")
		}
		t.Skip("test cluster runs without Argo's workflow-controller (ARGO=1)")
	}
	return os.Getenv(EnvArgoNamespace)
}

// ArgoInstanceID returns the instanceID of the test cluster's workflow-controller: Workflows
// must carry it in the label workflows.argoproj.io/controller-instanceid (empty: no label).
func ArgoInstanceID() string { return os.Getenv(EnvArgoInstanceID) }

func connect(ctx context.Context, path string) (*Cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		return nil, fmt.Errorf("API server not ready: %w", err)
	}
	return &Cluster{Kubeconfig: path, Config: cfg, Client: client, Dynamic: dyn}, nil
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a fresh namespace named after the test, deleted when the test ends. Its
// pods run on the kwok nodes (also when the cluster has a real node).
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	base := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.Trim(base[:40], "-")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := "t-" + base + "-" + hex.EncodeToString(suffix)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{namespaceLabelKey: "true"}, Annotations: kwokAnnotations()}}
	if _, err := c.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		// A fresh context: t.Context() is already cancelled during cleanup.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
		defer cancel()
		if os.Getenv("CHAOS_AGENT_TEST_KEEP_NAMESPACES") == "1" {
			t.Logf("keeping namespace %s", name)
			return
		}
		err := c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	// The namespace's default ServiceAccount is created by the controller-manager.
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("namespace %s: default ServiceAccount never appeared: %v", name, err)
	}
	return name
}

// Eventually polls cond every interval until it returns true, fails the test after timeout.
// cond errors are reported in the failure message, not fatal: the state may still converge.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, last)
	}
}
