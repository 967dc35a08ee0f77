package executor_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/executor/faults"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// env is one test's world on the real cluster: a namespace, a chaos service account, the
// pod-delete ChaosExperiment and a running executor.
type env struct {
	t  *testing.T
	c  *testcluster.Cluster
	ns string
}

// setup starts an executor scoped to a fresh namespace (or to all namespaces with clusterScope),
// running the built-in faults and extra ones.
func setup(t *testing.T, clusterScope bool, extra ...executor.FaultKind) *env {
	t.Helper()
	return setupWith(t, clusterScope, nil, extra...)
}

// setupWith is setup with more executor options.
func setupWith(t *testing.T, clusterScope bool, opts func(e *env, o *executor.Options), extra ...executor.FaultKind) *env {
	t.Helper()
	c := testcluster.Get(t)
	e := &env{t: t, c: c, ns: c.Namespace(t)}
	e.serviceAccount("chaos", true)
	e.create(litmus.ChaosExperimentGVR().Resource, podDeleteExperiment(e.ns))

	scope := e.ns
	if clusterScope {
		scope = ""
	}
	registry, err := faults.Builtin(extra...)
	if err != nil {
		t.Fatal(err)
	}
	o := executor.Options{
		Namespace: scope, Kube: c.Client, Dynamic: c.Dynamic, Faults: registry,
		Clients: kube.NewServiceAccountClients(c.Config), Log: zaptest.NewLogger(t), Identity: "chaos-agent-test",
	}
	if opts != nil {
		opts(e, &o)
	}
	ex, err := executor.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- ex.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("executor: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("executor did not stop within 30s")
		}
	})
	return e
}

// serviceAccount creates a service account with the rights pod-delete needs (or without the
// right to delete pods).
func (e *env) serviceAccount(name string, canDelete bool) {
	e.t.Helper()
	ctx := e.t.Context()
	verbs := []string{"get", "list", "watch"}
	if canDelete {
		verbs = append(verbs, "delete")
	}
	must(e.t, create(ctx, e.c.Client.CoreV1().ServiceAccounts(e.ns), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	must(e.t, create(ctx, e.c.Client.RbacV1().Roles(e.ns), &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: verbs},
			{APIGroups: []string{""}, Resources: []string{"pods/eviction"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}, Verbs: []string{"get"}},
		},
	}))
	must(e.t, create(ctx, e.c.Client.RbacV1().RoleBindings(e.ns), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: e.ns}},
	}))
}

type creator[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
}

func create[T any](ctx context.Context, c creator[T], obj T) error {
	_, err := c.Create(ctx, obj, metav1.CreateOptions{})
	return err
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) create(resource string, obj any) {
	e.t.Helper()
	u, err := litmus.ToUnstructured(obj)
	if err != nil {
		e.t.Fatal(err)
	}
	gvr := litmus.GroupVersion().WithResource(resource)
	if _, err := e.c.Dynamic.Resource(gvr).Namespace(e.ns).Create(e.t.Context(), u, metav1.CreateOptions{}); err != nil {
		e.t.Fatalf("create %s: %v", resource, err)
	}
}

func podDeleteExperiment(ns string) *litmus.ChaosExperiment {
	return &litmus.ChaosExperiment{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-delete", Namespace: ns, Labels: map[string]string{"name": "pod-delete"}},
		Spec: litmus.ChaosExperimentSpec{Definition: litmus.ExperimentDefinition{
			Image: "litmuschaos/go-runner:latest", Command: []string{"/bin/bash"}, Args: []string{"-c", "./experiments -name pod-delete"},
			Env: []corev1.EnvVar{
				{Name: "TOTAL_CHAOS_DURATION", Value: "15"}, {Name: "RAMP_TIME", Value: ""}, {Name: "FORCE", Value: "true"},
				{Name: "CHAOS_INTERVAL", Value: "5"}, {Name: "PODS_AFFECTED_PERC", Value: ""}, {Name: "TARGET_PODS", Value: ""},
				{Name: "DEFAULT_HEALTH_CHECK", Value: "false"}, {Name: "NODE_LABEL", Value: ""}, {Name: "SEQUENCE", Value: "parallel"},
			},
		}},
	}
}

