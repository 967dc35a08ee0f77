package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
)

const agentSelector = "app.kubernetes.io/name=chaos-agent"

var workflowGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "workflows"}

// TestInstallNamespaceScope installs chaos-agent the way docs/install.md says, namespace scope,
// linked to a test control plane the pods reach on the node's address: the agent and Argo's
// workflow-controller run as containerd containers, the agent confirms its registration,
// connects and applies a Workflow the control plane sends, which Argo runs on the real node;
// pod-delete then deletes real pods, gracefully and with FORCE=true.
func TestInstallNamespaceScope(t *testing.T) {
	r := getRealNode(t)
	ns := r.namespace(t)

	cp := testcp.New(testcp.Options{KeepAlive: time.Second})
	url, err := cp.Start(r.nodeIP + ":0") // inside the cluster's network namespace, reachable from pods
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	infraID, key := "infra-"+randHex(8), "initial-key-"+randHex(10)
	cp.RegisterInfra(infraID, key)

	r.installCRDs(t)
	t0 := time.Now()
	r.install(t, "--scope", "namespace", "--namespace", ns, "--server-addr", url, "--infra-id", infraID, "--access-key", key)
	agent := r.readyPod(t, ns, agentSelector, 2*time.Minute)
	t.Logf("agent %s Ready %.1fs after kubectl apply", agent.Name, time.Since(t0).Seconds())
	r.readyPod(t, ns, "app=workflow-controller", 2*time.Minute)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", r.logs(ns, agent.Name, false))
		}
	})

	// Linked: registration confirmed (the key rotated), connected (the agent is Ready only then).
	if !cp.Confirmed(infraID) {
		t.Error("the control plane never saw the registration confirmed")
	}
	if !cp.Connected(infraID) {
		t.Error("the agent is not connected to the control plane")
	}

	t.Run("a Workflow from the control plane runs on the real node", func(t *testing.T) {
		name := "e2e-step-" + randHex(3)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if err := cp.Send(ctx, infraID, testcp.Action{RequestType: "create", Namespace: ns, Username: "admin",
			K8sManifest: stepWorkflow(ns, name, infraID, r.step)}); err != nil {
			t.Fatal(err)
		}
		testcluster.Eventually(t, 3*time.Minute, "Workflow "+name+" Succeeded", func(ctx context.Context) (bool, error) {
			u, err := r.c.Dynamic.Resource(workflowGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
			if phase == "Failed" || phase == "Error" {
				t.Fatalf("Workflow %s: %s: %s", name, phase, msg)
			}
			return phase == "Succeeded", fmt.Errorf("phase %q %s", phase, msg)
		})
		testcluster.Eventually(t, time.Minute, "the run's completion at the control plane", func(context.Context) (bool, error) {
			for _, e := range cp.Runs() {
				if e.ExperimentID == "exp-e2e" && e.Completed {
					return true, nil
				}
			}
			return false, nil
		})
	})

	dir := termLogDir(t) // the app's pods record their SIGTERMs here (hostPath) in both runs
	r.deployApp(t, ns, "cart", 2, dir)
	t.Run("pod-delete is graceful", func(t *testing.T) {
		pe := r.watchPods(t, ns, "app=cart")
		start := time.Now()
		r.chaos(t, ns, "graceful", "cart", map[string]string{"TOTAL_CHAOS_DURATION": "9", "CHAOS_INTERVAL": "3", "PODS_AFFECTED_PERC": "50", "FORCE": "false"})
		verdict, phase := r.engineResult(t, ns, "graceful", 2*time.Minute)
		if verdict != "Pass" || phase != "Completed" {
			t.Errorf("verdict %s, phase %s; want Pass, Completed", verdict, phase)
		}
		victims := pe.deletedBetween(start, time.Now())
		if len(victims) < 3 {
			t.Fatalf("%d pods deleted (%v), want at least 3 (9 s every 3 s)", len(victims), victims)
		}
		testcluster.Eventually(t, 30*time.Second, "every victim gone", func(context.Context) (bool, error) {
			_, gone, _ := pe.snapshot()
			for _, v := range victims {
				if _, ok := gone[v]; !ok {
					return false, fmt.Errorf("%s still there", v)
				}
			}
			return true, nil
		})
		term, gone, graceful := pe.snapshot()
		sigterm := termLogged(t, dir)
		for _, v := range victims {
			took := gone[v].Sub(term[v])
			t.Logf("victim %s: terminating for %.1fs, SIGTERM recorded: %v", v, took.Seconds(), sigterm[v])
			if !graceful[v] {
				t.Errorf("victim %s was removed without a grace period", v)
			}
			if !sigterm[v] {
				t.Errorf("victim %s never received SIGTERM", v)
			}
			if took < 1500*time.Millisecond { // the app drains for 2 s after SIGTERM
				t.Errorf("victim %s was gone %.1fs after its deletion: the grace period was not honoured", v, took.Seconds())
			}
		}
		n, sum := timeToReady(t, r, ns)
		if n < float64(len(victims)) || sum <= 0 {
			t.Errorf("chaos_agent_time_to_ready_seconds: count %v, sum %v; want one recovery per victim (%d)", n, sum, len(victims))
		} else {
			t.Logf("recovery (deletion → replacement Ready): %d victims, mean %.1fs", len(victims), sum/n)
		}
	})

	t.Run("FORCE=true deletes at once", func(t *testing.T) {
		pe := r.watchPods(t, ns, "app=cart")
		start := time.Now()
		r.chaos(t, ns, "forced", "cart", map[string]string{"TOTAL_CHAOS_DURATION": "6", "CHAOS_INTERVAL": "3", "PODS_AFFECTED_PERC": "50", "FORCE": "true"})
		verdict, _ := r.engineResult(t, ns, "forced", 2*time.Minute)
		if verdict != "Pass" {
			t.Errorf("verdict %s, want Pass", verdict)
		}
		victims := pe.deletedBetween(start, time.Now())
		if len(victims) < 2 {
			t.Fatalf("%d pods deleted (%v), want at least 2", len(victims), victims)
		}
		testcluster.Eventually(t, 10*time.Second, "every victim gone", func(context.Context) (bool, error) {
			_, gone, _ := pe.snapshot()
			for _, v := range victims {
				if _, ok := gone[v]; !ok {
					return false, fmt.Errorf("%s still there", v)
				}
			}
			return true, nil
		})
		term, gone, _ := pe.snapshot()
		for _, v := range victims {
			took := gone[v].Sub(term[v])
			t.Logf("victim %s: gone %.2fs after its deletion", v, took.Seconds())
			if took > time.Second { // graceful: at least the app's 2 s drain
				t.Errorf("victim %s was gone %.1fs after its deletion: FORCE=true must delete it at once", v, took.Seconds())
			}
		}
	})

	t.Run("ChaosHub step images: install step and litmus-checker step", func(t *testing.T) {
		name := "e2e-hub-" + randHex(3)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if err := cp.Send(ctx, infraID, testcp.Action{RequestType: "create", Namespace: ns, Username: "admin",
			K8sManifest: hubWorkflow(ns, name, infraID)}); err != nil {
			t.Fatal(err)
		}
		testcluster.Eventually(t, 3*time.Minute, "Workflow "+name+" Succeeded", func(ctx context.Context) (bool, error) {
			u, err := r.c.Dynamic.Resource(workflowGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
			if phase == "Failed" || phase == "Error" {
				t.Fatalf("Workflow %s: %s: %s", name, phase, msg)
			}
			return phase == "Succeeded", fmt.Errorf("phase %q %s", phase, msg)
		})
		// The checker step created the engine (generateName) and waited for its end.
		list, err := r.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, u := range list.Items {
			if !strings.HasPrefix(u.GetName(), "hub-pod-delete-") {
				continue
			}
			found = true
			s, _, _ := unstructured.NestedString(u.Object, "status", "engineStatus")
			exps, _, _ := unstructured.NestedSlice(u.Object, "status", "experiments")
			verdict := ""
			if len(exps) > 0 {
				verdict, _, _ = unstructured.NestedString(exps[0].(map[string]any), "verdict")
			}
			if s != string(litmus.EngineStatusCompleted) || verdict != "Pass" {
				t.Errorf("engine %s: status %q, verdict %q; want completed, Pass", u.GetName(), s, verdict)
			}
		}
		if !found {
			t.Error("the litmus-checker step created no ChaosEngine")
		}
	})

	if out := r.logs(ns, agent.Name, false); strings.Contains(strings.ToLower(out), "forbidden") {
		t.Errorf("the agent was refused something:\n%s", grep(out, "forbidden"))
	}
}

// TestInstallClusterScope installs the cluster-scope render (Namespace, CRDs, ClusterRoles) with
// kubectl apply as is, and runs pod-delete on an application in another namespace.
func TestInstallClusterScope(t *testing.T) {
	r := getRealNode(t)
	ns := "e2e-cluster-" + randHex(3) // created by the manifest
	app := r.namespace(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, name := range []string{"chaos-agent-" + ns, "litmus-admin-" + ns} {
			if err := r.c.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete ClusterRoleBinding %s: %v", name, err)
			}
			if err := r.c.Client.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete ClusterRole %s: %v", name, err)
			}
		}
	})
	r.cleanupNamespace(t, ns)

	t0 := time.Now()
	r.install(t, "--scope", "cluster", "--namespace", ns)
	agent := r.readyPod(t, ns, agentSelector, 2*time.Minute)
	t.Logf("agent %s Ready %.1fs after kubectl apply", agent.Name, time.Since(t0).Seconds())
	r.readyPod(t, ns, "app=workflow-controller", 2*time.Minute)

	dir := termLogDir(t)
	r.deployApp(t, app, "cart", 2, dir)
	pe := r.watchPods(t, app, "app=cart")
	// The policy's default allows the agent's namespace only: the cluster owner allows the
	// application's namespace too.
	if _, err := r.c.Client.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "chaos-agent-policy"},
		Data: map[string]string{"allowedNamespaces": ns + "," + app}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// As ChaosCenter does: the engine in the agent's namespace, the application in another.
	r.chaosIn(t, ns, "cluster-wide", app, "cart", map[string]string{"TOTAL_CHAOS_DURATION": "9", "CHAOS_INTERVAL": "3", "PODS_AFFECTED_PERC": "50"})
	verdict, phase := r.engineResult(t, ns, "cluster-wide", 2*time.Minute)
	if verdict != "Pass" || phase != "Completed" {
		t.Errorf("verdict %s, phase %s; want Pass, Completed\nagent log:\n%s", verdict, phase, r.logs(ns, agent.Name, false))
	}
	if victims := pe.deletedBetween(start, time.Now()); len(victims) < 3 {
		t.Errorf("%d pods deleted (%v), want at least 3", len(victims), victims)
	}
}

