package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
)

// The agent's grace period in the install manifest (terminationGracePeriodSeconds).
const agentGrace = 40 * time.Second

// TestAgentLifecycle installs the agent (namespace scope) and, while a pod-delete runs against
// a 2-replica e2e app, takes the agent's pod away in each of the ways a cluster does: a pod
// deletion, a rollout restart, and a SIGKILL of its process. Each time the run must end resolved
// (engine stopped or completed, result not Running), and no pod may be deleted after the agent
// was told to stop.
func TestAgentLifecycle(t *testing.T) {
	r := getRealNode(t)
	ns := r.namespace(t)
	cp := testcp.New(testcp.Options{KeepAlive: time.Second})
	url, err := cp.Start(r.nodeIP + ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cp.Stop)
	infraID, key := "infra-"+randHex(8), "initial-key-"+randHex(10)
	cp.RegisterInfra(infraID, key)
	r.installCRDs(t)
	r.install(t, "--scope", "namespace", "--namespace", ns, "--server-addr", url, "--infra-id", infraID, "--access-key", key)
	r.readyPod(t, ns, agentSelector, 2*time.Minute)
	r.readyPod(t, ns, "app=workflow-controller", 2*time.Minute)
	dir := termLogDir(t)
	r.deployApp(t, ns, "cart", 2, dir)

	deletePod := func(t *testing.T, agent *corev1.Pod) {
		r.cmd(t, nil, r.kubectl, "-n", ns, "delete", "pod", agent.Name, "--wait=false")
	}
	engine := func(t *testing.T) string {
		name := "mid-run-" + randHex(3)
		r.chaos(t, ns, name, "cart", map[string]string{"TOTAL_CHAOS_DURATION": "60", "CHAOS_INTERVAL": "3", "PODS_AFFECTED_PERC": "50", "FORCE": "false"})
		return name
	}
	t.Run("pod deleted", func(t *testing.T) {
		r.agentGoesMidRun(t, ns, true, engine, deletePod)
	})
	t.Run("rollout restart", func(t *testing.T) {
		r.agentGoesMidRun(t, ns, true, engine, func(t *testing.T, _ *corev1.Pod) {
			r.cmd(t, nil, r.kubectl, "-n", ns, "rollout", "restart", "deployment/chaos-agent")
		})
	})
	t.Run("SIGKILL", func(t *testing.T) {
		r.agentGoesMidRun(t, ns, false, engine, func(t *testing.T, agent *corev1.Pod) {
			pid := r.containerPID(t, agent, "chaos-agent")
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill -KILL %d: %v", pid, err)
			}
		})
	})
	// A run the control plane started (a ChaosHub-shaped Workflow whose checker step created the
	// engine): its events, queued by the old pod and sent by it or by the replacement, all reach
	// the control plane, up to the run's completion.
	t.Run("pod deleted during a control-plane run", func(t *testing.T) {
		wf := "e2e-life-" + randHex(3)
		workflowID := "exp-" + wf
		r.agentGoesMidRun(t, ns, true, func(t *testing.T) string {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			if err := cp.Send(ctx, infraID, testcp.Action{RequestType: "create", Namespace: ns, Username: "admin",
				K8sManifest: hubWorkflowWith(ns, wf, infraID, workflowID, "60")}); err != nil {
				t.Fatal(err)
			}
			var name string
			testcluster.Eventually(t, 2*time.Minute, "the engine of the checker step", func(ctx context.Context) (bool, error) {
				list, err := r.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return false, err
				}
				for _, u := range list.Items {
					if strings.HasPrefix(u.GetName(), "hub-pod-delete-") && u.GetCreationTimestamp().After(time.Now().Add(-2*time.Minute)) {
						if s, _, _ := unstructured.NestedString(u.Object, "status", "engineStatus"); s == "" || s == string(litmus.EngineStatusInitialized) {
							name = u.GetName()
							return true, nil
						}
					}
				}
				return false, nil
			})
			return name
		}, deletePod)
		testcluster.Eventually(t, 2*time.Minute, "the run's completion at the control plane", func(context.Context) (bool, error) {
			for _, e := range cp.Runs() {
				if e.ExperimentID == workflowID && e.Completed {
					return true, nil
				}
			}
			return false, nil
		})
		var phases []string
		for _, e := range cp.Runs() {
			if e.ExperimentID == workflowID {
				phases = append(phases, e.Phase)
			}
		}
		t.Logf("run events at the control plane: %v", phases)
		u, err := r.c.Dynamic.Resource(workflowGVR).Namespace(ns).Get(t.Context(), wf, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if phase, _, _ := unstructured.NestedString(u.Object, "status", "phase"); phase != "Succeeded" {
			t.Errorf("Workflow %s: phase %q, want Succeeded (the checker step exits 0 whatever the verdict)", wf, phase)
		}
	})
}