func (e *env) engine(name, appkind, applabel string, envVars map[string]string) *litmus.ChaosEngine {
	var vars []corev1.EnvVar
	for k, v := range envVars {
		vars = append(vars, corev1.EnvVar{Name: k, Value: v})
	}
	slices.SortFunc(vars, func(a, b corev1.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	return &litmus.ChaosEngine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: litmus.ChaosEngineSpec{
			AppInfo:             litmus.AppInfo{AppNS: e.ns, AppKind: appkind, AppLabel: applabel},
			EngineState:         litmus.EngineStateActive,
			ChaosServiceAccount: "chaos",
			JobCleanUpPolicy:    litmus.JobCleanUpPolicyRetain,
			Experiments: []litmus.EngineExperiment{{Name: "pod-delete", Spec: litmus.EngineExperimentSpec{
				Components: litmus.ExperimentComponents{Env: vars},
			}}},
		},
	}
}

func (e *env) deployment(name string, replicas int32) {
	e.t.Helper()
	if _, err := e.c.Client.AppsV1().Deployments(e.ns).Create(e.t.Context(), testcluster.Deployment(e.ns, name, replicas), metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
	e.waitReady("app="+name, int(replicas))
}

func (e *env) waitReady(selector string, n int) {
	e.t.Helper()
	testcluster.Eventually(e.t, 60*time.Second, fmt.Sprintf("%d Ready pods %s", n, selector), func(ctx context.Context) (bool, error) {
		pods, err := e.c.Client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		ready := 0
		for i := range pods.Items {
			if testcluster.PodReady(&pods.Items[i]) {
				ready++
			}
		}
		return ready == n, nil
	})
}

// result waits for the engine's pod-delete result to reach a final verdict.
func (e *env) result(engine string, timeout time.Duration) *litmus.ChaosResult {
	e.t.Helper()
	return e.resultOf(engine, "pod-delete", timeout)
}

func (e *env) getEngine(name string) *litmus.ChaosEngine {
	e.t.Helper()
	u, err := e.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(e.ns).Get(e.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var en litmus.ChaosEngine
	if err := litmus.FromUnstructured(u, &en); err != nil {
		e.t.Fatal(err)
	}
	return &en
}

// waitEngineClosed waits until the executor has closed the engine (completed or stopped).
func (e *env) waitEngineClosed(name string) *litmus.ChaosEngine {
	e.t.Helper()
	var en *litmus.ChaosEngine
	testcluster.Eventually(e.t, 30*time.Second, "engine "+name+" closed", func(ctx context.Context) (bool, error) {
		en = e.getEngine(name)
		s := en.Status.EngineStatus
		return s == litmus.EngineStatusCompleted || s == litmus.EngineStatusStopped, nil
	})
	return en
}

// deletions records the time of every pod deletion in the namespace, as the API server reports it.
type deletions struct {
	mu    sync.Mutex
	times map[string]time.Time
}

func (e *env) watchDeletions() *deletions {
	e.t.Helper()
	d := &deletions{times: map[string]time.Time{}}
	w, err := e.c.Client.CoreV1().Pods(e.ns).Watch(e.t.Context(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(w.Stop)
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted || (ev.Type == watch.Modified && p.DeletionTimestamp != nil) {
				d.mu.Lock()
				if _, seen := d.times[p.Name]; !seen {
					d.times[p.Name] = time.Now()
				}
				d.mu.Unlock()
			}
		}
	}()
	return d
}

func (d *deletions) snapshot() map[string]time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]time.Time, len(d.times))
	for k, v := range d.times {
		out[k] = v
	}
	return out
}

func eventReasons(t *testing.T, c *testcluster.Cluster, ns string) map[string]int32 {
	t.Helper()
	evs, err := c.Client.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int32{}
	for _, ev := range evs.Items {
		out[ev.InvolvedObject.Kind+"/"+ev.Reason] += ev.Count
	}
	return out
}

