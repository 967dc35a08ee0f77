package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
	"github.com/chaos-agent/chaos-agent/internal/score"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// Set by hack/e2e.sh (make e2e).
const (
	envSeed  = "CHAOS_AGENT_E2E_SEED"  // 1: run the seed tutorial
	envDevcp = "CHAOS_AGENT_E2E_DEVCP" // the hack/devcp binary
)

const seedNS = "hce" // the tutorial's namespace: the install's, the application's, the Workflow's

// TestSeedTutorial is `make e2e`: the seed tutorial on real containers. The application
// (cartservice and frontend Deployments from the e2e app image, each behind a Service) runs in
// hce; chaos-agent is installed from the cluster-scope infra.yaml that `chaos-agent manifest`
// renders and linked to hack/devcp, which the agent's pod reaches on the node's address. The
// control plane sends the tutorial's Workflow with 1 and then 2 cartservice replicas: the
// Continuous http probe on http://frontend/cart (cluster DNS, from the agent's pod) fails with 1
// (score 0) and passes with 2 (score 100). Then a run is stopped with workflow_run_stop. All of it
// twice: with Argo's workflow-controller (the manifest's own Deployment, real argoexec step
// pods) and with --workflow-engine=native.
//
// It needs a cluster of its own (hce is the install's namespace): hack/e2e.sh starts one and sets
// CHAOS_AGENT_E2E_SEED=1; make test runs hack/e2e.sh after the other tests.
func TestSeedTutorial(t *testing.T) {
	if os.Getenv(envSeed) != "1" {
		t.Skip("the seed tutorial needs a cluster of its own: make e2e (hack/e2e.sh, which make test runs) sets " + envSeed + "=1")
	}
	r := getRealNode(t)
	devcp := os.Getenv(envDevcp)
	if devcp == "" {
		t.Fatalf("%s is unset (hack/e2e.sh builds hack/devcp)", envDevcp)
	}
	var rows []seedRow
	for i, engine := range []string{"argo", "native"} {
		ok := t.Run(engine, func(t *testing.T) {
			rows = append(rows, seedEngine(t, r, devcp, engine, 9002+i)...)
		})
		if !ok {
			break
		}
	}
	say("result")
	fmt.Printf("%-7s %-9s %-10s %-29s %-8s %-8s %-8s %s\n", "ENGINE", "REPLICAS", "WORKFLOW", "RUN", "VERDICT", "PROBE", "PSP", "RESILIENCE SCORE")
	for _, row := range rows {
		fmt.Printf("%-7s %-9s %-10s %-29s %-8s %-8s %-8s %s\n", row.engine, row.replicas, row.wfPhase, row.runPhase, row.verdict, row.probe, row.psp, row.score)
	}
}

type seedRow struct {
	engine, replicas, wfPhase, runPhase, verdict, probe, psp, score string
}

