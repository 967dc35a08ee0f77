package subscriber

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	"github.com/chaos-agent/chaos-agent/internal/testing/compat"
	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
	"github.com/chaos-agent/chaos-agent/policy"
	"github.com/chaos-agent/chaos-agent/probes"
)

// TestServeCompatCorpus sends the corpus's pieces from the control plane to a cluster-wide
// agent (`serve`, Argo apply path): the Workflows run under Argo's workflow-controller (their
// fault steps played as litmus-checker would, kwok runs no container), the ChaosEngines under
// the executor; each ends with a verdict. Engines live in the agent's namespace, the
// applications in another (admin mode), which the cluster owner's policy allows.
func TestServeCompatCorpus(t *testing.T) {
	w := newWorld(t)
	w.engineSelector = "chaos-agent.io/test=" + w.ns
	w.probes = probes.NewRunner(probes.Options{Clock: clock.RealClock{}, Log: zaptest.NewLogger(t).Named("probes")})
	appNS := w.c.Namespace(t)
	w.chaosSetup()
	compat.Setup(t, w.c, w.ns, appNS, true)
	ctx := t.Context()
	if _, err := w.c.Client.CoreV1().ConfigMaps(w.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: policy.ConfigMapName},
		Data: map[string]string{"allowedNamespaces": strings.Join([]string{w.ns, appNS, compat.HubAppNamespace}, ","),
			"allowedKinds": "Workflow,CronWorkflow,ChaosEngine"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.argo.ArgoprojV1alpha1().CronWorkflows(w.ns).DeleteCollection(context.WithoutCancel(ctx), metav1.DeleteOptions{},
			metav1.ListOptions{LabelSelector: litmus.LabelInfraID + "=" + w.infra})
	})
	w.startAgent(true)
	w.waitConnected()

	// runWorkflow sends a Workflow run, plays its fault steps and waits for the completed run
	// event; it returns the chaos data of the run's ChaosEngine nodes.
	runWorkflow := func(t *testing.T, doc, name string, faults int) []map[string]any {
		t.Helper()
		notify := "notify-" + name
		sent := compat.ForKwok(t, compat.AsSentByControlPlane(t, doc, name, w.infra, "exp-"+name, notify))
		w.send(testcp.Action{RequestType: "create", K8sManifest: sent, Namespace: w.ns, Username: "admin"})
		return w.finishRun(t, name, faults)
	}

	t.Run("ChaosHub experiment", func(t *testing.T) {
		// The same Workflow `run` runs, changed only in its parameter values.
		doc := compat.SetParameter(t, compat.Load(t, compat.ChaosHub), "adminModeNamespace", w.ns)
		name := fmt.Sprintf("argowf-chaos-pod-delete-%d", time.Now().UnixMilli())
		data := runWorkflow(t, doc, name, 1)
		if data[0]["experimentVerdict"] != "Pass" || data[0]["engineName"] != "kube-proxy-pod-delete-chaos" {
			t.Errorf("chaos data %v", data[0])
		}
		wf, err := w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil || wf.Labels["subject"] != "kube-system_kube-proxy" {
			t.Errorf("workflow labels %v (%v): the subject label is resolved before create", wf.Labels, err)
		}
	})
	t.Run("ChaosCenter workflow", func(t *testing.T) {
		doc := compat.Load(t, compat.ChaosCenter, "CHAOS_NS", w.ns, "APP_NS", appNS, "INFRA_ID", w.infra)
		// The control plane fetches the referenced probes from its store into the run.
		doc = compat.ExpandProbeRefs(t, doc, compat.Load(t, compat.Probes, "APP_NS", appNS))
		name := fmt.Sprintf("cart-resilience-%d", time.Now().UnixMilli())
		data := runWorkflow(t, doc, name, 2)
		for _, d := range data {
			if d["experimentVerdict"] != "Pass" || d["probeSuccessPercentage"] != "100" {
				t.Errorf("chaos data %v", d)
			}
		}
	})
	t.Run("CronWorkflow", func(t *testing.T) {
		doc := compat.Load(t, compat.CronWorkflow, "CHAOS_NS", w.ns, "APP_NS", appNS, "INFRA_ID", w.infra)
		sent := compat.ForKwok(t, compat.AsSentByControlPlane(t, doc, "cart-nightly", w.infra, "exp-cron", ""))
		w.send(testcp.Action{RequestType: "create", K8sManifest: sent, Namespace: w.ns, Username: "admin"})
		var cwf *wfv1.CronWorkflow
		testcluster.Eventually(t, 30*time.Second, "CronWorkflow created", func(ctx context.Context) (bool, error) {
			var err error
			cwf, err = w.argo.ArgoprojV1alpha1().CronWorkflows(w.ns).Get(ctx, "cart-nightly", metav1.GetOptions{})
			return err == nil, nil
		})
		if cwf.Labels["subject"] != appNS+"_cart" {
			t.Errorf("CronWorkflow labels %v: the subject label is resolved before create", cwf.Labels)
		}
		// Argo spawns a run on the next minute.
		var spawned string
		testcluster.Eventually(t, 100*time.Second, "a Workflow spawned by the CronWorkflow", func(ctx context.Context) (bool, error) {
			wfs, err := w.argo.ArgoprojV1alpha1().Workflows(w.ns).List(ctx, metav1.ListOptions{LabelSelector: "workflows.argoproj.io/cron-workflow=cart-nightly"})
			if err != nil || len(wfs.Items) == 0 {
				return false, err
			}
			spawned = wfs.Items[0].Name
			return true, nil
		})
		// One run is enough: suspended as ChaosCenter disables a schedule (deleting the
		// CronWorkflow would garbage-collect the run it spawned).
		if _, err := w.argo.ArgoprojV1alpha1().CronWorkflows(w.ns).Patch(t.Context(), "cart-nightly", types.MergePatchType,
			[]byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		data := w.finishRun(t, spawned, 1)
		if data[0]["experimentVerdict"] != "Pass" {
			t.Errorf("chaos data %v", data[0])
		}
	})
	engines := func(t *testing.T, doc string, want map[string]string) {
		t.Helper()
		for _, d := range strings.Split(doc, "\n---\n") {
			var en map[string]any
			if err := yaml.Unmarshal([]byte(d), &en); err != nil {
				t.Fatal(err)
			}
			md := en["metadata"].(map[string]any)
			md["labels"] = map[string]any{"chaos-agent.io/test": w.ns}
			b, _ := yaml.Marshal(en)
			w.send(testcp.Action{RequestType: "create", K8sManifest: string(b), Namespace: w.ns, Username: "admin"})
		}
		for name, verdict := range want {
			en := w.waitEngine(t, name)
			if len(en.Status.Experiments) != 1 || string(en.Status.Experiments[0].Verdict) != verdict {
				t.Errorf("engine %s: status %+v, want verdict %s", name, en.Status, verdict)
			}
		}
	}
	t.Run("ChaosEngines only", func(t *testing.T) {
		pods, err := w.c.Client.CoreV1().Pods(appNS).List(t.Context(), metav1.ListOptions{LabelSelector: "app=cart"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatal(pods, err)
		}
		nodes, err := w.c.Client.CoreV1().Pods(appNS).List(t.Context(), metav1.ListOptions{LabelSelector: "app=front"})
		if err != nil || len(nodes.Items) == 0 {
			t.Fatal(nodes, err)
		}
		engines(t, compat.Load(t, compat.Engines, "CHAOS_NS", w.ns, "APP_NS", appNS, "VICTIM_POD", pods.Items[0].Name, "NODE_NAME", nodes.Items[0].Spec.NodeName),
			map[string]string{"target-pods": "Pass", "node-label": "Pass", "serial": "Pass", "ramp-no-force": "Pass"})
	})
	t.Run("Litmus 2.x engine", func(t *testing.T) {
		engines(t, compat.Load(t, compat.Litmus2, "CHAOS_NS", w.ns, "APP_NS", appNS), map[string]string{"cart-chaos-v2": "Pass"})
		evs, err := w.c.Client.CoreV1().Events(w.ns).List(t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=cart-chaos-v2,reason=Unsupported"})
		if err != nil || len(evs.Items) == 0 || !strings.Contains(evs.Items[0].Message, "spec.components is ignored") {
			t.Errorf("Unsupported events %v (%v)", evs, err)
		}
	})
}

// finishRun plays the fault steps of a Workflow run as litmus-checker would (create the step's
// ChaosEngine from the artifact Argo resolved, wait until it is completed or stopped, let the
// step end), waits for the run's completed event and returns the chaos data of its fault nodes.
func (w *world) finishRun(t *testing.T, name string, faults int) []map[string]any {
	t.Helper()
	var wf *wfv1.Workflow
	played := map[string]bool{}
	testcluster.Eventually(t, 3*time.Minute, fmt.Sprintf("%d fault steps of %s played", faults, name), func(ctx context.Context) (bool, error) {
		var err error
		if wf, err = w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, err
		}
		if wf.Status.Phase.Completed() {
			t.Fatalf("Workflow %s ended %s before its fault steps were played: %s", name, wf.Status.Phase, wf.Status.Message)
		}
		pods, err := w.c.Client.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: "kwokwait=true,workflows.argoproj.io/workflow=" + name})
		if err != nil {
			return false, err
		}
		for _, pod := range pods.Items {
			if played[pod.Name] || pod.Status.Phase != corev1.PodRunning {
				continue
			}
			node, ok := nodeNamed(wf, pod.Annotations["workflows.argoproj.io/node-name"])
			if !ok || node.Inputs == nil || len(node.Inputs.Artifacts) != 1 || node.Inputs.Artifacts[0].Raw == nil {
				continue // the Workflow's status lags behind its pods
			}
			u, err := parseManifest(node.Inputs.Artifacts[0].Raw.Data)
			if err != nil {
				return false, err
			}
			if strings.Contains(node.Inputs.Artifacts[0].Raw.Data, "{{") {
				t.Fatalf("Argo left a variable unresolved in the engine:\n%s", node.Inputs.Artifacts[0].Raw.Data)
			}
			l := u.GetLabels()
			l["chaos-agent.io/test"] = w.ns
			u.SetLabels(l)
			created, err := w.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
			if err != nil {
				return false, err
			}
			w.waitEngine(t, created.GetName())
			w.completeStep(pod.Name)
			played[pod.Name] = true
		}
		return len(played) == faults, nil
	})
	evs := w.waitRun("the completed run event of "+name, 2*time.Minute, completed, func() string { return string(wf.UID) })
	last := evs[len(evs)-1]
	if last.Phase != "Completed" {
		t.Errorf("run %s ended %s", name, last.Phase)
	}
	var out []map[string]any
	nodes, _ := last.Execution["nodes"].(map[string]any)
	for _, n := range nodes {
		if nm := n.(map[string]any); nm["type"] == "ChaosEngine" {
			cd, _ := nm["chaosData"].(map[string]any)
			out = append(out, cd)
		}
	}
	if len(out) != faults {
		t.Fatalf("%d ChaosEngine nodes in the final run event, want %d: %v", len(out), faults, nodes)
	}
	return out
}

func nodeNamed(wf *wfv1.Workflow, name string) (wfv1.NodeStatus, bool) {
	for _, n := range wf.Status.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return wfv1.NodeStatus{}, false
}

// waitEngine waits until the executor has completed or stopped an engine of the agent's namespace.
func (w *world) waitEngine(t *testing.T, name string) *litmus.ChaosEngine {
	t.Helper()
	var en litmus.ChaosEngine
	testcluster.Eventually(t, 3*time.Minute, "engine "+name+" done", func(ctx context.Context) (bool, error) {
		obj, err := w.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(w.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		if err := litmus.FromUnstructured(obj, &en); err != nil {
			return false, err
		}
		return en.Status.EngineStatus == litmus.EngineStatusCompleted || en.Status.EngineStatus == litmus.EngineStatusStopped, nil
	})
	return &en
}