// stepWorkflow is a one-step Workflow as ChaosCenter sends them (labels, instanceID, non-root
// steps), whose step runs the install/cleanup step image.
func stepWorkflow(ns, name, infraID, image string) string {
	wf := map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{
			"workflow_id": "exp-e2e", "infra_id": infraID, "workflows.argoproj.io/controller-instanceid": infraID,
			"revision_id": "rev-1", "notify_id": "notify-e2e",
		}},
		"spec": map[string]any{
			"entrypoint": "main", "serviceAccountName": "argo-chaos",
			"securityContext": map[string]any{"runAsUser": int64(1000), "runAsNonRoot": true},
			"templates": []any{map[string]any{"name": "main", "container": map[string]any{
				"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
				"command": []any{"sh", "-c", "id && kubectl version --client"},
			}}},
		},
	}
	b, _ := json.Marshal(wf)
	return string(b)
}

// hubWorkflow is a ChaosHub-shaped experiment Workflow: an install step (the k8s step image:
// kubectl apply of the ChaosExperiment) and a fault step (the litmus-checker image: create the
// ChaosEngine and wait for its verdict), both as user 1000. Without a registry Argo cannot look up
// an image's entrypoint, so the checker step names its command (ChaosHub's omit it: see
// docs/development.md).
func hubWorkflow(ns, name, infraID string) string {
	return hubWorkflowWith(ns, name, infraID, "exp-hub", "6")
}

