// Package e2e_test runs chaos-agent as users install it, on the local cluster's real node
// (hack/cluster.sh with REAL_NODE=1): the image built without Docker, the manifests applied
// unmodified with kubectl, real containers, real SIGTERMs and grace periods, the `kubernetes`
// Service and the agent's own service-account token.
package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// Written by hack/cluster.sh env with REAL_NODE=1.
const (
	envRealNode   = "CHAOS_AGENT_TEST_REAL_NODE"
	envNodeName   = "CHAOS_AGENT_TEST_NODE_NAME"
	envAgentImage = "CHAOS_AGENT_IMAGE"
	envAppImage   = "E2E_APP_IMAGE"
	envAgentBin   = "CHAOS_AGENT_BIN"
	envArgoImage  = "CHAOS_AGENT_TEST_ARGO_IMAGE"
	envExecImage  = "CHAOS_AGENT_TEST_ARGOEXEC_IMAGE"
	envStepImage  = "CHAOS_AGENT_TEST_STEP_IMAGE"
	envNodeIP     = "CHAOS_AGENT_TEST_NODE_IP"
)

// realNode is the real node of the test cluster and what the tests need to install on it.
type realNode struct {
	c                          *testcluster.Cluster
	kubectl, agentBin          string
	agentImage, appImage       string
	argoImage, execImage, step string
	node, nodeIP               string
}

