package app

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

func runSetup(t *testing.T) (*testcluster.Cluster, string) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, testcluster.Deployment(ns, "cartservice", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _ = c.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"}}, metav1.CreateOptions{})
	_, _ = c.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}}}}, metav1.CreateOptions{})
	_, _ = c.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "litmus-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "litmus-admin", Namespace: ns}}}, metav1.CreateOptions{})
	return c, ns
}

// seedFile writes the seed tutorial's Workflow for namespace ns, its probe pointed at a local
// command (no frontend: a cmdProbe would need one; the seed's httpProbe URL is replaced by a
// server answering `status`).
func seedFile(t *testing.T, ns, url, duration string) string {
	raw, err := os.ReadFile("../../../runner/testdata/seed-workflow.json")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(`"hce"`, `"`+ns+`"`, `appns: hce`, `appns: `+ns, `http://frontend/cart`, url,
		`value: \"30\"`, `value: \"`+duration+`\"`, `value: \"10\"`, `value: \"1\"`).Replace(string(raw))
	path := filepath.Join(t.TempDir(), "workflow.json")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type junitSuite struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Cases    []struct {
		Name    string    `xml:"name,attr"`
		Failure *struct{} `xml:"failure"`
	} `xml:"testcase"`
}

func TestRunCommand(t *testing.T) {
	c, ns := runSetup(t)
	ok := serveStatus(t, 200)
	down := serveStatus(t, 503)
	tests := []struct {
		name     string
		url      string
		minScore string
		output   string
		wantCode int
		failures int
	}{
		{name: "pass", url: ok, minScore: "100", wantCode: ExitOK},
		{name: "score below the threshold", url: down, minScore: "50", wantCode: ExitFailed, failures: 2},
		{name: "fail allowed by threshold 0, json", url: down, minScore: "0", output: "json", wantCode: ExitOK, failures: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			junit := filepath.Join(t.TempDir(), "report.xml")
			args := []string{"run", "-f", seedFile(t, ns, tc.url, "2"), "--kubeconfig", c.Kubeconfig, "--min-score", tc.minScore, "--junit", junit}
			if tc.output != "" {
				args = append(args, "-o", tc.output)
			}
			var out, errOut bytes.Buffer
			code := Execute(t.Context(), args, Env{Stdout: &out, Stderr: &errOut, LookupEnv: func(string) (string, bool) { return "", false }})
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, out.String(), errOut.String())
			}
			raw, err := os.ReadFile(junit)
			if err != nil {
				t.Fatal(err)
			}
			var suite junitSuite
			if err := xml.Unmarshal(raw, &suite); err != nil {
				t.Fatalf("JUnit does not parse: %v\n%s", err, raw)
			}
			if suite.Tests != 2 || suite.Failures != tc.failures || len(suite.Cases) != 2 {
				t.Errorf("JUnit %+v, want 2 tests (fault + probe), %d failures", suite, tc.failures)
			}
			if tc.output == "json" {
				var res struct {
					Score  *float64 `json:"resilienceScore"`
					Faults []struct {
						Engine, Verdict, ProbeSuccessPercentage string
						Weight                                  int
					} `json:"faults"`
				}
				if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Score == nil || len(res.Faults) != 1 || res.Faults[0].Weight != 10 {
					t.Errorf("JSON %s (%v)", out.String(), err)
				}
			}
		})
	}
}

func serveStatus(t *testing.T, code int) string {
	srv := newStatusServer(code)
	t.Cleanup(srv.Close)
	return srv.URL + "/cart"
}

// TestRunInterruptedWorkflow: SIGINT during a Workflow run: no deletion starts later than 1 s
// after it, and the Workflow is marked stopped.
func TestRunInterruptedWorkflow(t *testing.T) {
	c, ns := runSetup(t)
	w, err := c.Client.CoreV1().Pods(ns).Watch(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	var deletions []time.Time
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Deleted {
				mu.Lock()
				deletions = append(deletions, time.Now())
				mu.Unlock()
			}
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	var interrupted time.Time
	go func() {
		testcluster.Eventually(t, 60*time.Second, "chaos started", func(context.Context) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return len(deletions) > 0, nil
		})
		interrupted = time.Now()
		cancel() // what SIGINT does in main
	}()
	var out, errOut bytes.Buffer
	code := Execute(ctx, []string{"run", "-f", seedFile(t, ns, serveStatus(t, 200), "120"), "--kubeconfig", c.Kubeconfig},
		Env{Stdout: &out, Stderr: &errOut, LookupEnv: func(string) (string, bool) { return "", false }})
	if code != ExitFailed || !strings.Contains(errOut.String(), "interrupted") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut.String())
	}
	time.Sleep(2 * time.Second) // a later deletion would show up in the watch
	mu.Lock()
	for _, d := range deletions {
		if d.After(interrupted.Add(time.Second)) {
			t.Errorf("a pod was deleted %s after the interrupt", d.Sub(interrupted))
		}
	}
	mu.Unlock()
	argo, err := argoclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	wfs, err := argo.ArgoprojV1alpha1().Workflows(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(wfs.Items) != 1 || !strings.HasPrefix(wfs.Items[0].Name, "my-pod-delete-experiment-") {
		t.Fatalf("workflows %v (%v)", wfs, err)
	}
	wf := &wfs.Items[0]
	if wf.Spec.Shutdown != "Stop" || !strings.Contains(wf.Status.Message, "Stopped") {
		t.Errorf("workflow shutdown %q, message %q", wf.Spec.Shutdown, wf.Status.Message)
	}
	if !strings.Contains(out.String(), "Stopped") {
		t.Errorf("result table without the Stopped fault:\n%s", out.String())
	}
}
