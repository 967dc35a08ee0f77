package target

import (
	"fmt"
	"testing"
	"time"
)

// benchFixture fills the caches with 10 000 running pods in one namespace,
// owned by 100 Deployments (100 pods each) through their ReplicaSets and
// labelled app=app-NN, spread over 10 nodes.
func benchFixture(b *testing.B) *Selector {
	b.Helper()
	f := newFixture(b)
	for n := range 10 {
		f.add(b, mkNode(fmt.Sprintf("node-%d", n), "zone", fmt.Sprintf("z%d", n%2)))
	}
	for d := range 100 {
		dep := fmt.Sprintf("app-%02d", d)
		rs := dep + "-7c9d8f"
		f.add(b, mkRS(ns, rs, ctrlRef("Deployment", dep)))
		for i := range 100 {
			f.add(b, mkPod(ns, fmt.Sprintf("%s-%05d", rs, i),
				ownedBy("ReplicaSet", rs),
				withLabels("app", dep, "pod-template-hash", "7c9d8f"),
				onNode(fmt.Sprintf("node-%d", i%10))))
		}
	}
	return f.selector(1)
}

func runSelectBench(b *testing.B, spec Spec, want int) {
	s := benchFixture(b)
	got, err := s.Select(spec)
	if err != nil {
		b.Fatal(err)
	}
	if len(got) != want {
		b.Fatalf("selected %d pods, want %d", len(got), want)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := s.Select(spec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N)/1e6, "ms/op")
}

// BenchmarkSelect10000Pods: label selector matching the 100 pods of one
// Deployment among 10 000, appkind filter, 50 %.
func BenchmarkSelect10000Pods(b *testing.B) {
	runSelectBench(b, Spec{
		Entries:    []Entry{{Kind: KindDeployment, Namespace: ns, Selector: "app=app-42"}},
		Percentage: 50,
	}, 50)
}

// BenchmarkSelect10000PodsByName: a Deployment named explicitly, which needs
// the owner of every pod of the namespace.
func BenchmarkSelect10000PodsByName(b *testing.B) {
	runSelectBench(b, Spec{
		Entries:    []Entry{{Kind: KindDeployment, Namespace: ns, Names: []string{"app-42"}}},
		Percentage: 50,
	}, 50)
}

// BenchmarkSelect10000PodsNamespaceWide: appinfo without kind/label (every
// pod of the namespace) restricted by NODE_LABEL, 10 %.
func BenchmarkSelect10000PodsNamespaceWide(b *testing.B) {
	runSelectBench(b, Spec{
		Entries:    []Entry{{Namespace: ns}},
		NodeLabel:  "zone=z0",
		Percentage: 10,
	}, 500)
}
