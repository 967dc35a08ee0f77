package runner

import (
	"slices"
	"strings"
	"testing"
	"time"

	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	"github.com/chaos-agent/chaos-agent/internal/testing/compat"
	"github.com/chaos-agent/chaos-agent/probes"
)

// TestParseCompatCorpus checks how `run` reads every piece of the compatibility corpus.
func TestParseCompatCorpus(t *testing.T) {
	t.Run("ChaosHub experiment", func(t *testing.T) {
		doc := compat.Load(t, compat.ChaosHub)
		doc = compat.SetParameter(t, doc, "adminModeNamespace", "chaos")
		m, err := Parse([]byte(doc), "default")
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Workflows) != 1 {
			t.Fatalf("%d workflows", len(m.Workflows))
		}
		wf := m.Workflows[0]
		if wf.Namespace != "chaos" {
			t.Errorf("Workflow kept in %q, want the admin-mode namespace", wf.Namespace)
		}
		if wf.Labels["subject"] != "kube-system_kube-proxy" {
			t.Errorf("subject label %q: not resolved", wf.Labels["subject"])
		}
		if got := Namespaces(m); !slices.Equal(got, []string{"chaos", "kube-system"}) {
			t.Errorf("namespaces %v: want the engine and Workflow namespace (chaos) and the target's (kube-system)", got)
		}
		w := strings.Join(m.Warnings, "\n")
		for _, want := range []string{"spec.serviceAccountName is ignored", "spec.securityContext is ignored"} {
			if !strings.Contains(w, want) {
				t.Errorf("warnings %q lack %q", w, want)
			}
		}
		// A typo in a parameter name is refused before anything is created, naming it.
		bad := strings.Replace(doc, "-n {{workflow.parameters.adminModeNamespace}}\"]", "-n {{workflow.parameters.adminNamespace}}\"]", 1)
		if _, err := Parse([]byte(bad), "default"); err == nil || !strings.Contains(err.Error(), `no parameter "adminNamespace"`) {
			t.Errorf("typo: %v", err)
		}
		// So is a parameter the metadata uses and the Workflow does not define.
		bad = strings.Replace(doc, "- name: appNamespace\n", "- name: appNS\n", 1)
		if _, err := Parse([]byte(bad), "default"); err == nil || !strings.Contains(err.Error(), `{{workflow.parameters.appNamespace}} in metadata.labels.subject`) {
			t.Errorf("undefined parameter in a label: %v", err)
		}
	})
	t.Run("ChaosCenter workflow", func(t *testing.T) {
		doc := compat.Load(t, compat.ChaosCenter, "CHAOS_NS", "chaos", "APP_NS", "shop", "INFRA_ID", "infra-1")
		_, err := Parse([]byte(doc), "default")
		if err == nil || !strings.Contains(err.Error(), "probe(s) cart-answers") {
			t.Fatalf("unexpanded probeRef: %v", err)
		}
		doc = compat.ExpandProbeRefs(t, doc, compat.Load(t, compat.Probes, "APP_NS", "shop"))
		m, err := Parse([]byte(doc), "default")
		if err != nil {
			t.Fatal(err)
		}
		engines := workflowEngines(m.Workflows[0])
		if len(engines) != 2 {
			t.Fatalf("%d engines", len(engines))
		}
		for _, e := range engines {
			if e.Namespace != "chaos" || e.Spec.AppInfo.AppNS != "shop" || len(e.Spec.Experiments[0].Spec.Probe) != 1 {
				t.Errorf("engine %s: namespace %q appns %q probes %v", e.GenerateName, e.Namespace, e.Spec.AppInfo.AppNS, e.Spec.Experiments[0].Spec.Probe)
			}
		}
		if got := Namespaces(m); !slices.Equal(got, []string{"chaos", "shop"}) {
			t.Errorf("namespaces %v", got)
		}
		if l := m.Workflows[0].Labels; l["workflow_id"] == "" || l["infra_id"] != "infra-1" {
			t.Errorf("labels %v", l)
		}
	})
	t.Run("CronWorkflow", func(t *testing.T) {
		m, err := Parse([]byte(compat.Load(t, compat.CronWorkflow, "CHAOS_NS", "chaos", "APP_NS", "shop", "INFRA_ID", "infra-1")), "default")
		if err != nil {
			t.Fatal(err)
		}
		wf := m.Workflows[0]
		if wf.Name != "cart-nightly" || wf.Labels["subject"] != "shop_cart" || wf.Labels["workflow_id"] == "" {
			t.Errorf("workflow %s labels %v", wf.Name, wf.Labels)
		}
		if !strings.Contains(strings.Join(m.Warnings, "\n"), `spec.schedule "* * * * *"`) {
			t.Errorf("warnings %v lack the schedule", m.Warnings)
		}
	})
	t.Run("ChaosEngines only", func(t *testing.T) {
		m, err := Parse([]byte(compat.Load(t, compat.Engines, "CHAOS_NS", "chaos", "APP_NS", "shop", "VICTIM_POD", "cart-1", "NODE_NAME", "n")), "default")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range m.Engines {
			names = append(names, e.Name)
		}
		if !slices.Equal(names, []string{"target-pods", "node-label", "serial", "ramp-no-force"}) || len(m.Experiments) != 0 {
			t.Errorf("engines %v, experiments %d", names, len(m.Experiments))
		}
		if got := Namespaces(m); !slices.Equal(got, []string{"chaos", "shop"}) {
			t.Errorf("namespaces %v", got)
		}
		// An engine file has no workflow parameters: a reference is an error naming it.
		bad := strings.Replace(compat.Load(t, compat.Engines), "namespace: CHAOS_NS", "namespace: '{{workflow.parameters.adminModeNamespace}}'", 1)
		if _, err := Parse([]byte(bad), "default"); err == nil || !strings.Contains(err.Error(), "{{workflow.parameters.adminModeNamespace}}") {
			t.Errorf("parameter in an engine file: %v", err)
		}
	})
	t.Run("Litmus 2.x engine", func(t *testing.T) {
		doc := compat.Load(t, compat.Litmus2, "CHAOS_NS", "chaos", "APP_NS", "shop")
		m, err := Parse([]byte(doc), "default")
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Engines) != 1 || m.Engines[0].Spec.JobCleanUpPolicy != "delete" || m.Engines[0].Spec.Components.Runner.Image == "" {
			t.Fatalf("engines %+v", m.Engines)
		}
		var raw map[string]any
		if err := yaml.Unmarshal([]byte(doc), &raw); err != nil {
			t.Fatal(err)
		}
		w := strings.Join(litmus.EngineWarnings(raw), "\n")
		for _, want := range []string{"spec.annotationCheck", "spec.components", "spec.jobCleanUpPolicy", "spec.monitoring", "spec.experiments[0].spec.components.nodeSelector"} {
			if !strings.Contains(w, want) {
				t.Errorf("warnings %q lack %s", w, want)
			}
		}
	})
}

