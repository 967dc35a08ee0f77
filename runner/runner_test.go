package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/agent"
	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

const experiment = `apiVersion: litmuschaos.io/v1alpha1
kind: ChaosExperiment
metadata: {name: pod-delete}
spec:
  definition:
    args: [-c, ./experiments -name pod-delete]
    env:
    - {name: FORCE, value: "true"}
    - {name: DEFAULT_HEALTH_CHECK, value: "false"}
`

func engineYAML(name, duration, expected string) string {
	return fmt.Sprintf(`apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata:
  generateName: %s-
  labels: {weight: "5"}
spec:
  appinfo: {applabel: app=web, appkind: deployment}
  chaosServiceAccount: chaos
  experiments:
  - name: pod-delete
    spec:
      components:
        env:
        - {name: TOTAL_CHAOS_DURATION, value: "%s"}
        - {name: CHAOS_INTERVAL, value: "1"}
      probe:
      - name: answer
        type: cmdProbe
        mode: EOT
        runProperties: {probeTimeout: 5s, interval: 1s}
        cmdProbe/inputs:
          command: echo 42
          comparator: {type: int, criteria: "==", value: "%s"}
`, name, duration, expected)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
		engines, exps     int
	}{
		{name: "engine and experiment", in: experiment + "---\n" + engineYAML("a", "1", "42"), engines: 1, exps: 1},
		{name: "workflow without steps", in: "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n", wantErr: "entrypoint"},
		{name: "other kind", in: "apiVersion: v1\nkind: Pod\n", wantErr: `kind "Pod"`},
		{name: "no engine", in: experiment, wantErr: "no ChaosEngine or Workflow"},
		{name: "bad yaml", in: "kind: [", wantErr: "document 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.in), "ns")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Engines) != tc.engines || len(m.Experiments) != tc.exps || m.Engines[0].Namespace != "ns" {
				t.Errorf("parsed %+v", m)
			}
		})
	}
}

func setup(t *testing.T) (Options, string) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, testcluster.Deployment(ns, "web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "chaos"}}, metav1.CreateOptions{})
	_, _ = c.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "chaos"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}}}}, metav1.CreateOptions{})
	_, _ = c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "chaos"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "chaos"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "chaos", Namespace: ns}}}, metav1.CreateOptions{})
	clients, err := kube.NewClients(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t)
	return Options{Clients: clients, Impersonating: kube.NewServiceAccountClients(c.Config),
		Probes: agent.NewProbeRunner(clock.RealClock{}, log, "", nil), Log: log, Timeout: 2 * time.Minute}, ns
}

func TestRunPassAndFail(t *testing.T) {
	o, ns := setup(t)
	var progress bytes.Buffer
	o.Progress = &progress
	o.TTY = true // the status line is drawn between event lines
	m, err := Parse([]byte(experiment+"---\n"+engineYAML("good", "2", "42")+"---\n"+engineYAML("bad", "2", "41")), ns)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(t.Context(), m, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Faults) != 2 {
		t.Fatalf("faults %+v", res.Faults)
	}
	byVerdict := map[string]FaultResult{}
	for _, f := range res.Faults {
		byVerdict[f.Verdict] = f
	}
	if byVerdict["Pass"].ProbeSuccessPercentage != "100" || byVerdict["Fail"].ProbeSuccessPercentage != "0" || byVerdict["Pass"].Weight != 5 {
		t.Errorf("faults %+v", res.Faults)
	}
	if res.Score != 50 || res.Errored() {
		t.Errorf("score %v errored %v, want 50 and false", res.Score, res.Errored())
	}
	for _, want := range []string{"ChaosEngine Name : good-", "ChaosInject", "victims: web-", "Summary", "\r\033[K⟳ "} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	var table, junit, js bytes.Buffer
	_ = res.WriteTable(&table)
	_ = res.WriteJUnit(&junit)
	_ = res.WriteJSON(&js)
	if !strings.Contains(table.String(), "resilience score  50.00") {
		t.Errorf("table:\n%s", table.String())
	}
	if !strings.Contains(junit.String(), `tests="4" failures="2" errors="0"`) || !strings.Contains(junit.String(), "probe answer") {
		t.Errorf("junit:\n%s", junit.String())
	}
	if !strings.Contains(js.String(), `"resilienceScore": 50`) {
		t.Errorf("json:\n%s", js.String())
	}
	t.Logf("\n%s", table.String())
}

