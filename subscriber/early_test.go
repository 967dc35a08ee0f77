package subscriber

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
)

// TestSentEarly: the informer's first sight of a run the agent created is skipped when it is the
// version the create's answer already sent, reported as an update when it is a later one, and an
// ordinary ADD for runs the agent did not create; each early mark is used once.
func TestSentEarly(t *testing.T) {
	s := &Subscriber{w: &watcher{}}
	s.w.early.Store(k8stypes.UID("a"), "10")
	s.w.early.Store(k8stypes.UID("b"), "10")
	run := func(uid, rv string) *runState {
		return &runState{ObjectMeta: metav1.ObjectMeta{UID: k8stypes.UID(uid), ResourceVersion: rv}}
	}
	tests := []struct {
		name       string
		obj        any
		sent, same bool
	}{
		{"same version", run("a", "10"), true, true},
		{"mark used once", run("a", "10"), false, false},
		{"later version", run("b", "12"), true, false},
		{"not created here", run("c", "3"), false, false},
		{"not a run", "x", false, false},
	}
	for _, tc := range tests {
		if sent, same := s.sentEarly(tc.obj); sent != tc.sent || same != tc.same {
			t.Errorf("%s: sent %v same %v, want %v %v", tc.name, sent, same, tc.sent, tc.same)
		}
	}
}