func getRealNode(t *testing.T) *realNode {
	t.Helper()
	c := testcluster.Get(t)
	if os.Getenv(envRealNode) != "1" {
		if os.Getenv(testcluster.EnvRequire) == "1" {
			t.Fatalf("%s=1 but the test cluster has no real node: start it with REAL_NODE=1 (hack/test.sh does)", testcluster.EnvRequire)
		}
		t.Skip("the test cluster has no real node (REAL_NODE=1 hack/cluster.sh up)")
	}
	r := &realNode{c: c, kubectl: os.Getenv(testcluster.EnvKubectl), agentBin: os.Getenv(envAgentBin),
		agentImage: os.Getenv(envAgentImage), appImage: os.Getenv(envAppImage), argoImage: os.Getenv(envArgoImage),
		execImage: os.Getenv(envExecImage), step: os.Getenv(envStepImage), node: os.Getenv(envNodeName), nodeIP: os.Getenv(envNodeIP)}
	for k, v := range map[string]string{testcluster.EnvKubectl: r.kubectl, envAgentBin: r.agentBin, envAgentImage: r.agentImage,
		envAppImage: r.appImage, envArgoImage: r.argoImage, envExecImage: r.execImage, envStepImage: r.step, envNodeName: r.node, envNodeIP: r.nodeIP} {
		if v == "" {
			t.Fatalf("%s is unset: source the env of hack/cluster.sh (REAL_NODE=1)", k)
		}
	}
	return r
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9-]+`)

// namespace creates a namespace whose pods go to the real node (no kwok placement), deleted at
// the end of the test.
func (r *realNode) namespace(t *testing.T) string {
	t.Helper()
	base := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 30 {
		base = strings.Trim(base[:30], "-")
	}
	name := "e2e-" + base + "-" + randHex(3)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"chaos-agent.io/test": "true"}}}
	if _, err := r.c.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	r.cleanupNamespace(t, name)
	testcluster.Eventually(t, 30*time.Second, "the default ServiceAccount of "+name, func(ctx context.Context) (bool, error) {
		_, err := r.c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	return name
}

func (r *realNode) cleanupNamespace(t *testing.T, name string) {
	t.Cleanup(func() {
		if os.Getenv("CHAOS_AGENT_TEST_KEEP_NAMESPACES") == "1" {
			t.Logf("keeping namespace %s", name)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
}

// cmd runs a command with the cluster's kubeconfig; stdin may be nil.
func (r *realNode) cmd(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Env = append(os.Environ(), "KUBECONFIG="+r.c.Kubeconfig)
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}

// installCRDs is the administrator's step: chaos-agent manifest --crds-only | kubectl apply --server-side -f -
func (r *realNode) installCRDs(t *testing.T) {
	t.Helper()
	crds := r.cmd(t, nil, r.agentBin, "manifest", "--crds-only")
	r.cmd(t, crds, r.kubectl, "apply", "--server-side", "-f", "-")
}

// install renders infra.yaml with the given flags (plus the images) and applies it unmodified.
func (r *realNode) install(t *testing.T, flags ...string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "infra.yaml")
	args := append([]string{"manifest", "--image", r.agentImage, "--argo-image", r.argoImage, "--argo-exec-image", r.execImage, "-o", file}, flags...)
	r.cmd(t, nil, r.agentBin, args...)
	r.cmd(t, nil, r.kubectl, "apply", "-f", file)
}

// readyPod waits for the one Ready pod matching selector in ns on the real node and checks that
// it is a containerd container.
func (r *realNode) readyPod(t *testing.T, ns, selector string, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	testcluster.Eventually(t, timeout, "a Ready pod "+selector+" in "+ns, func(ctx context.Context) (bool, error) {
		pods, err := r.c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp == nil && podReady(p) {
				pod = p
				return true, nil
			}
		}
		return false, fmt.Errorf("%d pods, none Ready: %s", len(pods.Items), describePods(pods.Items))
	})
	if pod.Spec.NodeName != r.node {
		t.Errorf("pod %s/%s runs on %s, want the real node %s", ns, pod.Name, pod.Spec.NodeName, r.node)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if !strings.HasPrefix(cs.ContainerID, "containerd://") {
			t.Errorf("pod %s/%s container %s: ID %q, want a containerd container", ns, pod.Name, cs.Name, cs.ContainerID)
		}
	}
	return pod
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func describePods(pods []corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "%s(%s", p.Name, p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Waiting != nil {
				fmt.Fprintf(&b, " %s:%s", cs.Name, cs.State.Waiting.Reason)
			}
		}
		b.WriteString(") ")
	}
	return b.String()
}

// termLogDir is a directory the e2e app's pods (user 65532) record their SIGTERMs in (hostPath).
func termLogDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "e2e-term-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// deployApp runs the e2e app as a Deployment of replicas cartservice pods, each recording its
// SIGTERM in termDir, and waits until they are Ready.
func (r *realNode) deployApp(t *testing.T, ns, name string, replicas int32, termDir string) {
	t.Helper()
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  replicas: %[3]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 20
      securityContext: {runAsNonRoot: true, runAsUser: 65532}
      containers:
      - name: app
        image: %[4]q
        imagePullPolicy: IfNotPresent
        env:
        - {name: ROLE, value: cartservice}
        - {name: DRAIN_DELAY, value: 2s}
        - {name: TERM_LOG, value: /term}
        readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}
        volumeMounts: [{name: term, mountPath: /term}]
      volumes: [{name: term, hostPath: {path: %[5]q, type: Directory}}]
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  selector: {app: %[1]s}
  ports: [{port: 80, targetPort: 8080}]
`, name, ns, replicas, r.appImage, termDir)
	r.cmd(t, []byte(manifest), r.kubectl, "apply", "-f", "-")
	r.waitApp(t, ns, name, replicas)
}

// waitApp waits until the Deployment has exactly replicas Ready pods.
func (r *realNode) waitApp(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	testcluster.Eventually(t, 90*time.Second, fmt.Sprintf("%d Ready %s pods", replicas, name), func(ctx context.Context) (bool, error) {
		d, err := r.c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == replicas && d.Status.UpdatedReplicas == replicas && d.Status.Replicas == replicas, err
	})
}

// podEvents records, for the pods of a selector, when each started terminating (deletionTimestamp
// first seen) and when it was gone.
type podEvents struct {
	mu          sync.Mutex
	terminating map[string]time.Time
	gone        map[string]time.Time
	graceful    map[string]bool // seen Terminating before it was gone
}

