package subscriber

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/executor/faults"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
	"github.com/chaos-agent/chaos-agent/policy"
)

const initialKey = "initial-access-key-0123456789abc" // 32 characters, like the server's

// world is one test's control plane, agent and cluster namespace (the Argo-managed one).
type world struct {
	t      *testing.T
	c      *testcluster.Cluster
	argo   argoclient.Interface
	ns     string
	infra  string
	cp     *testcp.Server
	sub    *Subscriber
	cancel context.CancelFunc
	done   chan struct{}
	halts  chan string // halt_all orders the subscriber passed on
	// engineSelector, if set, makes the agent's executor cluster-scoped (a cluster-wide install,
	// whose engines may target other namespaces) but limited to the engines it matches, so that
	// it never runs other tests' engines in the shared cluster.
	engineSelector string
	probes         executor.ProbeRunner // the executor's; nil: none
}

func newWorld(t *testing.T) *world {
	t.Helper()
	c := testcluster.Get(t)
	ns := testcluster.ArgoNamespace(t)
	infra := testcluster.ArgoInstanceID()
	if infra == "" {
		t.Fatal("the test cluster's workflow-controller has no instanceID (ARGO_INSTANCE_ID)")
	}
	argo, err := argoclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, c: c, argo: argo, ns: ns, infra: infra, halts: make(chan string, 1)}
	w.clean()
	t.Cleanup(w.clean)
	ctx := t.Context()
	for _, o := range []struct {
		name string
		data map[string]string
	}{{ConfigMapName, map[string]string{"IS_INFRA_CONFIRMED": "false", "INFRA_SCOPE": "namespace", "VERSION": testcp.DefaultVersion}}} {
		if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: o.name}, Data: o.data}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: SecretName},
		StringData: map[string]string{"INFRA_ID": infra, "ACCESS_KEY": initialKey}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.cp = testcp.New(testcp.Options{KeepAlive: 200 * time.Millisecond, Log: zaptest.NewLogger(t).Named("cp")})
	if _, err := w.cp.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.cp.Stop)
	w.cp.RegisterInfra(infra, initialKey)
	return w
}

// clean removes what earlier runs left in the shared Argo namespace.
func (w *world) clean() {
	ctx := context.WithoutCancel(w.t.Context())
	sel := metav1.ListOptions{LabelSelector: litmus.LabelInfraID + "=" + w.infra}
	_ = w.argo.ArgoprojV1alpha1().Workflows(w.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, sel)
	_ = w.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(w.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	_ = w.c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(w.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	for _, n := range []string{ConfigMapName, "chaos-agent-outbox", policy.ConfigMapName} {
		_ = w.c.Client.CoreV1().ConfigMaps(w.ns).Delete(ctx, n, metav1.DeleteOptions{})
	}
	_ = w.c.Client.CoreV1().Secrets(w.ns).Delete(ctx, SecretName, metav1.DeleteOptions{})
}

// newSubscriber builds a subscriber for the test's infrastructure talking to url.
func (w *world) newSubscriber(url string, httpOpts *HTTPOptions) *Subscriber {
	w.t.Helper()
	disc, err := discovery.NewDiscoveryClientForConfig(w.c.Config)
	if err != nil {
		w.t.Fatal(err)
	}
	s, err := New(Options{
		ServerAddr: url, InfraID: w.infra, AccessKey: initialKey, Version: testcp.DefaultVersion, Namespace: w.ns,
		PodName: "subscriber-test", Kube: w.c.Client, Dynamic: w.c.Dynamic, Argo: w.argo,
		Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		Log:    zaptest.NewLogger(w.t).Named("subscriber"), KeepAliveTimeout: 2 * time.Second,
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second, HTTP: httpOpts,
		HaltAll: func(reason string) {
			select {
			case w.halts <- reason:
			default:
			}
		},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

// startAgent starts the subscriber (and an executor, which runs the fault steps' engines).
func (w *world) startAgent(withExecutor bool) { w.startAgentWith(w.cp.URL(), withExecutor) }

// startAgentAt starts the subscriber alone, talking to url.
func (w *world) startAgentAt(url string) { w.startAgentWith(url, false) }

func (w *world) startAgentWith(url string, withExecutor bool) {
	w.t.Helper()
	s := w.newSubscriber(url, nil)
	w.sub = s
	ctx, cancel := context.WithCancel(context.WithoutCancel(w.t.Context()))
	w.cancel, w.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			w.t.Errorf("subscriber: %v", err)
		}
	})
	if withExecutor {
		registry, err := faults.Builtin()
		if err != nil {
			w.t.Fatal(err)
		}
		ns := w.ns
		if w.engineSelector != "" {
			ns = ""
		}
		ex, err := executor.New(executor.Options{Namespace: ns, Kube: w.c.Client, Dynamic: w.c.Dynamic, Faults: registry, EngineSelector: w.engineSelector, Probes: w.probes,
			Clients: kube.NewServiceAccountClients(w.c.Config), Log: zaptest.NewLogger(w.t).Named("executor")})
		if err != nil {
			w.t.Fatal(err)
		}
		wg.Go(func() { _ = ex.Run(ctx) })
	}
	go func() { wg.Wait(); close(w.done) }()
	w.t.Cleanup(w.stopAgent)
}

func (w *world) stopAgent() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		w.t.Error("agent did not stop within 30s")
	}
	w.cancel = nil
}