func TestPodDeleteDeploymentPass(t *testing.T) {
	e := setup(t, false)
	e.deployment("web", 4)
	dels := e.watchDeletions()
	start := time.Now()
	e.create("chaosengines", e.engine("web-chaos", "deployment", "app=web", map[string]string{
		"TOTAL_CHAOS_DURATION": "6", "CHAOS_INTERVAL": "2", "PODS_AFFECTED_PERC": "50", "FORCE": "true", "DEFAULT_HEALTH_CHECK": "true",
	}))
	res := e.result("web-chaos", 60*time.Second)
	took := time.Since(start)
	st := res.Status
	if st.ExperimentStatus.Verdict != litmus.VerdictPass || st.ExperimentStatus.Phase != litmus.ResultPhaseCompleted || st.ExperimentStatus.ProbeSuccessPercentage != "100" {
		t.Fatalf("result %+v, want Completed/Pass/100", st.ExperimentStatus)
	}
	if len(st.Recoveries) != 6 {
		t.Errorf("%d recovery records, want 3 iterations x 2 victims", len(st.Recoveries))
	}
	for _, r := range st.Recoveries {
		if r.Replacement == "" || r.ReadyAt.IsZero() || r.Seconds <= 0 || r.Seconds > 10 {
			t.Errorf("recovery %+v: want a Ready replacement", r)
		}
	}
	if got := len(dels.snapshot()); got != 6 {
		t.Errorf("%d pods deleted, want 6", got)
	}
	if st.History.PassedRuns != 1 || len(st.History.Targets) != 1 || st.History.Targets[0].Name != "web" || st.History.Targets[0].Kind != "deployment" {
		t.Errorf("history %+v", st.History)
	}
	if res.Labels[litmus.LabelChaosUID] == "" || res.Spec.EngineName != "web-chaos" {
		t.Errorf("result labels %v spec %+v", res.Labels, res.Spec)
	}
	en := e.waitEngineClosed("web-chaos")
	if en.Status.EngineStatus != litmus.EngineStatusCompleted || en.Spec.EngineState != litmus.EngineStateStop ||
		len(en.Status.Experiments) != 1 || en.Status.Experiments[0].Verdict != litmus.VerdictPass || en.Status.Experiments[0].Status != litmus.ExperimentRunStatusCompleted {
		t.Errorf("engine state %s status %+v", en.Spec.EngineState, en.Status)
	}
	// Events are recorded after the status they report: the last may land a moment later.
	var ev map[string]int32
	testcluster.Eventually(t, 10*time.Second, "the ChaosEngineCompleted event", func(context.Context) (bool, error) {
		ev = eventReasons(t, e.c, e.ns)
		return ev["ChaosEngine/ChaosEngineCompleted"] > 0, nil
	})
	for _, want := range []string{"ChaosEngine/ChaosEngineInitialized", "ChaosEngine/ExperimentDependencyCheck", "ChaosEngine/PreChaosCheck",
		"ChaosEngine/PostChaosCheck", "ChaosEngine/Summary", "ChaosEngine/ChaosEngineCompleted", "ChaosResult/Awaited", "ChaosResult/Pass"} {
		if ev[want] == 0 {
			t.Errorf("no %s event (have %v)", want, ev)
		}
	}
	if ev["ChaosEngine/ChaosInject"] != 3 {
		t.Errorf("ChaosInject count %d, want 3 (one event, counted)", ev["ChaosEngine/ChaosInject"])
	}
	e.waitReady("app=web", 4)
	t.Logf("pod-delete 6s/2s/50%% on 4 replicas: verdict in %s, recoveries %v", took.Round(time.Millisecond), recoverySeconds(st.Recoveries))
}

func recoverySeconds(rs []litmus.PodRecovery) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%.3fs", r.Seconds))
	}
	return out
}