// TestRunCompatCorpus runs the corpus's pieces through `run` (the native workflow engine) on
// the local cluster, each with its engines in one namespace and the application in another
// (admin mode). The ChaosHub piece runs through the CLI (cmd/chaos-agent/app).
func TestRunCompatCorpus(t *testing.T) {
	c := testcluster.Get(t)
	argo, err := argoclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := kube.NewClients(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	authz, err := authorizationv1.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, doc, chaosNS string) (*Result, string) {
		t.Helper()
		m, err := Parse([]byte(doc), chaosNS)
		if err != nil {
			t.Fatal(err)
		}
		log := zaptest.NewLogger(t)
		progress := &syncBuffer{}
		res, err := Run(t.Context(), m, Options{Clients: clients, Argo: argo, Access: authz.SelfSubjectAccessReviews(),
			Impersonating: kube.NewServiceAccountClients(c.Config), Probes: probes.NewRunner(probes.Options{Clock: clock.RealClock{}, Log: log}),
			Log: log, Timeout: 3 * time.Minute, Progress: progress})
		if err != nil {
			t.Fatalf("run: %v\n%s", err, progress.String())
		}
		for _, f := range res.Faults {
			if f.Verdict != "Pass" {
				t.Errorf("fault %s: verdict %s (%s)\n%s", f.Engine, f.Verdict, f.FailStep, progress.String())
			}
		}
		return res, progress.String()
	}
	namespaces := func(t *testing.T, install bool) (string, string) {
		chaosNS, appNS := c.Namespace(t), c.Namespace(t)
		compat.Setup(t, c, chaosNS, appNS, install)
		return chaosNS, appNS
	}

	t.Run("ChaosCenter workflow", func(t *testing.T) {
		chaosNS, appNS := namespaces(t, false)
		doc := compat.Load(t, compat.ChaosCenter, "CHAOS_NS", chaosNS, "APP_NS", appNS, "INFRA_ID", "compat-infra")
		doc = compat.ExpandProbeRefs(t, doc, compat.Load(t, compat.Probes, "APP_NS", appNS))
		res, progress := run(t, doc, chaosNS)
		weights := map[int]bool{}
		for _, f := range res.Faults {
			weights[f.Weight] = true
			if len(f.Probes) != 1 || f.Probes[0].Status.Verdict != "Passed" {
				t.Errorf("fault %s probes %+v", f.Engine, f.Probes)
			}
		}
		if len(res.Faults) != 2 || !weights[10] || !weights[5] || res.Score != 100 {
			t.Fatalf("faults %+v score %v\n%s", res.Faults, res.Score, progress)
		}
		// The cleanup step deleted the run's engines by their workflow_run_id label.
		engines, err := c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(chaosNS).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(engines.Items) != 0 {
			t.Errorf("%d engines left after cleanup (%v)", len(engines.Items), err)
		}
	})
	t.Run("CronWorkflow", func(t *testing.T) {
		chaosNS, appNS := namespaces(t, false)
		res, progress := run(t, compat.Load(t, compat.CronWorkflow, "CHAOS_NS", chaosNS, "APP_NS", appNS, "INFRA_ID", "compat-infra"), chaosNS)
		if len(res.Faults) != 1 || !strings.Contains(progress, "spec.schedule") {
			t.Errorf("faults %+v\n%s", res.Faults, progress)
		}
		wfs, err := argo.ArgoprojV1alpha1().Workflows(chaosNS).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(wfs.Items) != 1 || wfs.Items[0].Labels["subject"] != appNS+"_cart" || wfs.Items[0].Status.Phase != "Succeeded" {
			t.Errorf("workflows %+v (%v)", wfs, err)
		}
	})
	t.Run("ChaosEngines only", func(t *testing.T) {
		chaosNS, appNS := namespaces(t, true)
		pods, err := c.Client.CoreV1().Pods(appNS).List(t.Context(), metav1.ListOptions{LabelSelector: "app=cart"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatal(pods, err)
		}
		victim := pods.Items[0].Name
		fronts, err := c.Client.CoreV1().Pods(appNS).List(t.Context(), metav1.ListOptions{LabelSelector: "app=front"})
		if err != nil || len(fronts.Items) == 0 {
			t.Fatal(fronts, err)
		}
		node := fronts.Items[0].Spec.NodeName
		offNode := map[string]bool{} // front pods NODE_LABEL must spare
		for _, p := range fronts.Items {
			if p.Spec.NodeName != node {
				offNode[p.Name] = true
			}
		}
		res, progress := run(t, compat.Load(t, compat.Engines, "CHAOS_NS", chaosNS, "APP_NS", appNS, "VICTIM_POD", victim, "NODE_NAME", node), chaosNS)
		if len(res.Faults) != 4 {
			t.Fatalf("faults %+v\n%s", res.Faults, progress)
		}
		for _, f := range res.Faults {
			if len(f.Recoveries) == 0 {
				t.Errorf("fault %s deleted nothing", f.Engine)
			}
			for _, r := range f.Recoveries {
				switch {
				case r.Namespace != "" && r.Namespace != appNS:
					t.Errorf("fault %s deleted %s/%s", f.Engine, r.Namespace, r.Pod)
				case f.Engine == "target-pods" && r.Pod != victim:
					t.Errorf("TARGET_PODS=%s deleted %s", victim, r.Pod)
				case f.Engine == "node-label" && offNode[r.Pod]:
					t.Errorf("NODE_LABEL=kubernetes.io/hostname=%s deleted %s, which runs on another node", node, r.Pod)
				}
			}
		}
	})
	t.Run("Litmus 2.x engine", func(t *testing.T) {
		chaosNS, appNS := namespaces(t, true)
		res, progress := run(t, compat.Load(t, compat.Litmus2, "CHAOS_NS", chaosNS, "APP_NS", appNS), chaosNS)
		if len(res.Faults) != 1 {
			t.Fatalf("faults %+v", res.Faults)
		}
		for _, want := range []string{"Unsupported", "spec.annotationCheck is ignored", "spec.components is ignored", "does not read LIB"} {
			if !strings.Contains(progress, want) {
				t.Errorf("progress lacks %q:\n%s", want, progress)
			}
		}
	})
}