func (r *realNode) watchPods(t *testing.T, ns, selector string) *podEvents {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := r.c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	pe := &podEvents{terminating: map[string]time.Time{}, gone: map[string]time.Time{}, graceful: map[string]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			now := time.Now()
			pe.mu.Lock()
			switch ev.Type {
			case watch.Modified:
				if p.DeletionTimestamp != nil {
					if _, seen := pe.terminating[p.Name]; !seen {
						pe.terminating[p.Name] = now
						pe.graceful[p.Name] = true
					}
				}
			case watch.Deleted:
				if _, seen := pe.terminating[p.Name]; !seen {
					pe.terminating[p.Name] = now
				}
				pe.gone[p.Name] = now
			}
			pe.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return pe
}

// deletedBetween lists the pods that started terminating in [from, to).
func (pe *podEvents) deletedBetween(from, to time.Time) []string {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	var out []string
	for n, at := range pe.terminating {
		if !at.Before(from) && at.Before(to) {
			out = append(out, n)
		}
	}
	return out
}

func (pe *podEvents) snapshot() (terminating, gone map[string]time.Time, graceful map[string]bool) {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	terminating, gone, graceful = map[string]time.Time{}, map[string]time.Time{}, map[string]bool{}
	for k, v := range pe.terminating {
		terminating[k] = v
	}
	for k, v := range pe.gone {
		gone[k] = v
	}
	for k, v := range pe.graceful {
		graceful[k] = v
	}
	return terminating, gone, graceful
}

// chaos applies the pod-delete ChaosExperiment and a ChaosEngine in ns against app=<app> in ns.
func (r *realNode) chaos(t *testing.T, ns, engine, app string, env map[string]string) {
	t.Helper()
	r.chaosIn(t, ns, engine, ns, app, env)
}

// chaosIn applies the pod-delete ChaosExperiment and a ChaosEngine in ns against app=<app> in appNS.
func (r *realNode) chaosIn(t *testing.T, ns, engine, appNS, app string, env map[string]string) {
	t.Helper()
	var envYAML strings.Builder
	for k, v := range env {
		fmt.Fprintf(&envYAML, "        - {name: %s, value: %q}\n", k, v)
	}
	manifest := fmt.Sprintf(`apiVersion: litmuschaos.io/v1alpha1
kind: ChaosExperiment
metadata: {name: pod-delete, namespace: %[1]s, labels: {name: pod-delete}}
spec:
  definition:
    scope: Namespaced
    image: litmuschaos/go-runner:3.31.0
    args: [-c, ./experiments -name pod-delete]
    command: [/bin/bash]
    env:
    - {name: TOTAL_CHAOS_DURATION, value: "15"}
    - {name: FORCE, value: "false"}
---
apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  engineState: active
  chaosServiceAccount: litmus-admin
  appinfo: {appns: %[5]s, applabel: app=%[3]s, appkind: deployment}
  experiments:
  - name: pod-delete
    spec:
      components:
        env:
%[4]s`, ns, engine, app, envYAML.String(), appNS)
	r.cmd(t, []byte(manifest), r.kubectl, "apply", "-f", "-")
}

// engineResult waits until the engine is completed or stopped and returns its ChaosResult's
// verdict and phase.
func (r *realNode) engineResult(t *testing.T, ns, engine string, timeout time.Duration) (verdict, phase string) {
	t.Helper()
	testcluster.Eventually(t, timeout, "ChaosEngine "+engine+" completed or stopped", func(ctx context.Context) (bool, error) {
		u, err := r.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns).Get(ctx, engine, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s, _, _ := unstructured.NestedString(u.Object, "status", "engineStatus")
		return s == string(litmus.EngineStatusCompleted) || s == string(litmus.EngineStatusStopped), fmt.Errorf("engineStatus %q", s)
	})
	return r.result(t, ns, engine)
}

func (r *realNode) result(t *testing.T, ns, engine string) (verdict, phase string) {
	t.Helper()
	u, err := r.c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(ns).Get(t.Context(), litmus.ResultName(engine, "pod-delete", ""), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ChaosResult of %s: %v", engine, err)
	}
	verdict, _, _ = unstructured.NestedString(u.Object, "status", "experimentStatus", "verdict")
	phase, _, _ = unstructured.NestedString(u.Object, "status", "experimentStatus", "phase")
	return verdict, phase
}

// logs returns the logs of a container (empty if there are none any more).
func (r *realNode) logs(ns, pod string, previous bool) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := r.c.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Previous: previous}).DoRaw(ctx)
	if err != nil {
		return fmt.Sprintf("(logs of %s/%s: %v)", ns, pod, err)
	}
	return string(b)
}

// termLogged lists the pods that recorded a SIGTERM in dir.
func termLogged(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range entries {
		out[e.Name()] = true
	}
	return out
}
