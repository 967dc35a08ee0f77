package litmus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// normalize converts v into plain JSON values (float64 numbers) and drops
// the values that omitempty/omitzero drop on re-encoding: "", false, 0,
// null, and empty maps/slices.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return prune(out)
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if p := prune(e); p == nil {
				delete(x, k)
			} else {
				x[k] = p
			}
		}
		if len(x) == 0 {
			return nil
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = prune(e)
		}
		if len(x) == 0 {
			return nil
		}
		return x
	case string:
		if x == "" {
			return nil
		}
	case bool:
		if !x {
			return nil
		}
	case float64:
		if x == 0 {
			return nil
		}
	}
	return v
}

// diffPaths lists the JSON paths where a and b differ.
func diffPaths(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		var out []string
		for k := range keys {
			out = append(out, diffPaths(path+"."+k, am[k], bm[k])...)
		}
		sort.Strings(out)
		return out
	}
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok && bok && len(as) == len(bs) {
		var out []string
		for i := range as {
			out = append(out, diffPaths(fmt.Sprintf("%s[%d]", path, i), as[i], bs[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []string{path}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip decodes a YAML manifest into a new T, converts it to
// unstructured and back, and checks that nothing changed on the way. It
// returns the decoded object and the paths of the original manifest that
// the typed object does not carry.
func roundTrip[T any](t *testing.T, manifest []byte, wantKind string) (*T, []string) {
	t.Helper()
	obj := new(T)
	if err := yaml.Unmarshal(manifest, obj); err != nil {
		t.Fatalf("yaml.Unmarshal: %v", err)
	}

	u, err := ToUnstructured(obj)
	if err != nil {
		t.Fatalf("ToUnstructured: %v", err)
	}
	if u.GetAPIVersion() != APIVersion || u.GetKind() != wantKind {
		t.Fatalf("ToUnstructured gave %s %s, want %s %s", u.GetAPIVersion(), u.GetKind(), APIVersion, wantKind)
	}
	// The unstructured content must be deep-copyable, i.e. plain JSON values.
	_ = u.DeepCopy()

	back := new(T)
	if err := FromUnstructured(u, back); err != nil {
		t.Fatalf("FromUnstructured: %v", err)
	}
	if !reflect.DeepEqual(obj, back) {
		a, _ := json.MarshalIndent(obj, "", "  ")
		b, _ := json.MarshalIndent(back, "", "  ")
		t.Fatalf("struct -> unstructured -> struct changed the object:\nbefore: %s\nafter:  %s", a, b)
	}

	// Re-encoding through sigs.k8s.io/yaml gives the same object again.
	out, err := yaml.Marshal(back)
	if err != nil {
		t.Fatalf("yaml.Marshal: %v", err)
	}
	again := new(T)
	if err := yaml.Unmarshal(out, again); err != nil {
		t.Fatalf("yaml.Unmarshal of re-encoded object: %v", err)
	}
	if !reflect.DeepEqual(obj, again) {
		t.Fatalf("yaml re-encoding changed the object:\n%s", out)
	}

	// Compare the original manifest with the unstructured form.
	var orig map[string]any
	if err := yaml.Unmarshal(manifest, &orig); err != nil {
		t.Fatalf("yaml.Unmarshal into map: %v", err)
	}
	return obj, diffPaths("", normalize(t, orig), normalize(t, u.Object))
}

func TestRoundTripTutorialEngine(t *testing.T) {
	manifest := readTestdata(t, "tutorial-pod-delete-engine.yaml")
	// Strict decoding proves that no field of the tutorial is unknown to
	// the Go types.
	var strict ChaosEngine
	if err := yaml.UnmarshalStrict(manifest, &strict); err != nil {
		t.Fatalf("UnmarshalStrict: %v", err)
	}

	eng, lost := roundTrip[ChaosEngine](t, manifest, KindChaosEngine)
	if len(lost) != 0 {
		t.Errorf("round trip lost or changed %v", lost)
	}

	if eng.GenerateName != "pod-delete-ji5" || eng.Namespace != "{{workflow.parameters.adminModeNamespace}}" {
		t.Errorf("metadata = %q/%q", eng.Namespace, eng.GenerateName)
	}
	if got := eng.Labels["workflow_name"]; got != "my-cart-pod-delete-experiment" {
		t.Errorf("label workflow_name = %q", got)
	}
	want := AppInfo{AppNS: "hce", AppLabel: "app=cartservice", AppKind: "deployment"}
	if eng.Spec.AppInfo != want {
		t.Errorf("appinfo = %+v, want %+v", eng.Spec.AppInfo, want)
	}
	if eng.Spec.EngineState != EngineStateActive || eng.Spec.ChaosServiceAccount != "litmus-admin" {
		t.Errorf("engineState/SA = %q/%q", eng.Spec.EngineState, eng.Spec.ChaosServiceAccount)
	}
	if len(eng.Spec.Experiments) != 1 {
		t.Fatalf("experiments = %d, want 1", len(eng.Spec.Experiments))
	}
	exp := eng.Spec.Experiments[0]
	if exp.Name != "pod-delete" {
		t.Errorf("experiment name = %q", exp.Name)
	}
	env := map[string]string{}
	for _, e := range exp.Spec.Components.Env {
		env[e.Name] = e.Value
	}
	wantEnv := map[string]string{"TOTAL_CHAOS_DURATION": "30", "CHAOS_INTERVAL": "10", "FORCE": "false", "PODS_AFFECTED_PERC": ""}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("env = %v, want %v", env, wantEnv)
	}
	if len(exp.Spec.Probe) != 1 {
		t.Fatalf("probes = %d, want 1", len(exp.Spec.Probe))
	}
	p := exp.Spec.Probe[0]
	if p.Name != "http-cartservice-probe" || p.Type != ProbeTypeHTTP || p.Mode != ProbeModeContinuous {
		t.Errorf("probe = %q %q %q", p.Name, p.Type, p.Mode)
	}
	timings, err := p.RunProperties.Timings()
	if err != nil {
		t.Fatalf("Timings: %v", err)
	}
	if timings.ProbeTimeout != 10*time.Second || timings.Interval != time.Second {
		t.Errorf("timings = %+v", timings)
	}
	if p.RunProperties.Attempts() != 1 || p.RunProperties.StopOnFailure {
		t.Errorf("runProperties = %+v", p.RunProperties)
	}
	in := p.HTTPProbeInputs
	if in == nil || in.URL != "http://frontend/cart" || in.Method.Get == nil || in.Method.Post != nil {
		t.Fatalf("httpProbe/inputs = %+v", in)
	}
	if g := in.Method.Get; g.Criteria != "==" || g.ResponseCode != "200" || g.ResponseTimeout.String() != "15" || !g.ResponseTimeout.IsNumber() {
		t.Errorf("method.get = %+v", g)
	}
}

func TestRoundTripAllProbesEngine(t *testing.T) {
	eng, lost := roundTrip[ChaosEngine](t, readTestdata(t, "engine-all-probes.yaml"), KindChaosEngine)
	// annotationCheck is a LitmusChaos 2.x field the types deliberately drop
	// (the CRD keeps it thanks to x-kubernetes-preserve-unknown-fields).
	if want := []string{".spec.annotationCheck"}; !reflect.DeepEqual(lost, want) {
		t.Errorf("round trip lost or changed %v, want only %v", lost, want)
	}
	probes := eng.Spec.Experiments[0].Spec.Probe
	types := map[ProbeType]int{}
	for _, p := range probes {
		types[p.Type]++
		if _, err := p.RunProperties.Timings(); err != nil {
			t.Errorf("probe %s: %v", p.Name, err)
		}
	}
	if len(types) != 5 {
		t.Errorf("probe types = %v, want all five", types)
	}
	if eng.Status.Experiments[0].LastUpdateTime.IsZero() {
		t.Error("lastUpdateTime not decoded")
	}
	if eng.Spec.Selectors == nil || len(eng.Spec.Selectors.Workloads) != 1 {
		t.Errorf("selectors = %+v", eng.Spec.Selectors)
	}
}

func TestRoundTripExperiment(t *testing.T) {
	exp, lost := roundTrip[ChaosExperiment](t, readTestdata(t, "experiment-pod-delete.yaml"), KindChaosExperiment)
	if len(lost) != 0 {
		t.Errorf("round trip lost or changed %v", lost)
	}
	d := exp.Spec.Definition
	if d.Image != "litmuschaos/go-runner:3.31.0" || len(d.Permissions) != 2 || d.SecurityContext.PodSecurityContext == nil || !d.HostPID {
		t.Errorf("definition = %+v", d)
	}
}

func TestRoundTripResult(t *testing.T) {
	res, lost := roundTrip[ChaosResult](t, readTestdata(t, "result-pod-delete.yaml"), KindChaosResult)
	if len(lost) != 0 {
		t.Errorf("round trip lost or changed %v", lost)
	}
	st := res.Status
	if st.ExperimentStatus.Verdict != VerdictError || st.ExperimentStatus.ErrorOutput == nil ||
		st.ExperimentStatus.ErrorOutput.ErrorCode != ErrorCodeStatusChecks {
		t.Errorf("experimentStatus = %+v", st.ExperimentStatus)
	}
	var reason ErrorReason
	if err := json.Unmarshal([]byte(st.ExperimentStatus.ErrorOutput.Reason), &reason); err != nil {
		t.Fatalf("errorOutput.reason: %v", err)
	}
	if reason.Phase != ExperimentPhaseChaosInject || reason.ErrorCode != ErrorCodeStatusChecks {
		t.Errorf("reason = %+v", reason)
	}
	if len(st.Recoveries) != 1 || st.Recoveries[0].Seconds != 12.5 ||
		st.Recoveries[0].ReadyAt.Sub(st.Recoveries[0].DeletedAt.Time) != 12*time.Second {
		t.Errorf("recoveries = %+v", st.Recoveries)
	}
	if len(st.SkippedVictims) != 1 || st.SkippedVictims[0].Reason != "terminating" {
		t.Errorf("skippedVictims = %+v", st.SkippedVictims)
	}
	if res.Name != ResultName(res.Spec.EngineName, res.Spec.ExperimentName, res.Spec.InstanceID) {
		t.Errorf("name %q does not follow ResultName", res.Name)
	}
}

func TestResultHistoryCountersAlwaysWritten(t *testing.T) {
	res := ChaosResult{Spec: ChaosResultSpec{EngineName: "e", ExperimentName: "pod-delete"}}
	res.Status.ExperimentStatus = ResultExperimentStatus{
		Phase: ResultPhaseRunning, Verdict: VerdictAwaited, ProbeSuccessPercentage: ProbeSuccessPercentageAwaited,
	}
	u, err := ToUnstructured(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"passedRuns", "failedRuns", "stoppedRuns"} {
		v, found, err := unstructured.NestedInt64(u.Object, "status", "history", f)
		if err != nil || !found || v != 0 {
			t.Errorf("status.history.%s = %v, %v, %v; want 0 present", f, v, found, err)
		}
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "experimentStatus", "errorOutput"); found {
		t.Error("errorOutput written although nil")
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, "metadata", "creationTimestamp"); found {
		t.Error("zero creationTimestamp written")
	}
}

func TestToUnstructuredSetsTypeMeta(t *testing.T) {
	tests := []struct {
		name string
		obj  any
		kind string
	}{
		{"engine value", ChaosEngine{}, KindChaosEngine},
		{"engine pointer", &ChaosEngine{}, KindChaosEngine},
		{"engine with wrong TypeMeta", &ChaosEngine{}, KindChaosEngine},
		{"experiment", &ChaosExperiment{}, KindChaosExperiment},
		{"result", ChaosResult{}, KindChaosResult},
		{"engine list", &ChaosEngineList{}, KindChaosEngineList},
		{"experiment list", ChaosExperimentList{}, KindChaosExperimentList},
		{"result list", &ChaosResultList{}, KindChaosResultList},
	}
	tests[2].obj.(*ChaosEngine).APIVersion = "v1"
	tests[2].obj.(*ChaosEngine).Kind = "Pod"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ToUnstructured(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			if u.GetAPIVersion() != APIVersion || u.GetKind() != tc.kind {
				t.Errorf("got %s %s, want %s %s", u.GetAPIVersion(), u.GetKind(), APIVersion, tc.kind)
			}
		})
	}
	// The caller's object is not modified.
	if e := tests[2].obj.(*ChaosEngine); e.Kind != "Pod" {
		t.Errorf("ToUnstructured modified its argument: kind %q", e.Kind)
	}
}

func TestConversionErrors(t *testing.T) {
	if _, err := ToUnstructured(nil); err == nil {
		t.Error("ToUnstructured(nil) succeeded")
	}
	if _, err := ToUnstructured((*ChaosEngine)(nil)); err == nil {
		t.Error("ToUnstructured(nil pointer) succeeded")
	}
	if _, err := ToUnstructured(&struct{ A string }{"x"}); err == nil {
		t.Error("ToUnstructured(foreign type without kind) succeeded")
	}
	if err := FromUnstructured(nil, &ChaosEngine{}); err == nil {
		t.Error("FromUnstructured(nil) succeeded")
	}
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": APIVersion, "kind": KindChaosResult}}
	if err := FromUnstructured(u, &ChaosEngine{}); err == nil || !strings.Contains(err.Error(), "ChaosResult") {
		t.Errorf("FromUnstructured(result into engine) = %v, want kind error", err)
	}
	u = &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": KindChaosEngine}}
	if err := FromUnstructured(u, &ChaosEngine{}); err == nil {
		t.Error("FromUnstructured(wrong apiVersion) succeeded")
	}
	u = &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": APIVersion, "kind": KindChaosEngine,
		"spec": map[string]any{"experiments": []any{map[string]any{
			"name": "pod-delete",
			"spec": map[string]any{"probe": []any{map[string]any{
				"name": "p", "runProperties": map[string]any{"probeTimeout": true},
			}}},
		}}},
	}}
	if err := FromUnstructured(u, &ChaosEngine{}); err == nil || !strings.Contains(err.Error(), "invalid duration") {
		t.Errorf("FromUnstructured(boolean probeTimeout) = %v, want duration error", err)
	}
}