func (w *world) waitConnected() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.t.Context(), 30*time.Second)
	defer cancel()
	if err := w.cp.WaitConnected(ctx, w.infra); err != nil {
		w.t.Fatalf("agent never connected: %v (rejected: %v)", err, w.cp.Rejected())
	}
}

func (w *world) send(a testcp.Action) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(w.t.Context(), 10*time.Second)
	defer cancel()
	if err := w.cp.Send(ctx, w.infra, a); err != nil {
		w.t.Fatalf("send %s: %v", a.RequestType, err)
	}
}

// runsOf returns the events received for a run, in order.
func (w *world) runsOf(runID string) []testcp.RunEvent {
	var out []testcp.RunEvent
	for _, r := range w.cp.Runs() {
		if r.ExperimentRunID == runID {
			out = append(out, r)
		}
	}
	return out
}

func (w *world) waitRun(what string, timeout time.Duration, cond func([]testcp.RunEvent) bool, runID func() string) []testcp.RunEvent {
	w.t.Helper()
	var evs []testcp.RunEvent
	testcluster.Eventually(w.t, timeout, what, func(context.Context) (bool, error) {
		evs = w.runsOf(runID())
		return cond(evs), nil
	})
	return evs
}

func completed(evs []testcp.RunEvent) bool { return len(evs) > 0 && evs[len(evs)-1].Completed }

