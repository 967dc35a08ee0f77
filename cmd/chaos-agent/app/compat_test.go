package app

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	"github.com/chaos-agent/chaos-agent/internal/testing/compat"
)

// TestRunChaosHubExperiment: the public ChaosHub pod-delete experiment, changed only in its
// parameter values (engine in the test's chaos namespace, application in kube-system as the
// file names it), runs through `chaos-agent run` with verdict Pass, exit 0 and a JUnit file.
func TestRunChaosHubExperiment(t *testing.T) {
	c := testcluster.Get(t)
	chaosNS, appNS := c.Namespace(t), c.Namespace(t)
	compat.Setup(t, c, chaosNS, appNS, false)
	doc := compat.SetParameter(t, compat.Load(t, compat.ChaosHub), "adminModeNamespace", chaosNS)
	doc = compat.SetParameter(t, doc, "appNamespace", compat.HubAppNamespace)
	dir := t.TempDir()
	file, junit := filepath.Join(dir, "experiment.yaml"), filepath.Join(dir, "report.xml")
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := Execute(t.Context(), []string{"run", "-f", file, "--kubeconfig", c.Kubeconfig, "--junit", junit},
		Env{Stdout: &out, Stderr: &errOut, LookupEnv: func(string) (string, bool) { return "", false }})
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "Pass") {
		t.Errorf("result table without Pass:\n%s", out.String())
	}
	for _, want := range []string{"pod-delete does not read KILL_COUNT", "spec.serviceAccountName is ignored", "Workflow argowf-chaos-pod-delete-"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, errOut.String())
		}
	}
	raw, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suite junitSuite
	if err := xml.Unmarshal(raw, &suite); err != nil || suite.Tests != 1 || suite.Failures != 0 || suite.Errors != 0 {
		t.Errorf("JUnit %+v (%v)\n%s", suite, err, raw)
	}
	argo, err := argoclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	wfs, err := argo.ArgoprojV1alpha1().Workflows(chaosNS).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(wfs.Items) != 1 {
		t.Fatalf("workflows %v (%v)", wfs, err)
	}
	if wf := wfs.Items[0]; wf.Labels["subject"] != "kube-system_kube-proxy" || wf.Status.Phase != "Succeeded" {
		t.Errorf("workflow labels %v phase %s %s", wf.Labels, wf.Status.Phase, wf.Status.Message)
	}
	// The cleanup step deleted the engine by its name.
	if _, err := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(chaosNS).Get(t.Context(), "kube-proxy-pod-delete-chaos", metav1.GetOptions{}); err == nil {
		t.Error("the cleanup step did not delete kube-proxy-pod-delete-chaos")
	}
}