func TestResultName(t *testing.T) {
	tests := []struct {
		engine, experiment, instance, want string
	}{
		{"cart-chaos", "pod-delete", "", "cart-chaos-pod-delete"},
		{"cart-chaos", "pod-delete", "run7", "cart-chaos-pod-delete-run7"},
		{"", "pod-delete", "", "pod-delete"},
		{"", "pod-delete", "run7", "pod-delete-run7"},
	}
	for _, tc := range tests {
		if got := ResultName(tc.engine, tc.experiment, tc.instance); got != tc.want {
			t.Errorf("ResultName(%q, %q, %q) = %q, want %q", tc.engine, tc.experiment, tc.instance, got, tc.want)
		}
	}
}

func TestEventNames(t *testing.T) {
	if got := EngineEventName(EventReasonSummary, "pod-delete", "uid-1"); got != "Summarypod-deleteuid-1" {
		t.Errorf("EngineEventName = %q", got)
	}
	if got := ResultEventName(EventReasonResultPass, "pod-delete-abc-xyz"); got != "Passpod-delete-abc-xyz" {
		t.Errorf("ResultEventName = %q", got)
	}
}

func TestGVRs(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{ChaosEngineGVR().String(), "litmuschaos.io/v1alpha1, Resource=chaosengines"},
		{ChaosExperimentGVR().String(), "litmuschaos.io/v1alpha1, Resource=chaosexperiments"},
		{ChaosResultGVR().String(), "litmuschaos.io/v1alpha1, Resource=chaosresults"},
		{ChaosEngineGVK().String(), "litmuschaos.io/v1alpha1, Kind=ChaosEngine"},
		{ChaosExperimentGVK().String(), "litmuschaos.io/v1alpha1, Kind=ChaosExperiment"},
		{ChaosResultGVK().String(), "litmuschaos.io/v1alpha1, Kind=ChaosResult"},
		{GroupVersion().String(), APIVersion},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestErrorCodeIsProbeFailure(t *testing.T) {
	for _, c := range []ErrorCode{ErrorCodeK8sProbeFailure, ErrorCodeCmdProbeFailure, ErrorCodeHTTPProbeFailure, ErrorCodePromProbeFailure} {
		if !c.IsProbeFailure() {
			t.Errorf("%s.IsProbeFailure() = false", c)
		}
	}
	for _, c := range []ErrorCode{ErrorCodeHTTPProbeError, ErrorCodeProbeTimeout, ErrorCodeStatusChecks, ""} {
		if c.IsProbeFailure() {
			t.Errorf("%q.IsProbeFailure() = true", c)
		}
	}
}