func TestPodDeleteStatefulSet(t *testing.T) {
	e := setup(t, false)
	labels := map[string]string{"app": "db"}
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: e.ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels}, ServiceName: "db",
			Template: testcluster.Deployment(e.ns, "db", 1).Spec.Template,
		},
	}
	must(t, create(t.Context(), e.c.Client.AppsV1().StatefulSets(e.ns), ss))
	e.waitReady("app=db", 2)
	// A Deployment whose pods share the label must not be touched: appkind filters (litmus#3400).
	side := testcluster.Deployment(e.ns, "sidecar", 1)
	side.Spec.Template.Labels["app"] = "db"
	side.Spec.Template.Labels["role"] = "sidecar"
	side.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"role": "sidecar"}}
	must(t, create(t.Context(), e.c.Client.AppsV1().Deployments(e.ns), side))
	e.waitReady("role=sidecar", 1)
	dels := e.watchDeletions()
	e.create("chaosengines", e.engine("db-chaos", "statefulset", "app=db", map[string]string{
		"TOTAL_CHAOS_DURATION": "3", "CHAOS_INTERVAL": "1", "PODS_AFFECTED_PERC": "100",
	}))
	res := e.result("db-chaos", 60*time.Second)
	if res.Status.ExperimentStatus.Verdict != litmus.VerdictPass {
		t.Fatalf("verdict %s: %+v", res.Status.ExperimentStatus.Verdict, res.Status.ExperimentStatus.ErrorOutput)
	}
	for _, r := range res.Status.Recoveries {
		if !strings.HasPrefix(r.Pod, "db-") || r.Owner != "statefulset/db" || r.Replacement != r.Pod {
			t.Errorf("recovery %+v: want a StatefulSet pod replaced under its own name", r)
		}
	}
	if len(res.Status.Recoveries) != 6 {
		t.Errorf("%d recoveries, want 3 iterations x 2 pods", len(res.Status.Recoveries))
	}
	for name := range dels.snapshot() {
		if strings.HasPrefix(name, "sidecar-") {
			t.Errorf("deleted %s, a Deployment's pod, for appkind statefulset", name)
		}
	}
}

