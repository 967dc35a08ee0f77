package subscriber

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
	testcp "github.com/chaos-agent/chaos-agent/internal/testing/controlplane"
)

var phaseRank = map[string]int{"Pending": 0, "Running": 1, "Completed": 2, "Completed_With_Probe_Failure": 2, "Error": 2, "Stopped": 2}

// checkOrder asserts a run's events never go backwards: phases only advance and only the last
// event is the completed one.
func checkOrder(t *testing.T, run string, evs []testcp.RunEvent) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if phaseRank[evs[i].Phase] < phaseRank[evs[i-1].Phase] {
			t.Errorf("run %s: event %d phase %s after %s", run, i, evs[i].Phase, evs[i-1].Phase)
		}
		if evs[i-1].Completed {
			t.Errorf("run %s: event %d follows a completed event", run, i)
		}
	}
	if !completed(evs) {
		t.Errorf("run %s: the last event is not completed", run)
	}
}

// TestControlPlaneOutage: the control plane disappears for 60 s while 5 runs progress and finish;
// after it comes back every event arrives, in order, none lost.
func TestControlPlaneOutage(t *testing.T) {
	outage := 60 * time.Second
	if v := os.Getenv("CHAOS_AGENT_TEST_OUTAGE_SECONDS"); v != "" { // shorter by hand; CI uses 60
		n, _ := strconv.Atoi(v)
		outage = time.Duration(n) * time.Second
	}
	w := newWorld(t)
	w.chaosSetup()
	w.startAgent(true)
	w.waitConnected()

	const runs = 5
	names := make([]string, runs)
	for i := range runs {
		names[i] = fmt.Sprintf("outage-%d-1700000000%03d", i, i)
		w.send(testcp.Action{RequestType: "create", K8sManifest: w.experiment(names[i], "exp-outage", fmt.Sprintf("notify-outage-%d", i), "2"), Namespace: w.ns})
	}
	uids := make([]string, runs)
	for i, n := range names {
		testcluster.Eventually(t, 60*time.Second, n+" running", func(ctx context.Context) (bool, error) {
			wf, err := w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			uids[i] = string(wf.UID)
			return wf.Status.Phase == wfv1.WorkflowRunning, nil
		})
	}

	w.cp.Stop()
	down := time.Now()
	t.Logf("control plane down")
	for _, n := range names {
		w.simulateCheckerStep(n, true)
	}
	for _, n := range names {
		testcluster.Eventually(t, 60*time.Second, n+" finished", func(ctx context.Context) (bool, error) {
			wf, err := w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(ctx, n, metav1.GetOptions{})
			return err == nil && wf.Status.Phase.Completed(), err
		})
	}
	if d := w.sub.outbox.depth(); d == 0 {
		t.Fatal("nothing waits in the outbox during the outage")
	}
	stored, err := NewConfigMapStore(w.c.Client, w.ns, "chaos-agent-outbox").Load(t.Context())
	if err != nil || len(stored) == 0 {
		t.Fatalf("outbox not persisted in its ConfigMaps: %d events, %v", len(stored), err)
	}
	t.Logf("all runs finished during the outage; %d events wait in the outbox", w.sub.outbox.depth())
	if rest := outage - time.Since(down); rest > 0 {
		select {
		case <-time.After(rest):
		case <-w.done:
			t.Fatal("the agent stopped during the outage")
		}
	}

	if err := w.cp.Restart(); err != nil {
		t.Fatal(err)
	}
	w.waitConnected()
	for i, uid := range uids {
		evs := w.waitRun("the completed event of "+names[i], 60*time.Second, completed, func() string { return uid })
		checkOrder(t, names[i], evs)
	}
	testcluster.Eventually(t, 30*time.Second, "outbox drained", func(context.Context) (bool, error) { return w.sub.outbox.depth() == 0, nil })
	queued := testutil.ToFloat64(w.sub.o.Metrics.eventsQueued)
	sent := testutil.ToFloat64(w.sub.o.Metrics.eventsSent)
	dup := testutil.ToFloat64(w.sub.o.Metrics.eventsFailed.WithLabelValues("duplicate"))
	dropped := testutil.ToFloat64(w.sub.o.Metrics.eventsFailed.WithLabelValues("superseded")) + testutil.ToFloat64(w.sub.o.Metrics.eventsFailed.WithLabelValues("refused"))
	received := float64(len(w.cp.Runs()))
	t.Logf("events queued %v, accepted %v (control plane received %v), duplicates of completed runs %v, dropped %v", queued, sent, received, dup, dropped)
	if dropped != 0 || queued != sent+dup {
		t.Errorf("lost events: queued %v != accepted %v + duplicates %v (received %v, dropped %v)", queued, sent, dup, received, dropped)
	}
	// Delivery is at least once: the one event in flight when the control plane went down may
	// have reached it without its reply reaching the agent, and is then sent again.
	if received < sent || received > sent+1 {
		t.Errorf("control plane received %v events for %v accepted; want between %v and %v", received, sent, sent, sent+1)
	}
}

// TestAgentRestartReplaysOutbox: events queued while the control plane is away survive an agent
// restart (the outbox is a ConfigMap) and are delivered by the next agent.
func TestAgentRestartReplaysOutbox(t *testing.T) {
	w := newWorld(t)
	w.chaosSetup()
	w.startAgent(true)
	w.waitConnected()
	name := "restart-1700000000999"
	w.send(testcp.Action{RequestType: "create", K8sManifest: w.experiment(name, "exp-restart", "notify-restart", "2"), Namespace: w.ns})
	var uid string
	testcluster.Eventually(t, 60*time.Second, "running", func(ctx context.Context) (bool, error) {
		wf, err := w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			uid = string(wf.UID)
		}
		return err == nil && wf.Status.Phase == wfv1.WorkflowRunning, nil
	})
	w.cp.Stop()
	w.simulateCheckerStep(name, true)
	testcluster.Eventually(t, 60*time.Second, "finished", func(ctx context.Context) (bool, error) {
		wf, err := w.argo.ArgoprojV1alpha1().Workflows(w.ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && wf.Status.Phase.Completed(), err
	})
	// The API server says finished; wait until the agent's informer has seen it too.
	testcluster.Eventually(t, 30*time.Second, "the completed event queued", func(context.Context) (bool, error) {
		return w.sub.outbox.queuedCompleted(uid), nil
	})
	pending := w.sub.outbox.depth()
	w.stopAgent() // the agent restarts while events wait
	if pending == 0 {
		t.Fatal("no events waited in the outbox")
	}
	// Delete the finished Workflow: only the outbox can deliver its events now.
	if err := w.argo.ArgoprojV1alpha1().Workflows(w.ns).Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.cp.Restart(); err != nil {
		t.Fatal(err)
	}
	w.startAgent(false)
	w.waitConnected()
	evs := w.waitRun("the completed event, replayed", 60*time.Second, completed, func() string { return uid })
	checkOrder(t, name, evs)
	t.Logf("%d events were waiting; %d received for the run after the restart", pending, len(evs))
}
