package subscriber

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
)

// fakeWorkflowManifest is a ChaosCenter experiment Workflow as the control plane sends it.
func fakeWorkflowManifest(t *testing.T, name string) string {
	t.Helper()
	wf := map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
		"metadata": map[string]any{"name": name, "namespace": fakeNS, "labels": map[string]any{
			// The wire contract's label keys, spelled out.
			"workflow_id": "exp-1", "infra_id": fakeInfra, "workflows.argoproj.io/controller-instanceid": fakeInfra,
			"revision_id": "rev-1", "notify_id": "notify-1",
		}},
		"spec": map[string]any{
			"entrypoint": "main",
			"templates": []any{
				map[string]any{"name": "main", "steps": []any{[]any{map[string]any{"name": "cleanup", "template": "cleanup"}}}},
				map[string]any{"name": "cleanup", "container": map[string]any{"name": "", "image": "litmuschaos/k8s:latest", "args": []any{"true"}}},
			},
		},
	}
	b, err := yaml.Marshal(wf)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSubscriberRunFake runs the whole subscriber — confirmation, link, action workers, the
// Workflow watchers, the outbox and its sender — against an in-memory control plane and fake
// clientsets: the registration is confirmed and the rotated key stored, a created experiment's
// run events reach the control plane in order up to the completed one, actions are answered,
// and a stop request shuts the Workflow down.
func TestSubscriberRunFake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fc := newFakeClients(
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: fakeNS}, Data: map[string]string{"IS_INFRA_CONFIRMED": "false"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: SecretName, Namespace: fakeNS}, Data: map[string][]byte{"ACCESS_KEY": []byte(fakeKey)}},
		)
		cp := testcp.New(testcp.Options{})
		cp.RegisterInfra(fakeInfra, fakeKey)
		ws := newMemCP(time.Second)
		mapper := meta.NewDefaultRESTMapper(nil)
		mapper.Add(wfv1.SchemeGroupVersion.WithKind("Workflow"), meta.RESTScopeNamespace)
		s := newFakeSubscriber(t, fc, func(o *Options) { o.Dial, o.Mapper = ws.dial, mapper })
		s.gql.http = &http.Client{Transport: &cpTransport{h: cp.Handler()}}

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		settle()
		if !s.Connected() {
			t.Fatal("not connected")
		}
		// Confirmation: the rotated key is stored (Secret first, then the flag) and used.
		if !cp.Confirmed(fakeInfra) {
			t.Fatal("registration not confirmed")
		}
		sec, _ := fc.kube.CoreV1().Secrets(fakeNS).Get(t.Context(), SecretName, metav1.GetOptions{})
		if k := string(sec.Data["ACCESS_KEY"]); k != cp.AccessKey(fakeInfra) || k == fakeKey {
			t.Errorf("stored key %q, server key %q", k, cp.AccessKey(fakeInfra))
		}
		cm, _ := fc.kube.CoreV1().ConfigMaps(fakeNS).Get(t.Context(), ConfigMapName, metav1.GetOptions{})
		if cm.Data["IS_INFRA_CONFIRMED"] != "true" {
			t.Errorf("IS_INFRA_CONFIRMED %q", cm.Data["IS_INFRA_CONFIRMED"])
		}

		conn := ws.conn(0)
		conn.action(map[string]any{"requestID": "r1", "requestType": "create", "k8sManifest": fakeWorkflowManifest(t, "exp-run-1"), "namespace": fakeNS, "username": "admin"})
		conn.action(map[string]any{"requestID": "r2", "requestType": "namespace"})
		conn.action(map[string]any{"requestID": "r3", "requestType": "no-such-type"})
		conn.action(map[string]any{"requestID": "r4", "requestType": "create", "k8sManifest": "kind: [", "namespace": fakeNS})
		time.Sleep(time.Second)
		synctest.Wait()
		wfs := fc.argo.ArgoprojV1alpha1().Workflows(fakeNS)
		wf, err := wfs.Get(t.Context(), "exp-run-1", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the created Workflow: %v", err)
		}
		if wf.Labels["updated_by"] != "YWRtaW4" {
			t.Errorf("labels %v", wf.Labels)
		}
		if got := cp.KubeNamespaces(); len(got) != 1 {
			t.Errorf("namespace replies %v", got)
		}
		m := s.o.Metrics.actions
		for _, c := range []struct{ rt, res string }{{"create", "ok"}, {"namespace", "ok"}, {"unknown", "refused"}, {"create", "error"}} {
			if testutil.ToFloat64(m.WithLabelValues(c.rt, c.res)) != 1 {
				t.Errorf("actions{%s,%s} = %v, want 1", c.rt, c.res, testutil.ToFloat64(m.WithLabelValues(c.rt, c.res)))
			}
		}

		// The run progresses as Argo would drive it; its events reach the control plane.
		wf.Status.Phase, wf.Status.StartedAt = wfv1.WorkflowRunning, metav1.NewTime(time.Now())
		if wf, err = wfs.Update(t.Context(), wf, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		// Stop request: the Workflow is shut down.
		conn.action(map[string]any{"requestID": "r5", "requestType": "workflow_run_stop", "externalData": string(wf.UID)})
		time.Sleep(time.Second)
		synctest.Wait()
		wf, _ = wfs.Get(t.Context(), "exp-run-1", metav1.GetOptions{})
		if wf.Spec.Shutdown != wfv1.ShutdownStrategyStop {
			t.Errorf("Workflow shutdown %q after the stop request", wf.Spec.Shutdown)
		}
		wf.Status.Phase, wf.Status.FinishedAt = wfv1.WorkflowFailed, metav1.NewTime(time.Now())
		wf.Status.Message = "Stopped with strategy 'Stop'"
		if _, err := wfs.Update(t.Context(), wf, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
			runs := cp.Runs()
			if len(runs) > 0 && runs[len(runs)-1].Completed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no completed run event within a minute (%d events)", len(runs))
			}
		}
		runs := cp.Runs()
		for i, r := range runs {
			if r.ExperimentRunID != "uid-exp-run-1" || r.ExperimentID != "exp-1" || r.NotifyID != "notify-1" {
				t.Errorf("event %d: run %q experiment %q notify %q", i, r.ExperimentRunID, r.ExperimentID, r.NotifyID)
			}
			if r.Completed != (i == len(runs)-1) {
				t.Errorf("event %d of %d completed=%v", i, len(runs), r.Completed)
			}
		}
		if last := runs[len(runs)-1]; !strings.Contains(strings.ToLower(last.Phase), "stop") && last.Phase != "Failed" {
			t.Errorf("final phase %q", last.Phase)
		}
		if f := cp.Fatal(); f != "" {
			t.Error(f)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
