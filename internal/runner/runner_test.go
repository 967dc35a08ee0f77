package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/agent"
	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/testcluster"
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
		{name: "workflow", in: "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n", wantErr: "native workflow engine"},
		{name: "other kind", in: "apiVersion: v1\nkind: Pod\n", wantErr: `kind "Pod"`},
		{name: "no engine", in: experiment, wantErr: "no ChaosEngine"},
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
		Probes: agent.NewProbeRunner(clock.RealClock{}, log), Log: log, Timeout: 2 * time.Minute}, ns
}

func TestRunPassAndFail(t *testing.T) {
	o, ns := setup(t)
	var progress bytes.Buffer
	o.Progress = &progress
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
	for _, want := range []string{"ChaosEngine Name : good-", "ChaosInject", "Summary"} {
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