// agentGoesMidRun starts a 60 s pod-delete (run returns its engine), lets it delete a pod, then calls stop. With graceful,
// the old pod must go within its grace period and a new pod take over; without, the same pod's
// container is restarted. Then the run must be resolved within 10 s of the replacement being
// Ready, and no app pod may start terminating after the agent was stopped.
func (r *realNode) agentGoesMidRun(t *testing.T, ns string, graceful bool, run func(*testing.T) string, stop func(*testing.T, *corev1.Pod)) {
	old := r.readyPod(t, ns, agentSelector, 2*time.Minute)
	oldRestarts := restarts(old)
	pe := r.watchPods(t, ns, "app=cart")
	start := time.Now()
	engine := run(t)
	testcluster.Eventually(t, time.Minute, "the first deletion", func(context.Context) (bool, error) {
		return len(pe.deletedBetween(start, time.Now())) > 0, nil
	})
	if v, phase := r.result(t, ns, engine); phase != string(litmus.ResultPhaseRunning) {
		t.Fatalf("the run is not running before the agent goes: verdict %s, phase %s", v, phase)
	}

	stop(t, old)
	stopped := time.Now()
	var replacement *corev1.Pod
	if graceful {
		// The old pod: Terminating, then gone within its grace period.
		var terminating time.Time
		testcluster.Eventually(t, 30*time.Second, "agent pod "+old.Name+" terminating", func(ctx context.Context) (bool, error) {
			p, err := r.c.Client.CoreV1().Pods(ns).Get(ctx, old.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil) {
				terminating = time.Now()
				return true, nil
			}
			return false, err
		})
		stopped = terminating
		testcluster.Eventually(t, agentGrace+10*time.Second, "agent pod "+old.Name+" gone", func(ctx context.Context) (bool, error) {
			_, err := r.c.Client.CoreV1().Pods(ns).Get(ctx, old.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
		gone := time.Since(terminating)
		t.Logf("old agent pod gone %.1fs after it started terminating (grace %s)", gone.Seconds(), agentGrace)
		if gone > agentGrace {
			t.Errorf("the old agent pod took %.1fs to go, more than its grace period %s", gone.Seconds(), agentGrace)
		}
		// Before it went, the old pod stopped its run and wrote the result.
		if v, phase := r.result(t, ns, engine); phase == string(litmus.ResultPhaseRunning) {
			t.Errorf("the old agent pod went without closing its run: verdict %s, phase %s", v, phase)
		}
		testcluster.Eventually(t, 2*time.Minute, "a new Ready agent pod", func(ctx context.Context) (bool, error) {
			pods, err := r.c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: agentSelector})
			if err != nil {
				return false, err
			}
			for i := range pods.Items {
				if p := &pods.Items[i]; p.Name != old.Name && p.DeletionTimestamp == nil && podReady(p) {
					replacement = p
					return true, nil
				}
			}
			return false, nil
		})
	} else {
		// The same pod, its container restarted by the kubelet.
		testcluster.Eventually(t, 2*time.Minute, "agent container restarted and Ready", func(ctx context.Context) (bool, error) {
			p, err := r.c.Client.CoreV1().Pods(ns).Get(ctx, old.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if restarts(p) > oldRestarts && podReady(p) {
				replacement = p
				return true, nil
			}
			return false, fmt.Errorf("restarts %d, ready %v", restarts(p), podReady(p))
		})
	}
	ready := time.Now()
	t.Logf("replacement %s Ready %.1fs after the agent was stopped", replacement.Name, ready.Sub(stopped).Seconds())

	// Resolved within 10 s of the replacement being Ready.
	testcluster.Eventually(t, 10*time.Second, "the run resolved", func(ctx context.Context) (bool, error) {
		u, err := r.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns).Get(ctx, engine, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s, _, _ := unstructured.NestedString(u.Object, "status", "engineStatus")
		if s != string(litmus.EngineStatusStopped) && s != string(litmus.EngineStatusCompleted) {
			return false, fmt.Errorf("engineStatus %q", s)
		}
		res, err := r.c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(ns).Get(ctx, litmus.ResultName(engine, "pod-delete", ""), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase, _, _ := unstructured.NestedString(res.Object, "status", "experimentStatus", "phase")
		return phase != string(litmus.ResultPhaseRunning), fmt.Errorf("result phase %q", phase)
	})
	verdict, phase := r.result(t, ns, engine)
	t.Logf("run resolved %.1fs after the replacement was Ready: verdict %s, phase %s", time.Since(ready).Seconds(), verdict, phase)

	// No chaos after the agent was told to stop: a batch that had started before may still be
	// seen terminating for a moment (1 s allowance for the kubelet to deliver the SIGTERM).
	time.Sleep(4 * time.Second) // longer than CHAOS_INTERVAL: a continuing kill loop would show
	if late := pe.deletedBetween(stopped.Add(time.Second), time.Now()); len(late) > 0 {
		t.Errorf("pods deleted after the agent was stopped: %v", late)
	}
	// The app is whole again for the next case.
	r.waitApp(t, ns, "cart", 2)
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// containerPID finds the host PID of a pod's container through the node's containerd.
func (r *realNode) containerPID(t *testing.T, pod *corev1.Pod, container string) int {
	t.Helper()
	var id string
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == container {
			id = strings.TrimPrefix(cs.ContainerID, "containerd://")
		}
	}
	sock := os.Getenv("CHAOS_AGENT_TEST_CONTAINERD")
	if id == "" || sock == "" {
		t.Fatalf("container %s of %s: ID %q, containerd socket %q (CHAOS_AGENT_TEST_CONTAINERD)", container, pod.Name, id, sock)
	}
	out, err := exec.Command("ctr", "-a", sock, "-n", "k8s.io", "tasks", "ls").CombinedOutput()
	if err != nil {
		t.Fatalf("ctr tasks ls: %v\n%s", err, out)
	}
	for _, l := range bytes.Split(out, []byte("\n")) {
		f := strings.Fields(string(l))
		if len(f) >= 3 && f[0] == id && f[2] == "RUNNING" {
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("container %s (%s) is not a running task:\n%s", container, id, out)
	return 0
}