func hubWorkflowWith(ns, name, infraID, workflowID, duration string) string {
	experiment := fmt.Sprintf(`apiVersion: litmuschaos.io/v1alpha1
kind: ChaosExperiment
metadata: {name: pod-delete, namespace: %s, labels: {name: pod-delete}}
spec:
  definition:
    scope: Namespaced
    image: litmuschaos/go-runner:3.31.0
    args: [-c, ./experiments -name pod-delete]
    command: [/bin/bash]
    env:
    - {name: TOTAL_CHAOS_DURATION, value: "15"}
`, ns)
	engine := fmt.Sprintf(`apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata: {generateName: hub-pod-delete-, namespace: %s}
spec:
  engineState: active
  chaosServiceAccount: litmus-admin
  appinfo: {appns: %s, applabel: app=cart, appkind: deployment}
  experiments:
  - name: pod-delete
    spec:
      components:
        env:
        - {name: TOTAL_CHAOS_DURATION, value: "%s"}
        - {name: CHAOS_INTERVAL, value: "3"}
        - {name: PODS_AFFECTED_PERC, value: "50"}
        - {name: FORCE, value: "false"}
`, ns, ns, duration)
	wf := map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{
			"workflow_id": workflowID, "infra_id": infraID, "workflows.argoproj.io/controller-instanceid": infraID,
			"revision_id": "rev-1", "notify_id": "notify-" + workflowID,
		}},
		"spec": map[string]any{
			"entrypoint": "main", "serviceAccountName": "argo-chaos",
			"securityContext": map[string]any{"runAsUser": int64(1000), "runAsNonRoot": true},
			"templates": []any{
				map[string]any{"name": "main", "steps": []any{
					[]any{map[string]any{"name": "install-experiment", "template": "install-experiment"}},
					[]any{map[string]any{"name": "pod-delete", "template": "pod-delete"}},
				}},
				map[string]any{"name": "install-experiment",
					"inputs": map[string]any{"artifacts": []any{map[string]any{"name": "experiment", "path": "/tmp/experiment.yaml", "raw": map[string]any{"data": experiment}}}},
					"container": map[string]any{"name": "", "image": "chaosnative/k8s:2.11.0", "command": []any{"sh", "-c"},
						"args": []any{"kubectl apply -f /tmp/experiment.yaml -n " + ns}}},
				map[string]any{"name": "pod-delete",
					"inputs": map[string]any{"artifacts": []any{map[string]any{"name": "engine", "path": "/tmp/chaosengine.yaml", "raw": map[string]any{"data": engine}}}},
					"container": map[string]any{"name": "", "image": "chaosnative/litmus-checker:2.11.0",
						"command": []any{"/usr/local/bin/chaos-agent", "check"},
						"args":    []any{"-file=/tmp/chaosengine.yaml", "-saveName=/tmp/engine-name"}}},
			},
		},
	}
	b, _ := json.Marshal(wf)
	return string(b)
}

// timeToReady reads the agent's chaos_agent_time_to_ready_seconds for ns through its metrics
// Service (a ClusterIP, reached through kube-proxy from this network namespace).
func timeToReady(t *testing.T, r *realNode, agentNS string) (count, sum float64) {
	t.Helper()
	svc, err := r.c.Client.CoreV1().Services(agentNS).Get(t.Context(), "chaos-agent-metrics", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+svc.Spec.ClusterIP+":8080/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("agent metrics through the Service: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, `namespace="`+agentNS+`"`) {
			continue
		}
		f := strings.Fields(l)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		switch {
		case strings.HasPrefix(l, "chaos_agent_time_to_ready_seconds_count"):
			count += v
		case strings.HasPrefix(l, "chaos_agent_time_to_ready_seconds_sum"):
			sum += v
		}
	}
	return count, sum
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(strings.ToLower(l), substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