// say prints a heading on standard output (the e2e run's transcript).
func say(format string, a ...any) {
	fmt.Printf("\n== %s %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func seedEngine(t *testing.T, r *realNode, devcpBin, engine string, port int) []seedRow {
	infraID, key := "e2e-seed-"+engine+"-"+randHex(4), "initial-key-"+randHex(12)
	cpURL := fmt.Sprintf("http://%s:%d", r.nodeIP, port)

	say("%s: hack/devcp (the control plane) on %s, reachable from the pods", engine, cpURL)
	cp := startDevcp(t, devcpBin, fmt.Sprintf("%s:%d", r.nodeIP, port), infraID, key)

	say("%s: chaos-agent manifest --scope cluster --workflow-engine %s | kubectl apply -f -", engine, engine)
	file := filepath.Join(t.TempDir(), "infra.yaml")
	r.cmd(t, nil, r.agentBin, "manifest", "--scope", "cluster", "--namespace", seedNS, "--workflow-engine", engine,
		"--image", r.agentImage, "--argo-image", r.argoImage, "--argo-exec-image", r.execImage, "--drop-in-step-images",
		"--server-addr", cpURL+"/query", "--infra-id", infraID, "--access-key", key, "-o", file)
	r.cmd(t, nil, r.kubectl, "apply", "-f", file)
	t.Cleanup(func() { r.uninstall(t) })
	t0 := time.Now()
	agent := r.readyPod(t, seedNS, agentSelector, 2*time.Minute)
	fmt.Printf("   chaos-agent %s Ready %.1fs after kubectl apply\n", agent.Name, time.Since(t0).Seconds())
	if engine == "argo" {
		wc := r.readyPod(t, seedNS, "app=workflow-controller", 2*time.Minute)
		fmt.Printf("   workflow-controller %s Ready\n", wc.Name)
	} else if pods, _ := r.c.Client.CoreV1().Pods(seedNS).List(t.Context(), metav1.ListOptions{LabelSelector: "app=workflow-controller"}); len(pods.Items) > 0 {
		t.Errorf("--workflow-engine=native rendered a workflow-controller: %s", describePods(pods.Items))
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", r.logs(seedNS, agent.Name, false))
		}
	})
	testcluster.Eventually(t, time.Minute, "the agent confirmed and connected", func(ctx context.Context) (bool, error) {
		var st struct{ Connected, Confirmed bool }
		err := cp.get(ctx, "/admin/infra", &st)
		return err == nil && st.Connected && st.Confirmed, err
	})
	fmt.Println("   the agent confirmed its registration (access key rotated) and subscribed")

	say("%s: the application in %s: cartservice and frontend (e2e app), each behind a Service", engine, seedNS)
	r.deploySeedApp(t)

	var rows []seedRow
	for _, replicas := range []int32{1, 2} {
		say("%s: run with %d cartservice replica(s): the control plane sends the tutorial's Workflow", engine, replicas)
		r.scale(t, "cartservice", replicas)
		res := r.seedRun(t, cp, engine, infraID, fmt.Sprintf("seed-%s-%d-%s", engine, replicas, randHex(3)), "30", "10", nil)
		want := map[int32]string{1: "0", 2: "100"}[replicas]
		if res.score != want {
			t.Errorf("%s, %d replica(s): score %s, want %s (verdict %s, probe %s)", engine, replicas, res.score, want, res.verdict, res.probe)
		}
		if res.wfPhase != "Succeeded" {
			t.Errorf("%s, %d replica(s): Workflow phase %s, want Succeeded", engine, replicas, res.wfPhase)
		}
		res.engine, res.replicas = engine, fmt.Sprint(replicas)
		rows = append(rows, res)
	}

	say("%s: a run stopped by the control plane (workflow_run_stop) during the fault", engine)
	res := r.seedRun(t, cp, engine, infraID, fmt.Sprintf("seed-%s-stop-%s", engine, randHex(3)), "60", "3", &stopAfterDeletions{n: 2})
	if res.wfPhase != "Failed" && res.wfPhase != "Stopped" {
		t.Errorf("%s: stopped Workflow phase %s, want Failed or Stopped", engine, res.wfPhase)
	}
	if res.runPhase != "Stopped" {
		t.Errorf("%s: the control plane got run phase %s for the stopped run, want Stopped", engine, res.runPhase)
	}
	res.engine, res.replicas = engine, "2 (stop)"
	rows = append(rows, res)
	return rows
}

// devcp is a running hack/devcp process.
type devcp struct {
	base string
}

func (d *devcp) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v)
}

// action pushes an action to the agent, as ChaosCenter does.
func (d *devcp) action(ctx context.Context, act map[string]string) error {
	body, _ := json.Marshal(act)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.base+"/admin/action", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("POST /admin/action: HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

type devcpRun struct {
	NotifyID        string         `json:"notifyID"`
	ExperimentRunID string         `json:"experimentRunID"`
	Completed       bool           `json:"completed"`
	Phase           string         `json:"phase"`
	Execution       map[string]any `json:"execution"`
}

func startDevcp(t *testing.T, bin, addr, infraID, key string) *devcp {
	t.Helper()
	logf, err := os.CreateTemp("", "e2e-devcp-*.log")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--addr", addr, "--infra-id", infraID, "--access-key", key, "--keepalive", "1s", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("devcp log:\n%s", b)
		}
		_ = os.Remove(logf.Name())
	})
	d := &devcp{base: "http://" + addr}
	testcluster.Eventually(t, 30*time.Second, "devcp listening", func(ctx context.Context) (bool, error) {
		var st map[string]any
		err := d.get(ctx, "/admin/infra", &st)
		return err == nil, err
	})
	return d
}