func TestRunInterrupted(t *testing.T) {
	o, ns := setup(t)
	m, err := Parse([]byte(experiment+"---\n"+engineYAML("long", "120", "42")), ns)
	if err != nil {
		t.Fatal(err)
	}
	progress := &syncBuffer{}
	o.Progress = progress
	ctx, cancel := context.WithCancelCause(t.Context())
	go func() {
		for !strings.Contains(progress.String(), "ChaosInject") {
			time.Sleep(100 * time.Millisecond)
		}
		cancel(errors.New("SIGINT"))
	}()
	res, err := Run(ctx, m, o)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("error %v, want interrupted", err)
	}
	if len(res.Faults) != 1 || res.Faults[0].Verdict != "Stopped" {
		t.Errorf("faults %+v, want one Stopped", res.Faults)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestCheck(t *testing.T) {
	o, ns := setup(t)
	// The in-cluster agent's part: an executor for the namespace.
	ex, err := executor.New(executor.Options{Namespace: ns, Kube: o.Clients.Kube, Dynamic: o.Clients.Dynamic, Clients: o.Impersonating,
		Probes: o.Probes, Log: o.Log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = ex.Run(ctx) }()
	defer func() { cancel(); <-done }()
	m, err := Parse([]byte(experiment+"---\n"+engineYAML("checked", "1", "42")), ns)
	if err != nil {
		t.Fatal(err)
	}
	if err := apply(t.Context(), o.Clients, "chaosexperiments", ns, m.Experiments[0]); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	save := t.TempDir() + "/engine-name"
	verdict, err := Check(t.Context(), o.Clients, m.Engines[0], &out, save)
	if err != nil || verdict != "Pass" {
		t.Fatalf("Check: %q, %v", verdict, err)
	}
	name, _ := os.ReadFile(save)
	if !strings.HasPrefix(string(name), "checked-") || !strings.Contains(out.String(), "ChaosEngine Name : "+string(name)) {
		t.Errorf("saved name %q, output %q", name, out.String())
	}
}

// TestRunSeedWorkflow runs the seed tutorial's exact Workflow manifest with the native workflow
// engine (only the namespace and the probe's URL — a frontend stand-in — are changed): install,
// pod-delete with the Continuous probe on 2 cartservice replicas, cleanup → score 100.
func TestRunSeedWorkflow(t *testing.T) {
	o, ns := setup(t)
	c := testcluster.Get(t)
	argo, err := argoclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	o.Argo = argo
	ctx := t.Context()
	_, _ = c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"}}, metav1.CreateOptions{})
	_, _ = c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "chaos"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "litmus-admin", Namespace: ns}}}, metav1.CreateOptions{})
	d := testcluster.Deployment(ns, "cartservice", 2)
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	frontend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	defer frontend.Close()

	raw, err := os.ReadFile("testdata/seed-workflow.json")
	if err != nil {
		t.Fatal(err)
	}
	manifest := strings.ReplaceAll(string(raw), `"hce"`, `"`+ns+`"`)
	manifest = strings.ReplaceAll(manifest, `appns: hce`, `appns: `+ns)
	manifest = strings.ReplaceAll(manifest, `http://frontend/cart`, frontend.URL+"/cart")
	manifest = strings.ReplaceAll(manifest, `value: \"30\"`, `value: \"6\"`) // shorter than the tutorial's 30 s
	manifest = strings.ReplaceAll(manifest, `value: \"10\"`, `value: \"2\"`)
	m, err := Parse([]byte(manifest), ns)
	if err != nil {
		t.Fatal(err)
	}
	progress := &syncBuffer{}
	o.Progress = progress
	res, err := Run(ctx, m, o)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if len(res.Faults) != 1 || res.Faults[0].Verdict != "Pass" || res.Score != 100 || res.Faults[0].Weight != 10 {
		t.Fatalf("result %+v score %v\n%s", res.Faults, res.Score, progress.String())
	}
	wfs, err := argo.ArgoprojV1alpha1().Workflows(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(wfs.Items) != 1 || !strings.HasPrefix(wfs.Items[0].Name, "my-pod-delete-experiment-") {
		t.Fatalf("workflows %v (%v)", wfs, err)
	}
	wf := &wfs.Items[0]
	var pods []string
	for _, n := range wf.Status.Nodes {
		if n.Type == "Pod" {
			pods = append(pods, n.DisplayName+"="+string(n.Phase))
		}
	}
	if wf.Status.Phase != "Succeeded" || len(pods) != 3 {
		t.Errorf("workflow %s, pod nodes %v", wf.Status.Phase, pods)
	}
	// The cleanup step deleted the run's engine; the experiment was installed.
	engines, _ := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: "workflow_run_id=" + string(wf.UID)})
	if len(engines.Items) != 0 {
		t.Errorf("%d engines left after cleanup", len(engines.Items))
	}
	if _, err := c.Dynamic.Resource(litmus.ChaosExperimentGVR()).Namespace(ns).Get(ctx, "pod-delete", metav1.GetOptions{}); err != nil {
		t.Errorf("the install step did not install pod-delete: %v", err)
	}
	t.Logf("nodes %v\n%s", pods, progress.String())
}