func TestPodDeleteTargetPodsAndSequence(t *testing.T) {
	e := setup(t, false)
	e.deployment("web", 3)
	pods, err := e.c.Client.CoreV1().Pods(e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
	must(t, err)
	victim := pods.Items[1].Name
	dels := e.watchDeletions()
	e.create("chaosengines", e.engine("one-pod", "deployment", "app=web", map[string]string{
		"TOTAL_CHAOS_DURATION": "2", "CHAOS_INTERVAL": "5", "TARGET_PODS": victim,
	}))
	if v := e.result("one-pod", 60*time.Second).Status.ExperimentStatus.Verdict; v != litmus.VerdictPass {
		t.Fatalf("verdict %s", v)
	}
	if got := dels.snapshot(); len(got) != 1 || got[victim].IsZero() {
		t.Errorf("deleted %v, want exactly %s", got, victim)
	}

	// serial: one pod per interval, so 2 pods at 100 % in 3 s at 2 s intervals → 2 deletions;
	// parallel would delete both pods at 0 s and again at 2 s.
	e.waitReady("app=web", 3)
	for _, tc := range []struct {
		seq  string
		want int
	}{{"serial", 2}, {"parallel", 6}} {
		dels := e.watchDeletions()
		name := "seq-" + tc.seq
		e.create("chaosengines", e.engine(name, "deployment", "app=web", map[string]string{
			"TOTAL_CHAOS_DURATION": "3", "CHAOS_INTERVAL": "2", "PODS_AFFECTED_PERC": "100", "SEQUENCE": tc.seq,
		}))
		if v := e.result(name, 60*time.Second).Status.ExperimentStatus.Verdict; v != litmus.VerdictPass {
			t.Fatalf("%s: verdict %s", tc.seq, v)
		}
		if got := len(dels.snapshot()); got != tc.want {
			t.Errorf("%s: %d deletions, want %d", tc.seq, got, tc.want)
		}
		e.waitReady("app=web", 3)
	}
}

func TestPodDeleteNodeLabelClusterScope(t *testing.T) {
	e := setup(t, true)
	e.deployment("web", 6)
	pods, err := e.c.Client.CoreV1().Pods(e.ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
	must(t, err)
	nodes, err := e.c.Client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{LabelSelector: "topology.kubernetes.io/zone=zone-a"})
	must(t, err)
	inZoneA := map[string]bool{}
	for _, n := range nodes.Items {
		inZoneA[n.Name] = true
	}
	want := map[string]bool{}
	for _, p := range pods.Items {
		if inZoneA[p.Spec.NodeName] {
			want[p.Name] = true
		}
	}
	if len(want) == 0 || len(want) == len(pods.Items) {
		t.Fatalf("%d of %d pods in zone-a: the scheduler should have spread them", len(want), len(pods.Items))
	}
	dels := e.watchDeletions()
	// One iteration (the interval outlasts the duration), every candidate: exactly the zone-a pods.
	e.create("chaosengines", e.engine("zone-a", "deployment", "app=web", map[string]string{
		"TOTAL_CHAOS_DURATION": "1", "CHAOS_INTERVAL": "5", "PODS_AFFECTED_PERC": "100", "NODE_LABEL": "topology.kubernetes.io/zone=zone-a",
	}))
	if v := e.result("zone-a", 60*time.Second).Status.ExperimentStatus.Verdict; v != litmus.VerdictPass {
		t.Fatalf("verdict %s", v)
	}
	got := dels.snapshot()
	if len(got) != len(want) {
		t.Errorf("deleted %d pods, want the %d on zone-a nodes", len(got), len(want))
	}
	for name := range got {
		if !want[name] {
			t.Errorf("deleted %s, which is not on a zone-a node", name)
		}
	}
}

func TestPodDeleteAbortOnStop(t *testing.T) {
	e := setup(t, false)
	e.deployment("web", 2)
	dels := e.watchDeletions()
	e.create("chaosengines", e.engine("long", "deployment", "app=web", map[string]string{
		"TOTAL_CHAOS_DURATION": "120", "CHAOS_INTERVAL": "1", "PODS_AFFECTED_PERC": "50",
	}))
	testcluster.Eventually(t, 30*time.Second, "first deletions", func(context.Context) (bool, error) { return len(dels.snapshot()) >= 2, nil })
	// Stop the engine as a user would.
	en := e.getEngine("long")
	en.Spec.EngineState = litmus.EngineStateStop
	u, err := litmus.ToUnstructured(en)
	must(t, err)
	_, err = e.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(e.ns).Update(t.Context(), u, metav1.UpdateOptions{})
	must(t, err)
	stopped := time.Now()
	res := e.result("long", 30*time.Second)
	if res.Status.ExperimentStatus.Verdict != litmus.VerdictStopped || res.Status.ExperimentStatus.Phase != litmus.ResultPhaseStopped {
		t.Fatalf("result %+v, want Stopped", res.Status.ExperimentStatus)
	}
	if res.Status.History.StoppedRuns != 1 {
		t.Errorf("stoppedRuns %d", res.Status.History.StoppedRuns)
	}
	// Wait a few more intervals: nothing may be deleted later than 1 s after the stop.
	time.Sleep(3 * time.Second)
	for name, at := range dels.snapshot() {
		if at.After(stopped.Add(time.Second)) {
			t.Errorf("pod %s deleted %s after the stop", name, at.Sub(stopped))
		}
	}
	en = e.waitEngineClosed("long")
	if en.Status.EngineStatus != litmus.EngineStatusStopped || en.Status.Experiments[0].Status != litmus.ExperimentRunStatusForcefullyAborted {
		t.Errorf("engine status %+v", en.Status)
	}
}

func TestPodDeletePDBAware(t *testing.T) {
	e := setup(t, false)
	e.deployment("web", 2)
	must(t, create(t.Context(), e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns), &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}))
	// Wait until the disruption controller has computed the budget.
	testcluster.Eventually(t, 30*time.Second, "PDB status", func(ctx context.Context) (bool, error) {
		p, err := e.c.Client.PolicyV1().PodDisruptionBudgets(e.ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && p.Status.ExpectedPods == 2 && p.Status.ObservedGeneration == p.Generation, err
	})
	dels := e.watchDeletions()
	e.create("chaosengines", e.engine("pdb", "deployment", "app=web", map[string]string{
		"TOTAL_CHAOS_DURATION": "3", "CHAOS_INTERVAL": "1", "PODS_AFFECTED_PERC": "50", "PDB_AWARE": "true",
	}))
	res := e.result("pdb", 60*time.Second)
	if len(dels.snapshot()) != 0 {
		t.Errorf("pods deleted despite a budget allowing no disruption: %v", dels.snapshot())
	}
	if len(res.Status.SkippedVictims) == 0 || !strings.Contains(res.Status.SkippedVictims[0].Reason, "PodDisruptionBudget") {
		t.Errorf("skipped victims %+v: want the budget named", res.Status.SkippedVictims)
	}
	t.Logf("verdict %s, skipped %d", res.Status.ExperimentStatus.Verdict, len(res.Status.SkippedVictims))
}