// chaosSetup installs what the fault steps need: the pod-delete ChaosExperiment, the chaos
// service account, and the application.
func (w *world) chaosSetup() {
	w.t.Helper()
	ctx := w.t.Context()
	for _, sa := range []string{"litmus-admin", "argo-chaos"} { // the chaos account, and the one Argo runs steps as
		_, _ = w.c.Client.CoreV1().ServiceAccounts(w.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
	}
	_, _ = w.c.Client.RbacV1().Roles(w.ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "delete"}}}}, metav1.CreateOptions{})
	_, _ = w.c.Client.RbacV1().RoleBindings(w.ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "litmus-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "litmus-admin"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "litmus-admin", Namespace: w.ns}}}, metav1.CreateOptions{})
	x, _ := litmus.ToUnstructured(&litmus.ChaosExperiment{ObjectMeta: metav1.ObjectMeta{Name: "pod-delete", Namespace: w.ns},
		Spec: litmus.ChaosExperimentSpec{Definition: litmus.ExperimentDefinition{Args: []string{"-c", "./experiments -name pod-delete"},
			Env: []corev1.EnvVar{{Name: "FORCE", Value: "true"}, {Name: "DEFAULT_HEALTH_CHECK", Value: "false"}}}}})
	_ = w.c.Dynamic.Resource(litmus.ChaosExperimentGVR()).Namespace(w.ns).Delete(ctx, "pod-delete", metav1.DeleteOptions{})
	if _, err := w.c.Dynamic.Resource(litmus.ChaosExperimentGVR()).Namespace(w.ns).Create(ctx, x, metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
	_ = w.c.Client.AppsV1().Deployments(w.ns).Delete(ctx, "cart", metav1.DeleteOptions{})
	testcluster.Eventually(w.t, 30*time.Second, "old cart deployment gone", func(ctx context.Context) (bool, error) {
		_, err := w.c.Client.AppsV1().Deployments(w.ns).Get(ctx, "cart", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := w.c.Client.AppsV1().Deployments(w.ns).Create(ctx, testcluster.Deployment(w.ns, "cart", 2), metav1.CreateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

// experiment renders a ChaosCenter-style Workflow: install step, a fault step whose artifact is a
// ChaosEngine (labelled as the server does), and a cleanup step; with advanced options.
func (w *world) experiment(name, experimentID, notifyID, duration string) string {
	engine := fmt.Sprintf(`apiVersion: litmuschaos.io/v1alpha1
kind: ChaosEngine
metadata:
  namespace: "{{workflow.parameters.adminModeNamespace}}"
  generateName: pod-delete-ab1
  labels:
    workflow_run_id: "{{ workflow.uid }}"
    step_pod_name: "{{ pod.name }}"
    infra_id: %s
spec:
  appinfo: {appns: %s, applabel: app=cart, appkind: deployment}
  engineState: active
  chaosServiceAccount: litmus-admin
  experiments:
    - name: pod-delete
      spec:
        components:
          env:
            - {name: TOTAL_CHAOS_DURATION, value: "%s"}
            - {name: CHAOS_INTERVAL, value: "1"}
            - {name: PODS_AFFECTED_PERC, value: "50"}
`, w.infra, w.ns, duration)
	wf := map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
		"metadata": map[string]any{"name": name, "namespace": w.ns, "labels": map[string]any{
			litmus.LabelWorkflowID: experimentID, litmus.LabelInfraID: w.infra, litmus.LabelArgoInstanceID: w.infra, litmus.LabelRevisionID: "rev-1", litmus.LabelNotifyID: notifyID,
		}},
		"spec": map[string]any{
			"entrypoint": "main", "serviceAccountName": "argo-chaos",
			"arguments":       map[string]any{"parameters": []any{map[string]any{"name": "adminModeNamespace", "value": w.ns}}},
			"nodeSelector":    map[string]any{"type": "kwok"},
			"tolerations":     []any{map[string]any{"key": "chaos", "operator": "Exists", "effect": "NoSchedule"}},
			"podMetadata":     map[string]any{"annotations": map[string]any{"chaos.example.com/owner": "team-cart"}},
			"securityContext": map[string]any{"runAsUser": int64(1000), "runAsGroup": int64(1000), "runAsNonRoot": true},
			"podGC":           map[string]any{"strategy": "OnWorkflowCompletion"},
			"templates": []any{
				map[string]any{"name": "main", "steps": []any{
					[]any{map[string]any{"name": "install-chaos-faults", "template": "install-chaos-faults"}},
					[]any{map[string]any{"name": "pod-delete-ab1", "template": "pod-delete-ab1"}},
					[]any{map[string]any{"name": "cleanup-chaos-resources", "template": "cleanup-chaos-resources"}},
				}},
				map[string]any{"name": "install-chaos-faults", "container": map[string]any{"name": "", "image": "litmuschaos/k8s:latest", "command": []any{"sh", "-c"}, "args": []any{"true"}}},
				map[string]any{"name": "pod-delete-ab1",
					"inputs":    map[string]any{"artifacts": []any{map[string]any{"name": "pod-delete-ab1", "path": "/tmp/chaosengine-pod-delete-ab1.yaml", "raw": map[string]any{"data": engine}}}},
					"metadata":  map[string]any{"labels": map[string]any{"weight": "10", "kwokwait": "true"}},
					"container": map[string]any{"name": "", "image": "docker.io/chaosnative/litmus-checker:2.11.0", "args": []any{"-file=/tmp/chaosengine-pod-delete-ab1.yaml", "-saveName=/tmp/engine-name"}}},
				map[string]any{"name": "cleanup-chaos-resources", "container": map[string]any{"name": "", "image": "litmuschaos/k8s:latest", "command": []any{"sh", "-c"}, "args": []any{"true"}}},
			},
		},
	}
	b, err := yaml.Marshal(wf)
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// simulateCheckerStep is a SIMULATION of the fault step on kwok: it does what the litmus-checker
// container would do — create the step's ChaosEngine (with the labels Argo would have
// substituted), wait for it to finish, then let the step complete. It keeps these protocol tests
// fast (no container starts) and lets them hold the step open; the real container (chaos-agent
// check in the drop-in litmus-checker image, run by Argo's workflow-controller and argoexec on the
// real node) runs in e2e/seed_test.go (make e2e) and e2e/install_test.go.
func (w *world) simulateCheckerStep(wfName string, wait bool) (engineName string) {
	w.t.Helper()
	ctx := w.t.Context()
	var wf *wfv1.Workflow
	var pod *corev1.Pod
	var art string
	testcluster.Eventually(w.t, 60*time.Second, "the fault step's pod", func(ctx context.Context) (bool, error) {
		var err error
		wf, err = w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(ctx, wfName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pods, err := w.c.Client.CoreV1().Pods(w.ns).List(ctx, metav1.ListOptions{LabelSelector: "kwokwait=true,workflows.argoproj.io/workflow=" + wfName})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		pod = &pods.Items[0]
		if pod.Status.Phase != corev1.PodRunning {
			return false, nil
		}
		// The Workflow's status may lag behind its pods: wait for the step's node too.
		wf, err = w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(ctx, wfName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, n := range wf.Status.Nodes {
			if n.Inputs != nil && len(n.Inputs.Artifacts) == 1 && n.Inputs.Artifacts[0].Raw != nil {
				art = n.Inputs.Artifacts[0].Raw.Data
			}
		}
		return art != "", nil
	})
	u, err := parseManifest(art)
	if err != nil {
		w.t.Fatal(err)
	}
	l := u.GetLabels()
	if l[litmus.LabelWorkflowRunID] != string(wf.UID) || l[litmus.LabelStepPodName] != pod.Name {
		w.t.Fatalf("Argo substituted labels %v; want workflow_run_id=%s step_pod_name=%s", l, wf.UID, pod.Name)
	}
	created, err := w.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(w.ns).Create(ctx, u, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	engineName = created.GetName()
	if !wait {
		return engineName
	}
	testcluster.Eventually(w.t, 60*time.Second, "engine "+engineName+" done", func(ctx context.Context) (bool, error) {
		obj, err := w.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(w.ns).Get(ctx, engineName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s, _, _ := unstructuredString(obj.Object, "status", "engineStatus")
		return s == "completed" || s == "stopped", nil
	})
	w.completeStep(pod.Name)
	return engineName
}

func (w *world) completeStep(pod string) {
	w.t.Helper()
	patch := []byte(`{"metadata":{"annotations":{"chaos-agent.io/complete":"true"}}}`)
	if _, err := w.c.Client.CoreV1().Pods(w.ns).Patch(w.t.Context(), pod, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func unstructuredString(obj map[string]any, path ...string) (string, bool, error) {
	cur := any(obj)
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[p]
	}
	s, ok := cur.(string)
	return s, ok, nil
}

func TestConfirmConnectAndRun(t *testing.T) {
	w := newWorld(t)
	w.chaosSetup()
	w.startAgent(true)
	w.waitConnected()

	// Confirmation: the rotated key is what the server has, stored in the Secret, flag set.
	if !w.cp.Confirmed(w.infra) {
		t.Fatal("infra not confirmed")
	}
	sec, err := w.c.Client.CoreV1().Secrets(w.ns).Get(t.Context(), SecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(sec.Data["ACCESS_KEY"]); got != w.cp.AccessKey(w.infra) || got == initialKey {
		t.Errorf("Secret ACCESS_KEY %q, server key %q", got, w.cp.AccessKey(w.infra))
	}
	cm, _ := w.c.Client.CoreV1().ConfigMaps(w.ns).Get(t.Context(), ConfigMapName, metav1.GetOptions{})
	if cm.Data["IS_INFRA_CONFIRMED"] != "true" {
		t.Errorf("IS_INFRA_CONFIRMED %q", cm.Data["IS_INFRA_CONFIRMED"])
	}

	// create: the Workflow exists with its labels and options, Argo runs it, events flow.
	name := "cart-pod-delete-1700000000000"
	w.send(testcp.Action{RequestType: "create", K8sManifest: w.experiment(name, "exp-1", "notify-1", "2"), Namespace: w.ns, Username: "admin"})
	var wf *wfv1.Workflow
	testcluster.Eventually(t, 30*time.Second, "workflow created", func(ctx context.Context) (bool, error) {
		wf, err = w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil, nil
	})
	if wf.Labels[litmus.LabelUpdatedBy] != "YWRtaW4" || wf.Labels[litmus.LabelNotifyID] != "notify-1" || wf.Labels[litmus.LabelArgoInstanceID] != w.infra {
		t.Errorf("workflow labels %v", wf.Labels)
	}
	if wf.Spec.NodeSelector["type"] != "kwok" || len(wf.Spec.Tolerations) != 1 || wf.Spec.PodMetadata.Annotations["chaos.example.com/owner"] != "team-cart" ||
		wf.Spec.SecurityContext == nil || *wf.Spec.SecurityContext.RunAsUser != 1000 || *wf.Spec.SecurityContext.RunAsGroup != 1000 {
		t.Errorf("advanced options lost: %+v", wf.Spec)
	}
	engine := w.simulateCheckerStep(name, true)
	evs := w.waitRun("the completed run event", 90*time.Second, completed, func() string { return string(wf.UID) })

	last := evs[len(evs)-1]
	if last.NotifyID != "notify-1" || last.ExperimentID != "exp-1" || last.Phase != "Completed" {
		t.Errorf("final event: notify %q experiment %q phase %q", last.NotifyID, last.ExperimentID, last.Phase)
	}
	for i, e := range evs[:len(evs)-1] {
		if e.Completed {
			t.Errorf("event %d of %d is completed before the last", i, len(evs))
		}
	}
	// The run's first event is queued from the create's answer (not the watch), and the watch's
	// ADD of the same version is not sent again.
	adds := 0
	for _, e := range evs {
		if e.Execution["eventType"] == "ADD" {
			adds++
		}
	}
	if evs[0].Execution["eventType"] != "ADD" || adds != 1 {
		t.Errorf("first event %v, %d ADD events; want the first and only one ADD", evs[0].Execution["eventType"], adds)
	}
	var sawRunning, sawChaos bool
	for _, e := range evs {
		if e.Phase == "Running" {
			sawRunning = true
		}
	}
	nodes, _ := last.Execution["nodes"].(map[string]any)
	for _, n := range nodes {
		nm := n.(map[string]any)
		if nm["type"] != "ChaosEngine" {
			continue
		}
		cd, _ := nm["chaosData"].(map[string]any)
		if cd == nil {
			t.Fatalf("ChaosEngine node without chaosData: %v", nm)
		}
		sawChaos = true
		if cd["engineName"] != engine || cd["probeSuccessPercentage"] != "100" || cd["experimentVerdict"] != "Pass" || cd["experimentName"] != "pod-delete" {
			t.Errorf("chaosData %v", cd)
		}
		if _, ok := cd["chaosResult"].(map[string]any); !ok {
			t.Errorf("chaosData has no chaosResult")
		}
	}
	if !sawRunning || !sawChaos {
		t.Errorf("events: running seen %v, chaos node seen %v (%d events)", sawRunning, sawChaos, len(evs))
	}
	if w.cp.Fatal() != "" {
		t.Errorf("the server would have crashed: %s", w.cp.Fatal())
	}
	t.Logf("%d run events, final phase %s", len(evs), last.Phase)
}

func TestStopRun(t *testing.T) {
	w := newWorld(t)
	w.chaosSetup()
	w.startAgent(true)
	w.waitConnected()
	name := "cart-stop-1700000000001"
	w.send(testcp.Action{RequestType: "create", K8sManifest: w.experiment(name, "exp-2", "notify-2", "120"), Namespace: w.ns})
	engine := w.simulateCheckerStep(name, false)
	wf, err := w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 30*time.Second, "fault running", func(ctx context.Context) (bool, error) {
		evs, err := w.c.Client.CoreV1().Events(w.ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=ChaosInject,involvedObject.name=" + engine})
		return err == nil && len(evs.Items) > 0, err
	})
	w.send(testcp.Action{RequestType: "workflow_run_stop", ExternalData: string(wf.UID)})
	testcluster.Eventually(t, 30*time.Second, "engine stopped", func(ctx context.Context) (bool, error) {
		obj, err := w.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(w.ns).Get(ctx, engine, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s, _, _ := unstructuredString(obj.Object, "status", "engineStatus")
		return s == "stopped", nil
	})
	got, _ := w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(t.Context(), name, metav1.GetOptions{})
	if got.Spec.Shutdown != wfv1.ShutdownStrategyStop {
		t.Errorf("workflow shutdown %q, want Stop", got.Spec.Shutdown)
	}
	evs := w.waitRun("a stopped run event", 60*time.Second, func(evs []testcp.RunEvent) bool {
		return completed(evs) && evs[len(evs)-1].Phase == "Stopped"
	}, func() string { return string(wf.UID) })
	t.Logf("%d events, last phase %s", len(evs), evs[len(evs)-1].Phase)
}

func TestRequestReplies(t *testing.T) {
	w := newWorld(t)
	w.startAgent(false)
	w.waitConnected()
	w.send(testcp.Action{RequestID: "ns-1", RequestType: "namespace", ExternalData: `{"infraID":"` + w.infra + `"}`})
	w.send(testcp.Action{RequestID: "obj-1", RequestType: "kubeobject", ExternalData: fmt.Sprintf(
		`{"infraID":%q,"kubeObjRequest":{"group":"","version":"v1","resource":"configmaps"},"namespace":%q,"objectType":"kubeobject","workloads":null}`, w.infra, w.ns)})
	w.send(testcp.Action{RequestID: "log-1", RequestType: "logs", ExternalData: fmt.Sprintf(
		`{"infraID":%q,"experimentRunID":"r","podName":"no-such-pod","podNamespace":%q,"podType":"pod","expPod":null,"runnerPod":null,"chaosNamespace":null}`, w.infra, w.ns)})
	testcluster.Eventually(t, 30*time.Second, "three replies", func(context.Context) (bool, error) {
		return len(w.cp.KubeNamespaces()) == 1 && len(w.cp.KubeObjs()) == 1 && len(w.cp.PodLogs()) == 1, nil
	})
	var nss []map[string]string
	if err := json.Unmarshal([]byte(fmt.Sprint(w.cp.KubeNamespaces()[0]["kubeNamespace"])), &nss); err != nil || len(nss) != 1 || nss[0]["name"] != w.ns {
		t.Errorf("kubeNamespace %v (%v)", w.cp.KubeNamespaces()[0], err)
	}
	obj := w.cp.KubeObjs()[0]
	if obj["requestID"] != "obj-1" || !strings.Contains(fmt.Sprint(obj["kubeObj"]), ConfigMapName) {
		t.Errorf("kubeObj %v", obj)
	}
	lg := w.cp.PodLogs()[0]
	if lg["requestID"] != "log-1" || !strings.Contains(fmt.Sprint(lg["log"]), "mainLogs") {
		t.Errorf("podLog %v", lg)
	}
}

func TestBadActionsAndPolicy(t *testing.T) {
	w := newWorld(t)
	w.startAgent(false)
	w.waitConnected()
	good := w.experiment("cart-ok-1", "exp-ok", "n-ok", "1")
	tests := []struct {
		name     string
		action   testcp.Action
		policy   map[string]string
		runID    string // a failed run event is expected for it
		contains string
	}{
		{name: "invalid yaml", action: testcp.Action{RequestType: "create", K8sManifest: "kind: [Workflow", Namespace: w.ns}},
		{name: "forbidden kind", action: testcp.Action{RequestType: "create", Namespace: w.ns, K8sManifest: `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: evil, labels: {workflow_id: exp-crb, notify_id: n-crb}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: mallory}]`}, runID: "n-crb", contains: "not allowed"},
		{name: "other namespace", action: testcp.Action{RequestType: "create", Namespace: "kube-system",
			K8sManifest: strings.ReplaceAll(w.experiment("cart-ns", "exp-ns", "n-ns", "1"), "namespace: "+w.ns+"\n", "namespace: kube-system\n")},
			runID: "n-ns", contains: "kube-system"},
		{name: "percentage above the policy", policy: map[string]string{"maxPodsAffectedPerc": "25"},
			action: testcp.Action{RequestType: "create", Namespace: w.ns, K8sManifest: w.experiment("cart-perc", "exp-perc", "n-perc", "1")},
			runID:  "n-perc", contains: "PODS_AFFECTED_PERC"},
		{name: "kill switch", policy: map[string]string{"killSwitch": "true"},
			action: testcp.Action{RequestType: "create", Namespace: w.ns, K8sManifest: w.experiment("cart-kill", "exp-kill", "n-kill", "1")},
			runID:  "n-kill", contains: "kill switch"},
		{name: "workflow as the agent's service account", action: testcp.Action{RequestType: "create", Namespace: w.ns,
			K8sManifest: strings.Replace(w.experiment("cart-sa", "exp-sa", "n-sa", "1"), "serviceAccountName: argo-chaos", "serviceAccountName: chaos-agent", 1)},
			runID: "n-sa", contains: "agent's own service account"},
		{name: "workflow with a hostPath volume", action: testcp.Action{RequestType: "create", Namespace: w.ns,
			K8sManifest: strings.Replace(w.experiment("cart-hp", "exp-hp", "n-hp", "1"), "serviceAccountName: argo-chaos", "serviceAccountName: argo-chaos\n  volumes: [{name: root, hostPath: {path: /}}]", 1)},
			runID: "n-hp", contains: "allowHostPath"},
		{name: "unknown request type", action: testcp.Action{RequestType: "frobnicate"}},
		{name: "stop of an unknown run", action: testcp.Action{RequestType: "workflow_run_stop", ExternalData: "no-such-uid"}},
		{name: "bad logs request", action: testcp.Action{RequestID: "bad", RequestType: "logs", ExternalData: "{not json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_ = w.c.Client.CoreV1().ConfigMaps(w.ns).Delete(t.Context(), policy.ConfigMapName, metav1.DeleteOptions{})
			if tc.policy != nil {
				if _, err := w.c.Client.CoreV1().ConfigMaps(w.ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: policy.ConfigMapName}, Data: tc.policy}, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			w.send(tc.action)
			if tc.runID != "" {
				evs := w.waitRun("a failed run event", 10*time.Second, completed, func() string { return tc.runID })
				last := evs[len(evs)-1]
				msg, _ := last.Execution["message"].(string)
				if last.Phase != "Error" || !strings.Contains(msg, tc.contains) {
					t.Errorf("failed run event phase %q message %q, want Error mentioning %q", last.Phase, msg, tc.contains)
				}
				t.Logf("reported in %s: %s", time.Since(start).Round(time.Millisecond), msg)
			}
			// The agent is alive and still executes actions.
			id := "alive-" + strings.ReplaceAll(tc.name, " ", "-")
			w.send(testcp.Action{RequestID: id, RequestType: "namespace", ExternalData: "{}"})
			testcluster.Eventually(t, 10*time.Second, "the agent still answers", func(context.Context) (bool, error) {
				for _, r := range w.cp.KubeNamespaces() {
					if r["requestID"] == id {
						return true, nil
					}
				}
				return false, nil
			})
		})
	}
	_ = w.c.Client.CoreV1().ConfigMaps(w.ns).Delete(t.Context(), policy.ConfigMapName, metav1.DeleteOptions{})
	_ = good

	// halt_all reaches the executor's guard.
	w.send(testcp.Action{RequestID: "halt-1", RequestType: "halt_all"})
	select {
	case reason := <-w.halts:
		if !strings.Contains(reason, "halt-1") {
			t.Errorf("halt reason %q", reason)
		}
	case <-time.After(10 * time.Second):
		t.Error("halt_all was not passed on")
	}
}