// deploySeedApp deploys the tutorial's two services (as the Online Boutique names them) from the
// e2e app image: the frontend's /cart calls http://cartservice/cart and answers 503 when no
// cartservice pod answers. cartservice takes 3 s to become Ready after it starts, as a real
// service warming up does.
func (r *realNode) deploySeedApp(t *testing.T) {
	t.Helper()
	var b strings.Builder
	for _, app := range []struct{ name, env string }{
		{"cartservice", "[{name: ROLE, value: cartservice}, {name: READY_DELAY, value: 3s}, {name: DRAIN_DELAY, value: 2s}]"},
		{"frontend", "[{name: ROLE, value: frontend}, {name: CART_URL, value: 'http://cartservice/cart'}]"},
	} {
		fmt.Fprintf(&b, `apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s, labels: {app: %[1]s}}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 10
      securityContext: {runAsNonRoot: true, runAsUser: 65532}
      containers:
      - name: server
        image: %[3]q
        imagePullPolicy: IfNotPresent
        env: %[4]s
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /readyz, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
`, app.name, seedNS, r.appImage, app.env)
	}
	r.cmd(t, []byte(b.String()), r.kubectl, "apply", "-f", "-")
	r.waitApp(t, seedNS, "cartservice", 1)
	r.waitApp(t, seedNS, "frontend", 1)
	for _, name := range []string{"cartservice", "frontend"} {
		svc, err := r.c.Client.CoreV1().Services(seedNS).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("   Service %-12s %s:80 → pods :8080\n", name, svc.Spec.ClusterIP)
	}
}

func (r *realNode) scale(t *testing.T, name string, replicas int32) {
	t.Helper()
	r.cmd(t, nil, r.kubectl, "-n", seedNS, "scale", "deployment/"+name, fmt.Sprintf("--replicas=%d", replicas))
	r.waitApp(t, seedNS, name, replicas)
	time.Sleep(4 * time.Second) // READY_DELAY: let a new replica pass it, and kube-proxy program its endpoint
	pods, err := r.c.Client.CoreV1().Pods(seedNS).List(t.Context(), metav1.ListOptions{LabelSelector: "app in (cartservice,frontend)"})
	if err != nil {
		t.Fatal(err)
	}
	printPods(pods.Items)
}

// printPods prints pods with their node and containerd container IDs.
func printPods(pods []corev1.Pod) {
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for _, p := range pods {
		for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			id := cs.ContainerID
			if len(id) > len("containerd://")+16 {
				id = id[:len("containerd://")+16] + "…"
			}
			fmt.Printf("   pod %-58s %-10s %-5s %s\n", p.Name, p.Spec.NodeName, cs.Name, id)
		}
	}
}

// stopAfterDeletions stops the run once n cartservice pods were deleted.
type stopAfterDeletions struct{ n int }

