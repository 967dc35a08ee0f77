package subscriber

import (
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	testcluster "github.com/chaos-agent/chaos-agent/internal/testing/cluster"
)

// TestConfigMapStore runs the outbox store against the real API server: round trips, a save
// over a ConfigMap someone else changed (conflict) or deleted, and keys it does not own kept.
func TestConfigMapStore(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	ctx := t.Context()
	recs := func(seqs ...uint64) []Record {
		var out []Record
		for _, s := range seqs {
			out = append(out, Record{Seq: s, RunID: "run", Queued: time.Unix(int64(s), 0).UTC(), Request: json.RawMessage(`{"n":1}`)})
		}
		return out
	}
	seqs := func(rs []Record) []uint64 {
		var out []uint64
		for _, r := range rs {
			out = append(out, r.Seq)
		}
		return out
	}
	load := func(s *ConfigMapStore) []uint64 {
		t.Helper()
		got, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return seqs(got)
	}
	equal := func(what string, got []uint64, want ...uint64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
		}
	}

	s := NewConfigMapStore(c.Client, ns, "chaos-agent-outbox")
	equal("empty", load(s))
	if err := s.Save(ctx, 0, recs(1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, 0, recs(2, 3)); err != nil {
		t.Fatal(err)
	}
	equal("after two saves", load(NewConfigMapStore(c.Client, ns, "chaos-agent-outbox")), 2, 3)

	// Someone else writes the ConfigMap (a new resourceVersion, an extra key): the next save
	// recovers from the conflict and keeps that key.
	api := c.Client.CoreV1().ConfigMaps(ns)
	cm, err := api.Get(ctx, "chaos-agent-outbox", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["note"] = "kept"
	if _, err := api.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, 0, recs(4)); err != nil {
		t.Fatalf("save after a concurrent change: %v", err)
	}
	if err := s.Save(ctx, 0, recs(4, 5)); err != nil {
		t.Fatal(err)
	}
	equal("after conflict", load(NewConfigMapStore(c.Client, ns, "chaos-agent-outbox")), 4, 5)
	if cm, err = api.Get(ctx, "chaos-agent-outbox", metav1.GetOptions{}); err != nil || cm.Data["note"] != "kept" {
		t.Fatalf("other key lost: %v %v", cm.Data, err)
	}

	// Deleted behind its back: the next save creates it again.
	if err := api.Delete(ctx, "chaos-agent-outbox", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, 0, recs(6)); err != nil {
		t.Fatalf("save after deletion: %v", err)
	}
	equal("after deletion", load(NewConfigMapStore(c.Client, ns, "chaos-agent-outbox")), 6)

	// Segments: each in its own ConfigMap, loaded back in sequence order; an empty segment
	// that was never stored creates nothing.
	if err := s.Save(ctx, 3, recs(7, 9)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, 1, recs(8)); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, 5, nil); err != nil {
		t.Fatal(err)
	}
	fresh := NewConfigMapStore(c.Client, ns, "chaos-agent-outbox")
	got, err := fresh.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal("segments", seqs(got), 6, 7, 8, 9)
	for i, want := range []int{0, 3, 1, 3} {
		if got[i].segment != want {
			t.Errorf("record %d in segment %d, want %d", got[i].Seq, got[i].segment, want)
		}
	}
	if _, err := api.Get(ctx, "chaos-agent-outbox-3", metav1.GetOptions{}); err != nil {
		t.Errorf("segment 3: %v", err)
	}
	if _, err := api.Get(ctx, "chaos-agent-outbox-5", metav1.GetOptions{}); err == nil {
		t.Error("an empty segment was created")
	}
	if err := fresh.Save(ctx, 3, nil); err != nil {
		t.Fatal(err)
	}
	equal("segment 3 emptied", load(NewConfigMapStore(c.Client, ns, "chaos-agent-outbox")), 6, 8)
	if names := OutboxConfigMapNames("chaos-agent-outbox"); len(names) != outboxSegments || names[0] != "chaos-agent-outbox" || names[7] != "chaos-agent-outbox-7" {
		t.Errorf("names %v", names)
	}
}
