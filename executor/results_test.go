package executor

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// A fault that deleted thousands of pods still writes a ChaosResult the API server can store:
// the per-victim lists are cut, with the count of what was left out.
func TestFinishBoundsPerVictimLists(t *testing.T) {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{litmus.ChaosResultGVR(): "ChaosResultList"})
	r := &results{dyn: dyn, log: zap.NewNop()}
	run := resultRun{namespace: "ns", name: "e-pod-delete", spec: litmus.ChaosResultSpec{EngineName: "e", ExperimentName: "pod-delete"}}
	const victims = 5000
	var recs []litmus.PodRecovery
	var skipped []litmus.SkippedVictim
	var targets []litmus.TargetDetail
	for i := range victims {
		recs = append(recs, litmus.PodRecovery{Pod: fmt.Sprint("pod-", i), Namespace: "ns", DeletedAt: metav1.NewTime(time.Unix(1, 0))})
		skipped = append(skipped, litmus.SkippedVictim{Pod: fmt.Sprint("skip-", i), Reason: "not ready"})
		targets = append(targets, litmus.TargetDetail{Name: fmt.Sprint("w-", i), Kind: "deployment"})
	}
	res, err := r.finish(t.Context(), run, verdict{verdict: litmus.VerdictPass, phase: litmus.ResultPhaseCompleted, psp: "100"}, targets, recs, skipped)
	if err != nil {
		t.Fatal(err)
	}
	u, err := dyn.Resource(litmus.ChaosResultGVR()).Namespace("ns").Get(t.Context(), run.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var stored litmus.ChaosResult
	if err := litmus.FromUnstructured(u, &stored); err != nil {
		t.Fatal(err)
	}
	for _, got := range []*litmus.ChaosResult{res, &stored} {
		st := got.Status
		if len(st.Recoveries) != litmus.MaxResultListEntries || len(st.SkippedVictims) != litmus.MaxResultListEntries || len(st.History.Targets) != litmus.MaxResultListEntries {
			t.Fatalf("lists not bounded: %d recoveries, %d skipped, %d targets", len(st.Recoveries), len(st.SkippedVictims), len(st.History.Targets))
		}
		want := victims - litmus.MaxResultListEntries
		if st.Omitted == nil || st.Omitted.Recoveries != want || st.Omitted.SkippedVictims != want || st.Omitted.Targets != want {
			t.Fatalf("omitted counts %+v, want %d each", st.Omitted, want)
		}
	}
	// The next run starts with clean lists and no stale counts.
	res, err = r.start(t.Context(), run, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status.Omitted != nil || len(res.Status.Recoveries) != 0 {
		t.Fatalf("start kept the previous run's lists: %+v", res.Status.Omitted)
	}
}