func TestPodDeleteBadInput(t *testing.T) {
	e := setup(t, false)
	e.deployment("web", 1)
	e.serviceAccount("readonly", false)
	tests := []struct {
		name     string
		mutate   func(*litmus.ChaosEngine)
		code     litmus.ErrorCode
		contains string
	}{
		{name: "rbac", mutate: func(en *litmus.ChaosEngine) { en.Spec.ChaosServiceAccount = "readonly" },
			code: litmus.ErrorCodeChaosInject, contains: "cannot delete"},
		{name: "bad-duration", mutate: func(en *litmus.ChaosEngine) {
			en.Spec.Experiments[0].Spec.Components.Env = []corev1.EnvVar{{Name: "TOTAL_CHAOS_DURATION", Value: "soon"}}
		}, code: litmus.ErrorCodeGeneric, contains: "TOTAL_CHAOS_DURATION"},
		{name: "bad-percent", mutate: func(en *litmus.ChaosEngine) {
			en.Spec.Experiments[0].Spec.Components.Env = []corev1.EnvVar{{Name: "PODS_AFFECTED_PERC", Value: "140"}}
		}, code: litmus.ErrorCodeGeneric, contains: "PODS_AFFECTED_PERC"},
		{name: "no-targets", mutate: func(en *litmus.ChaosEngine) { en.Spec.AppInfo.AppLabel = "app=nothing-here" },
			code: litmus.ErrorCodeTargetSelection, contains: "no"},
		{name: "other-namespace", mutate: func(en *litmus.ChaosEngine) { en.Spec.AppInfo.AppNS = "kube-system" },
			code: litmus.ErrorCodeTargetSelection, contains: "outside"},
		{name: "unknown-experiment", mutate: func(en *litmus.ChaosEngine) { en.Spec.Experiments[0].Name = "pod-explode" },
			code: litmus.ErrorCodeGeneric, contains: "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			en := e.engine(tc.name, "deployment", "app=web", map[string]string{"TOTAL_CHAOS_DURATION": "2", "CHAOS_INTERVAL": "1"})
			tc.mutate(en)
			e.create("chaosengines", en)
			resultName := litmus.ResultName(tc.name, en.Spec.Experiments[0].Name, "")
			var res litmus.ChaosResult
			testcluster.Eventually(t, 60*time.Second, "Error verdict", func(ctx context.Context) (bool, error) {
				u, err := e.c.Dynamic.Resource(litmus.ChaosResultGVR()).Namespace(e.ns).Get(ctx, resultName, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				if err := litmus.FromUnstructured(u, &res); err != nil {
					return false, err
				}
				return res.Status.ExperimentStatus.Verdict == litmus.VerdictError, nil
			})
			out := res.Status.ExperimentStatus.ErrorOutput
			if out == nil || out.ErrorCode != tc.code || !strings.Contains(out.Reason, tc.contains) {
				t.Errorf("errorOutput %+v, want %s mentioning %q", out, tc.code, tc.contains)
			}
			if res.Status.ExperimentStatus.Phase != litmus.ResultPhaseError || res.Status.ExperimentStatus.ProbeSuccessPercentage != "0" {
				t.Errorf("status %+v", res.Status.ExperimentStatus)
			}
			en2 := e.waitEngineClosed(tc.name)
			if en2.Status.Experiments[0].Verdict != litmus.VerdictError {
				t.Errorf("engine verdict %s", en2.Status.Experiments[0].Verdict)
			}
		})
	}
}

