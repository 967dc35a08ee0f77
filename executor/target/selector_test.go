package target

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

const ns = "apps"

// sharedLabelObjects: Deployment "web" (2 pods) and StatefulSet "db" (2 pods)
// share app=shared; a bare pod carries it too.
func sharedLabelObjects() []runtime.Object {
	objs := deployment(ns, "web", 2, withLabels("app", "shared"))
	return append(objs,
		mkPod(ns, "db-0", ownedBy("StatefulSet", "db"), withLabels("app", "shared")),
		mkPod(ns, "db-1", ownedBy("StatefulSet", "db"), withLabels("app", "shared")),
		mkPod(ns, "stray", withLabels("app", "shared")),
	)
}

func wantSelErr(t *testing.T, err error, substrs ...string) *SelectionError {
	t.Helper()
	var se *SelectionError
	if !errors.As(err, &se) {
		t.Fatalf("want *SelectionError, got %T %v", err, err)
	}
	for _, s := range substrs {
		if !strings.Contains(se.Error(), s) {
			t.Errorf("error %q does not contain %q", se.Error(), s)
		}
	}
	return se
}

func TestCandidates(t *testing.T) {
	base := []runtime.Object{
		mkPod(ns, "ab", withLabels("app", "a", "tier", "b")),
		mkPod(ns, "ac", withLabels("app", "a", "tier", "c")),
		mkPod(ns, "xb", withLabels("app", "x", "tier", "b")),
		mkPod(ns, "cc", withLabels("app", "c")),
		mkPod(ns, "dying", withLabels("app", "a", "tier", "b"), terminating()),
		mkPod(ns, "done", withLabels("app", "a", "tier", "b"), inPhase(corev1.PodSucceeded)),
		mkPod(ns, "failed", withLabels("app", "a", "tier", "b"), inPhase(corev1.PodFailed)),
		mkPod(ns, "pending", withLabels("app", "a", "tier", "b"), inPhase(corev1.PodPending)),
		mkPod(ns, "runner", withLabels("app", "a", "chaosUID", "123")),
		mkPod(ns, "operator", withLabels("name", "chaos-operator")),
		mkPod("other", "elsewhere", withLabels("app", "a", "tier", "b")),
	}
	tests := []struct {
		name    string
		objs    []runtime.Object
		spec    Spec
		want    []string
		wantErr []string
	}{
		{
			name: "appkind filters shared label: deployment",
			objs: sharedLabelObjects(),
			spec: Spec{Entries: []Entry{{Kind: "deployment", Namespace: ns, Selector: "app=shared"}}},
			want: []string{"apps/web-5d8f-a", "apps/web-5d8f-b"},
		},
		{
			name: "appkind filters shared label: statefulset",
			objs: sharedLabelObjects(),
			spec: Spec{Entries: []Entry{{Kind: "statefulset", Namespace: ns, Selector: "app=shared"}}},
			want: []string{"apps/db-0", "apps/db-1"},
		},
		{
			name: "workload by name, duplicate and blank names ignored",
			objs: sharedLabelObjects(),
			spec: Spec{Entries: []Entry{{Kind: "statefulset", Namespace: ns, Names: []string{"db", " ", "db "}}}},
			want: []string{"apps/db-0", "apps/db-1"},
		},
		{
			name: "comma means AND",
			objs: base,
			spec: Spec{Entries: []Entry{{Namespace: ns, Selector: "app=a,tier=b"}}},
			want: []string{"apps/ab", "apps/pending"},
		},
		{
			name: "set-based selector",
			objs: base,
			spec: Spec{Entries: []Entry{{Namespace: ns, Selector: "app in (a, c), tier notin (b)"}}},
			want: []string{"apps/ac", "apps/cc"},
		},
		{
			name: "namespace-wide excludes litmus pods and terminating/finished pods",
			objs: base,
			spec: Spec{Entries: []Entry{{Namespace: ns}}},
			want: []string{"apps/ab", "apps/ac", "apps/cc", "apps/pending", "apps/xb"},
		},
		{
			name: "kinds are case-insensitive, KIND is namespace-wide",
			objs: append(sharedLabelObjects(), mkPod(ns, "runner", withLabels("chaosUID", "u"))),
			spec: Spec{Entries: []Entry{{Kind: "StatefulSet", Namespace: ns, Selector: "app=shared"}, {Kind: "KIND", Namespace: ns}}},
			want: []string{"apps/db-0", "apps/db-1", "apps/stray", "apps/web-5d8f-a", "apps/web-5d8f-b"},
		},
		{
			name: "entry namespace defaults to DefaultNamespace",
			objs: base,
			spec: Spec{DefaultNamespace: "other", Entries: []Entry{{Selector: "app=a"}}},
			want: []string{"other/elsewhere"},
		},
		{
			name: "pod entries skip terminating pods",
			objs: base,
			spec: Spec{Entries: []Entry{{Kind: "Pod", Namespace: ns, Names: []string{"xb", "dying", "ab", "xb"}}}},
			want: []string{"apps/ab", "apps/xb"},
		},
		{
			name: "de-duplicated across entries, sorted",
			objs: sharedLabelObjects(),
			spec: Spec{Entries: []Entry{
				{Kind: "statefulset", Namespace: ns, Selector: "app=shared"},
				{Kind: "deployment", Namespace: ns, Names: []string{"web"}},
				{Kind: "statefulset", Namespace: ns, Names: []string{"db"}},
				{Kind: "pod", Namespace: ns, Names: []string{"db-1", "stray"}},
				{Kind: "deployment", Namespace: ns, Selector: "app"},
			}},
			want: []string{"apps/db-0", "apps/db-1", "apps/stray", "apps/web-5d8f-a", "apps/web-5d8f-b"},
		},
		{
			name:    "nothing to target",
			objs:    base,
			spec:    Spec{DefaultNamespace: ns},
			wantErr: []string{"provide one of appinfo/selectors or TARGET_PODS"},
		},
		{
			name:    "named workload without pods",
			objs:    sharedLabelObjects(),
			spec:    Spec{Entries: []Entry{{Kind: "deployment", Namespace: "y", Names: []string{"x"}}}},
			wantErr: []string{`no pod found for deployment "x" in namespace "y"`},
		},
		{
			name:    "named workload whose pods all terminate",
			objs:    deployment(ns, "web", 2, terminating()),
			spec:    Spec{Entries: []Entry{{Kind: "deployment", Namespace: ns, Names: []string{"web"}}}},
			wantErr: []string{`deployment "web"`, "terminating or finished"},
		},
		{
			name:    "named pod missing",
			objs:    base,
			spec:    Spec{Entries: []Entry{{Kind: "pod", Namespace: ns, Names: []string{"ab", "nope"}}}},
			wantErr: []string{`pod "nope" does not exist in namespace "apps"`},
		},
		{
			name:    "invalid selector",
			objs:    base,
			spec:    Spec{Entries: []Entry{{Kind: "deployment", Namespace: ns, Selector: "app in (a"}}},
			wantErr: []string{`invalid label selector "app in (a"`},
		},
		{
			name:    "empty result",
			objs:    sharedLabelObjects(),
			spec:    Spec{Entries: []Entry{{Kind: "daemonset", Namespace: ns, Selector: "app=shared"}}},
			wantErr: []string{"no target pods found", "daemonset:apps:[app=shared]"},
		},
		{
			name:    "workload entry without names or selector",
			objs:    base,
			spec:    Spec{Entries: []Entry{{Kind: "deployment", Namespace: ns}}},
			wantErr: []string{"names no workload and no label selector"},
		},
		{
			name:    "unsupported kind",
			objs:    base,
			spec:    Spec{Entries: []Entry{{Kind: "cronjob", Namespace: ns, Selector: "a=b"}}},
			wantErr: []string{`unsupported kind "cronjob"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newFixture(t, tc.objs...).selector(1)
			got, err := s.Candidates(tc.spec)
			if len(tc.wantErr) > 0 {
				_ = wantSelErr(t, err, tc.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names(got), tc.want) {
				t.Errorf("got %v\nwant %v", names(got), tc.want)
			}
		})
	}
}

func TestTargetPods(t *testing.T) {
	objs := []runtime.Object{
		mkPod(ns, "a", onNode("n1")),
		mkPod(ns, "b", onNode("n2")),
		mkPod(ns, "c", onNode("n2")),
		mkPod(ns, "dying", terminating()),
		mkPod(ns, "done", inPhase(corev1.PodFailed)),
		mkPod("chaos", "a"),
		mkNode("n1", "zone", "x"),
	}
	tests := []struct {
		name    string
		spec    Spec
		want    []string
		wantErr []string
	}{
		{
			name: "all named pods in given order, no percentage, NODE_LABEL ignored",
			spec: Spec{
				TargetPods: []string{" c", "a", "b", "a", ""}, Percentage: 10, NodeLabel: "zone=x",
				Entries: []Entry{{Kind: "deployment", Namespace: ns, Selector: "app=none"}},
			},
			want: []string{"apps/c", "apps/a", "apps/b"},
		},
		{
			name: "namespace from the first entry naming one",
			spec: Spec{TargetPods: []string{"a"}, DefaultNamespace: "chaos",
				Entries: []Entry{{Kind: "deployment", Selector: "x=y"}, {Namespace: ns}}},
			want: []string{"apps/a"},
		},
		{
			name: "default namespace",
			spec: Spec{TargetPods: []string{"a"}, DefaultNamespace: "chaos"},
			want: []string{"chaos/a"},
		},
		{
			name: "terminating and finished pods skipped",
			spec: Spec{TargetPods: []string{"dying", "b", "done"}, DefaultNamespace: ns},
			want: []string{"apps/b"},
		},
		{
			name:    "missing pod fails fast",
			spec:    Spec{TargetPods: []string{"a", "typo"}, DefaultNamespace: ns},
			wantErr: []string{`pod "typo" set by TARGET_PODS does not exist in namespace "apps"`},
		},
		{
			name:    "all named pods terminating",
			spec:    Spec{TargetPods: []string{"dying", "done"}, DefaultNamespace: ns},
			wantErr: []string{"terminating or finished"},
		},
		{
			name:    "blank TARGET_PODS is no TARGET_PODS",
			spec:    Spec{TargetPods: []string{" "}, DefaultNamespace: ns},
			wantErr: []string{"provide one of appinfo/selectors or TARGET_PODS"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newFixture(t, objs...).selector(7)
			for _, call := range []func(Spec) ([]*corev1.Pod, error){s.Candidates, s.Select} {
				got, err := call(tc.spec)
				if len(tc.wantErr) > 0 {
					_ = wantSelErr(t, err, tc.wantErr...)
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(names(got), tc.want) {
					t.Errorf("got %v\nwant %v", names(got), tc.want)
				}
			}
		})
	}
}

func TestNodeLabel(t *testing.T) {
	objs := []runtime.Object{
		mkNode("n1", "zone", "x", "pool", "gpu"),
		mkNode("n2", "zone", "x"),
		mkNode("n3", "zone", "y"),
	}
	objs = append(objs, deployment(ns, "web", 4, withLabels("app", "web"))...)
	objs = append(objs, mkPod(ns, "solo", onNode("n1")))
	// Spread web pods: a,b → n1, c → n2, d → n3.
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.Spec.NodeName == "" {
			p.Spec.NodeName = map[byte]string{'a': "n1", 'b': "n1", 'c': "n2", 'd': "n3"}[p.Name[len(p.Name)-1]]
		}
	}
	web := []Entry{{Kind: "deployment", Namespace: ns, Names: []string{"web"}}}
	tests := []struct {
		name     string
		spec     Spec
		noNodes  bool
		want     []string
		wantErrs []string
	}{
		{
			name: "match",
			spec: Spec{Entries: web, NodeLabel: "zone=x", Percentage: 100},
			want: []string{"apps/web-5d8f-a", "apps/web-5d8f-b", "apps/web-5d8f-c"},
		},
		{
			name: "AND node selector",
			spec: Spec{Entries: web, NodeLabel: "zone=x,pool=gpu", Percentage: 100},
			want: []string{"apps/web-5d8f-a", "apps/web-5d8f-b"},
		},
		{
			name: "pod entries are filtered too",
			spec: Spec{Entries: []Entry{{Kind: "pod", Namespace: ns, Names: []string{"solo", "web-5d8f-d"}}}, NodeLabel: "pool=gpu"},
			want: []string{"apps/solo"},
		},
		{
			name:     "no nodes",
			spec:     Spec{Entries: web, NodeLabel: "zone=nowhere"},
			wantErrs: []string{`no nodes found with labels matching NODE_LABEL "zone=nowhere"`},
		},
		{
			name:     "no pods on the nodes",
			spec:     Spec{Entries: []Entry{{Kind: "pod", Namespace: ns, Names: []string{"solo"}}}, NodeLabel: "zone=y"},
			wantErrs: []string{`no target pod found on the node(s) matching NODE_LABEL "zone=y"`},
		},
		{
			name:     "no node lister",
			spec:     Spec{Entries: web, NodeLabel: "zone=x"},
			noNodes:  true,
			wantErrs: []string{"NODE_LABEL needs read access to nodes", "cluster-scoped"},
		},
		{
			name:     "invalid node selector",
			spec:     Spec{Entries: web, NodeLabel: "zone in ("},
			wantErrs: []string{"invalid NODE_LABEL selector"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newFixture(t, objs...).listers()
			if tc.noNodes {
				l.Nodes = nil
			}
			s := NewSelector(l, rand.New(rand.NewPCG(3, 3)))
			got, err := s.Select(tc.spec)
			if len(tc.wantErrs) > 0 {
				_ = wantSelErr(t, err, tc.wantErrs...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := names(got)
			slices.Sort(g)
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got %v\nwant %v", g, tc.want)
			}
		})
	}
}

func TestPercentage(t *testing.T) {
	tests := []struct{ n, p, want int }{
		{3, 0, 1}, {3, 50, 1}, {3, 67, 2}, {4, 50, 2}, {5, 100, 5},
		{5, -3, 1}, {5, 250, 5}, {10, 33, 3}, {1, 1, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("N=%d,p=%d", tc.n, tc.p), func(t *testing.T) {
			var objs []runtime.Object
			for i := range tc.n {
				objs = append(objs, mkPod(ns, fmt.Sprintf("p%02d", i), withLabels("app", "x")))
			}
			spec := Spec{Entries: []Entry{{Namespace: ns, Selector: "app=x"}}, Percentage: tc.p}
			all, err := newFixture(t, objs...).selector(0).Candidates(spec)
			if err != nil {
				t.Fatal(err)
			}
			for seed := range uint64(20) {
				s := newFixture(t, objs...).selector(seed)
				got, err := s.Select(spec)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != tc.want {
					t.Fatalf("seed %d: got %d pods (%v), want %d", seed, len(got), names(got), tc.want)
				}
				// Consecutive window over the sorted candidates, wrapping.
				allNames, gotNames := names(all), names(got)
				start := slices.Index(allNames, gotNames[0])
				for i, n := range gotNames {
					if n != allNames[(start+i)%len(allNames)] {
						t.Fatalf("seed %d: %v is not a consecutive window of %v", seed, names(got), names(all))
					}
				}
				// Deterministic for a given seed.
				again, _ := newFixture(t, objs...).selector(seed).Select(spec)
				if !reflect.DeepEqual(names(again), names(got)) {
					t.Fatalf("seed %d: not deterministic: %v vs %v", seed, names(got), names(again))
				}
			}
		})
	}
}

func TestSelectStartVaries(t *testing.T) {
	var objs []runtime.Object
	for i := range 10 {
		objs = append(objs, mkPod(ns, fmt.Sprintf("p%d", i), withLabels("app", "x")))
	}
	s := newFixture(t, objs...).selector(99)
	spec := Spec{Entries: []Entry{{Namespace: ns, Selector: "app=x"}}, Percentage: 10}
	starts := map[string]bool{}
	for range 200 {
		got, err := s.Select(spec)
		if err != nil {
			t.Fatal(err)
		}
		starts[got[0].Name] = true
	}
	if len(starts) != 10 {
		t.Errorf("random start hit %d of 10 pods", len(starts))
	}
}

func TestSelectPinnedPodsAndPool(t *testing.T) {
	objs := deployment(ns, "web", 4, withLabels("app", "web"))
	objs = append(objs, mkPod(ns, "solo"), mkPod(ns, "solo2"))
	s := newFixture(t, objs...).selector(5)
	spec := Spec{
		Percentage: 0,
		Entries: []Entry{
			{Kind: "pod", Namespace: ns, Names: []string{"solo2", "solo", "web-5d8f-a"}},
			{Kind: "deployment", Namespace: ns, Selector: "app=web"},
		},
	}
	got, err := s.Select(spec)
	if err != nil {
		t.Fatal(err)
	}
	// All pinned pods (sorted), then one of the remaining three web pods.
	if len(got) != 4 || !reflect.DeepEqual(names(got[:3]), []string{"apps/solo", "apps/solo2", "apps/web-5d8f-a"}) {
		t.Fatalf("got %v", names(got))
	}
	if n := got[3].Name; n == "web-5d8f-a" || !strings.HasPrefix(n, "web-5d8f-") {
		t.Errorf("pool pick %q", n)
	}
	// Only pod entries: every named pod, no percentage.
	got, err = s.Select(Spec{Entries: spec.Entries[:1]})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("got %v, want all 3 named pods", names(got))
	}
}

func TestWorkloadPods(t *testing.T) {
	objs := deployment(ns, "web", 2)
	objs = append(objs,
		mkPod(ns, "web-5d8f-z", ownedBy("ReplicaSet", "web-5d8f"), terminating()),
		mkPod(ns, "db-0", ownedBy("StatefulSet", "db")),
		mkPod(ns, "kafka-0", ownedBy("StrimziPodSet", "kafka")),
		mkPod("other", "web-5d8f-q", ownedBy("ReplicaSet", "web-5d8f")),
	)
	s := newFixture(t, objs...).selector(1)
	for _, tc := range []struct {
		kind, ns, name string
		want           []string
	}{
		{"deployment", ns, "web", []string{"apps/web-5d8f-a", "apps/web-5d8f-b", "apps/web-5d8f-z"}},
		{"Deployment", ns, "web", []string{"apps/web-5d8f-a", "apps/web-5d8f-b", "apps/web-5d8f-z"}},
		{"statefulset", ns, "db", []string{"apps/db-0"}},
		{"strimzipodset", ns, "kafka", []string{"apps/kafka-0"}},
		{"pod", ns, "db-0", []string{"apps/db-0"}},
		{"pod", ns, "gone", []string{}},
		{"deployment", ns, "gone", []string{}},
	} {
		got, err := s.WorkloadPods(tc.kind, tc.ns, tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(names(got), tc.want) {
			t.Errorf("WorkloadPods(%s, %s, %s) = %v, want %v", tc.kind, tc.ns, tc.name, names(got), tc.want)
		}
	}
	if _, err := s.WorkloadPods("", ns, "x"); err == nil {
		t.Error("empty kind: want error")
	}
}

func TestSelectionErrorFields(t *testing.T) {
	s := newFixture(t, sharedLabelObjects()...).selector(1)
	_, err := s.Select(Spec{Entries: []Entry{{Kind: "deployment", Namespace: "y", Names: []string{"x"}}}})
	se := wantSelErr(t, err)
	if se.Error() != `no pod found for deployment "x" in namespace "y"` || se.Target != "deployment:y:[x]" {
		t.Errorf("got Reason %q Target %q", se.Reason, se.Target)
	}
}

func TestConcurrentSelect(t *testing.T) {
	s := newFixture(t, deployment(ns, "web", 10, withLabels("app", "web"))...).selector(1)
	spec := Spec{Entries: []Entry{{Kind: "deployment", Namespace: ns, Selector: "app=web"}}, Percentage: 30}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if got, err := s.Select(spec); err != nil || len(got) != 3 {
					t.Errorf("got %d pods, err %v", len(got), err)
				}
			}
		})
	}
	wg.Wait()
}