// seedRun sends the tutorial's Workflow (its pod-delete duration and interval replaced) and
// follows it to its end: the step pods with their containerd container IDs, the run events the
// control plane receives, the Workflow's phase and the resilience score.
func (r *realNode) seedRun(t *testing.T, cp *devcp, engine, infraID, notify, duration, interval string, stop *stopAfterDeletions) seedRow {
	t.Helper()
	raw, err := os.ReadFile("../runner/testdata/seed-workflow.json")
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("my-pod-delete-experiment-%d", time.Now().UnixMilli())
	text := strings.NewReplacer(
		`"name": "my-pod-delete-experiment"`, `"name": "`+name+`"`,
		`e640346b-bff5-40db-a828-68b44e06e2d1`, infraID,
		`TOTAL_CHAOS_DURATION\r\n              value: \"30\"`, `TOTAL_CHAOS_DURATION\r\n              value: \"`+duration+`\"`,
		`CHAOS_INTERVAL\r\n              value: \"10\"`, `CHAOS_INTERVAL\r\n              value: \"`+interval+`\"`,
		// The tutorial's probe allows 15 ms per request: a latency objective that a shared
		// 2-core CI machine (load average above 20 while the other tests build) cannot meet
		// even with every replica up. The e2e checks availability, as the tutorial's story does:
		// 2 s, longer than the frontend's own 1 s timeout on cartservice (then it answers 503).
		`responseTimeout: 15\r\n`, `responseTimeout: 2000\r\n`,
	).Replace(string(raw))
	if !strings.Contains(text, `value: \"`+duration+`\"`) || !strings.Contains(text, `responseTimeout: 2000`) {
		t.Fatal("the seed Workflow's TOTAL_CHAOS_DURATION was not found")
	}
	text = strings.Replace(text, `"labels": {`, `"labels": {"notify_id": "`+notify+`",`, 1)

	steps := r.watchStepPods(t, name)
	victims := r.watchPods(t, seedNS, "app=cartservice")
	faultStopped := r.watchFaultStopped(t)
	sent := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := cp.action(ctx, map[string]string{"requestType": "create", "k8sManifest": text, "namespace": seedNS, "username": "e2e"}); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("   cp     sent Workflow %s (create, notify_id %s)\n", name, notify)

	var stoppedAt time.Time
	seen := 0
	var last devcpRun
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no completed run event for %s within 4 minutes", notify)
		}
		var runs []devcpRun
		if err := cp.get(t.Context(), "/admin/runs", &runs); err != nil {
			t.Fatal(err)
		}
		var mine []devcpRun
		for _, run := range runs {
			if run.NotifyID == notify {
				mine = append(mine, run)
			}
		}
		for _, run := range mine[min(seen, len(mine)):] {
			fmt.Printf("   cp     run event: phase %-10s %s\n", run.Phase, nodesLine(run.Execution))
		}
		seen = len(mine)
		if len(mine) > 0 {
			last = mine[len(mine)-1]
		}
		if last.Completed {
			break
		}
		if stop != nil && stoppedAt.IsZero() && len(victims.deletedBetween(sent, time.Now())) >= stop.n && last.ExperimentRunID != "" {
			stoppedAt = time.Now()
			sctx, scancel := context.WithTimeout(t.Context(), 20*time.Second)
			err := cp.action(sctx, map[string]string{"requestType": "workflow_run_stop", "externalData": last.ExperimentRunID, "namespace": seedNS, "username": "e2e"})
			scancel()
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("   cp     sent workflow_run_stop for run %s after %d deletions\n", last.ExperimentRunID, stop.n)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if stop != nil && stoppedAt.IsZero() {
		t.Errorf("the run ended before it could be stopped")
	}

	row := seedRow{runPhase: last.Phase}
	var why string
	row.verdict, row.probe, row.psp, why = chaosData(last.Execution)
	if why != "" {
		fmt.Printf("   probe http-cartservice-probe: %s\n", why)
	}
	row.score = fmt.Sprintf("%.0f", score.Resilience([]score.Fault{{Name: "pod-delete-ji5", Weight: 10, PSP: row.psp}}))

	testcluster.Eventually(t, time.Minute, "Workflow "+name+" finished", func(ctx context.Context) (bool, error) {
		u, err := r.c.Dynamic.Resource(workflowGVR).Namespace(seedNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
		row.wfPhase = phase
		if phase == "Succeeded" || phase == "Failed" || phase == "Error" {
			fmt.Printf("   %-6s Workflow %s: %s %s\n", engine, name, phase, msg)
			return true, nil
		}
		return false, fmt.Errorf("phase %q", phase)
	})
	if engine == "argo" {
		fmt.Println("   the step pods Argo ran (workflow-controller + argoexec), as containerd containers:")
		pods := steps.pods()
		printPods(pods)
		steps.mu.Lock()
		for name, log := range steps.failed {
			if stop != nil { // Argo's Stop strategy terminates the running step
				fmt.Printf("   step pod %s ended Failed (stopped); its main container's log:\n%s", name, indent(log))
				continue
			}
			t.Errorf("step pod %s failed; its main container's log:\n%s", name, log)
		}
		steps.mu.Unlock()
		if len(pods) == 0 {
			t.Error("no step pod ran")
		}
		for _, p := range pods {
			if p.Spec.NodeName != r.node {
				t.Errorf("step pod %s ran on %q, want the real node", p.Name, p.Spec.NodeName)
			}
			for _, cs := range p.Status.ContainerStatuses {
				if !strings.HasPrefix(cs.ContainerID, "containerd://") {
					t.Errorf("step pod %s container %s: ID %q, not a containerd container", p.Name, cs.Name, cs.ContainerID)
				}
			}
		}
	}
	term, _, _ := victims.snapshot()
	var deleted []string
	for n, at := range term {
		deleted = append(deleted, fmt.Sprintf("%s@+%.1fs", n, at.Sub(sent).Seconds()))
	}
	sort.Strings(deleted)
	fmt.Printf("   cartservice pods deleted by the fault: %d %v\n", len(deleted), deleted)
	if stop != nil && !stoppedAt.IsZero() {
		var late []string
		var lastDel time.Time
		for n, at := range term {
			if at.After(lastDel) {
				lastDel = at
			}
			if at.After(stoppedAt.Add(time.Second)) {
				late = append(late, n)
			}
		}
		after := lastDel.Sub(stoppedAt)
		fmt.Printf("   stop: last deletion %+.2fs after workflow_run_stop was sent; deletions later than 1 s: %v\n", after.Seconds(), late)
		if len(late) > 0 {
			t.Errorf("pods deleted more than 1 s after the stop: %v", late)
		}
		if at := faultStopped(); at.IsZero() {
			t.Errorf("the fault's ChaosResult never reached phase Stopped")
		} else {
			lat := at.Sub(stoppedAt)
			fmt.Printf("   stop latency: workflow_run_stop sent → fault ended, ChaosResult Stopped: %.2fs\n", lat.Seconds())
			if lat > time.Second {
				t.Errorf("the fault ended %.2fs after workflow_run_stop, want within 1 s", lat.Seconds())
			}
		}
		r.printResults(t, stoppedAt)
	}
	return row
}

// printResults prints the ChaosResults written since the run started.
func (r *realNode) printResults(t *testing.T, stoppedAt time.Time) {
	t.Helper()
	list, err := r.c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(seedNS).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range list.Items {
		phase, _, _ := unstructured.NestedString(u.Object, "status", "experimentStatus", "phase")
		verdict, _, _ := unstructured.NestedString(u.Object, "status", "experimentStatus", "verdict")
		if u.GetCreationTimestamp().Time.Before(stoppedAt.Add(-2 * time.Minute)) {
			continue
		}
		fmt.Printf("   ChaosResult %s: phase %s, verdict %s\n", u.GetName(), phase, verdict)
	}
}

// watchFaultStopped watches the ChaosResults of hce; the function it returns tells when one was
// first seen with phase Stopped, which the executor writes once the fault's loop has ended (zero:
// never).
func (r *realNode) watchFaultStopped(t *testing.T) func() time.Time {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := r.c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(seedNS).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var mu sync.Mutex
	var at time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			phase, _, _ := unstructured.NestedString(u.Object, "status", "experimentStatus", "phase")
			mu.Lock()
			if phase == "Stopped" && at.IsZero() {
				at = time.Now()
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
}

// stepPods records the pods of one Workflow as they run (Argo deletes them at the Workflow's end:
// podGC OnWorkflowCompletion), with the last status seen.
type stepPods struct {
	mu     sync.Mutex
	last   map[string]*corev1.Pod
	failed map[string]string // the main container's log of each failed step pod
}

func (s *stepPods) pods() []corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []corev1.Pod
	for _, p := range s.last {
		out = append(out, *p)
	}
	return out
}

func (r *realNode) watchStepPods(t *testing.T, workflow string) *stepPods {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := r.c.Client.CoreV1().Pods(seedNS).Watch(ctx, metav1.ListOptions{LabelSelector: "workflows.argoproj.io/workflow=" + workflow})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &stepPods{last: map[string]*corev1.Pod{}, failed: map[string]string{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			s.mu.Lock()
			if prev := s.last[p.Name]; prev == nil || containerIDs(p) >= containerIDs(prev) {
				s.last[p.Name] = p
			}
			_, logged := s.failed[p.Name]
			if p.Status.Phase == corev1.PodFailed && !logged {
				s.failed[p.Name] = "" // Argo deletes the pod at the Workflow's end: read its log now
				s.mu.Unlock()
				b, err := r.c.Client.CoreV1().Pods(seedNS).GetLogs(p.Name, &corev1.PodLogOptions{Container: "main"}).DoRaw(ctx)
				s.mu.Lock()
				s.failed[p.Name] = string(b)
				if err != nil {
					s.failed[p.Name] = err.Error()
				}
			}
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return s
}

func containerIDs(p *corev1.Pod) int {
	n := 0
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if cs.ContainerID != "" {
			n++
		}
	}
	return n
}

// uninstall deletes what the cluster-scope install created (the namespace, with the
// application, and the cluster roles) and waits until the namespace is gone.
func (r *realNode) uninstall(t *testing.T) {
	if os.Getenv("CHAOS_AGENT_TEST_KEEP_NAMESPACES") == "1" {
		t.Logf("keeping namespace %s", seedNS)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, name := range []string{"chaos-agent-" + seedNS, "litmus-admin-" + seedNS} {
		if err := r.c.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete ClusterRoleBinding %s: %v", name, err)
		}
		if err := r.c.Client.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete ClusterRole %s: %v", name, err)
		}
	}
	if err := r.c.Client.CoreV1().Namespaces().Delete(ctx, seedNS, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete namespace %s: %v", seedNS, err)
		return
	}
	for {
		_, err := r.c.Client.CoreV1().Namespaces().Get(ctx, seedNS, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if ctx.Err() != nil {
			t.Errorf("namespace %s still there after 2 minutes", seedNS)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// nodesLine summarises a run event's step nodes: name=phase.
func nodesLine(ex map[string]any) string {
	nodes, _ := ex["nodes"].(map[string]any)
	var parts []string
	for _, n := range nodes {
		nm, _ := n.(map[string]any)
		if ty := nm["type"]; ty == "Pod" || ty == "ChaosEngine" {
			parts = append(parts, fmt.Sprintf("%v=%v", nm["name"], nm["phase"]))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// chaosData returns the fault node's verdict, first probe verdict, probeSuccessPercentage and
// the probe's description.
func chaosData(ex map[string]any) (verdict, probe, psp, why string) {
	verdict, probe, psp = "-", "-", "0"
	nodes, _ := ex["nodes"].(map[string]any)
	for _, n := range nodes {
		nm, _ := n.(map[string]any)
		cd, ok := nm["chaosData"].(map[string]any)
		if !ok {
			continue
		}
		verdict, _ = cd["experimentVerdict"].(string)
		psp, _ = cd["probeSuccessPercentage"].(string)
		if res, ok := cd["chaosResult"].(map[string]any); ok {
			if st, ok := res["status"].(map[string]any); ok {
				if ps, ok := st["probeStatuses"].([]any); ok && len(ps) > 0 {
					p, _ := ps[0].(map[string]any)
					s, _ := p["status"].(map[string]any)
					probe, _ = s["verdict"].(string)
					why, _ = s["description"].(string)
				}
			}
		}
	}
	return verdict, probe, psp, why
}

func indent(s string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("        " + l + "\n")
	}
	return b.String()
}