// TestUnknownAppKindRejected: the CRD's schema refuses an unknown appkind with a clear message,
// before the executor sees it (an engine that slips past, e.g. under a CRD without validation,
// gets a TARGET_SELECTION_ERROR result: see package target's tests).
func TestUnknownAppKindRejected(t *testing.T) {
	c := testcluster.Get(t)
	e := &env{t: t, c: c, ns: c.Namespace(t)}
	u, err := litmus.ToUnstructured(e.engine("cron", "cronjob", "app=web", nil))
	must(t, err)
	_, err = c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(e.ns).Create(t.Context(), u, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "appkind") {
		t.Fatalf("create with appkind cronjob: %v, want Invalid naming appkind", err)
	}
}

func TestStaleEngineIsClosed(t *testing.T) {
	c := testcluster.Get(t)
	e := &env{t: t, c: c, ns: c.Namespace(t)}
	// An engine a crashed agent left initialized, with a Running result.
	en := e.engine("stale", "deployment", "app=web", nil)
	e.create("chaosengines", en)
	got := e.getEngine("stale")
	got.Status.EngineStatus = litmus.EngineStatusInitialized
	got.Status.Experiments = []litmus.EngineExperimentStatus{{Name: "pod-delete", Status: litmus.ExperimentRunStatusRunning, Verdict: litmus.VerdictAwaited}}
	u, err := litmus.ToUnstructured(got)
	must(t, err)
	_, err = c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(e.ns).Update(t.Context(), u, metav1.UpdateOptions{})
	must(t, err)
	e.create("chaosresults", &litmus.ChaosResult{
		ObjectMeta: metav1.ObjectMeta{Name: "stale-pod-delete", Namespace: e.ns},
		Spec:       litmus.ChaosResultSpec{EngineName: "stale", ExperimentName: "pod-delete"},
		Status: litmus.ChaosResultStatus{ExperimentStatus: litmus.ResultExperimentStatus{
			Phase: litmus.ResultPhaseRunning, Verdict: litmus.VerdictAwaited, ProbeSuccessPercentage: "Awaited"}},
	})

	// Now the agent starts.
	registry, err := faults.Builtin()
	must(t, err)
	ex, err := executor.New(executor.Options{Namespace: e.ns, Kube: c.Client, Dynamic: c.Dynamic, Faults: registry,
		Clients: kube.NewServiceAccountClients(c.Config), Log: zaptest.NewLogger(t)})
	must(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = ex.Run(ctx) }()
	defer func() { cancel(); <-done }()

	closed := e.waitEngineClosed("stale")
	if closed.Status.EngineStatus != litmus.EngineStatusStopped || closed.Spec.EngineState != litmus.EngineStateStop {
		t.Errorf("engine %s/%s, want stop/stopped", closed.Spec.EngineState, closed.Status.EngineStatus)
	}
	res := e.result("stale", 10*time.Second)
	if res.Status.ExperimentStatus.Verdict != litmus.VerdictStopped || res.Status.ExperimentStatus.ErrorOutput == nil ||
		!strings.Contains(res.Status.ExperimentStatus.ErrorOutput.Reason, "restarted") {
		t.Errorf("result %+v: want Stopped with the reason", res.Status.ExperimentStatus)
	}
}

func TestEngineDeletedMidRun(t *testing.T) {
	e := setup(t, false)
	e.deployment("web", 2)
	dels := e.watchDeletions()
	e.create("chaosengines", e.engine("doomed", "deployment", "app=web", map[string]string{"TOTAL_CHAOS_DURATION": "120", "CHAOS_INTERVAL": "1"}))
	testcluster.Eventually(t, 30*time.Second, "first deletion", func(context.Context) (bool, error) { return len(dels.snapshot()) >= 1, nil })
	must(t, e.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(e.ns).Delete(t.Context(), "doomed", metav1.DeleteOptions{}))
	res := e.result("doomed", 30*time.Second)
	if res.Status.ExperimentStatus.Verdict != litmus.VerdictStopped {
		t.Errorf("verdict %s, want Stopped", res.Status.ExperimentStatus.Verdict)
	}
	if _, err := e.c.Dynamic.Resource(litmus.ChaosEngineGVR()).Namespace(e.ns).Get(t.Context(), "doomed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("engine still there: %v", err)
	}
}
