package target

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestOwner(t *testing.T) {
	const ns = "apps"
	objs := []runtime.Object{
		mkRS(ns, "web-abc", ctrlRef("Deployment", "web")),
		mkRS(ns, "canary-abc", ctrlRef("Rollout", "canary")),
		mkRS(ns, "bare-rs"),
		mkRS(ns, "foreign-rs", ctrlRef("SomeOperatorThing", "thing")),
		mkRC(ns, "legacy-3", ctrlRef("DeploymentConfig", "legacy")),
		mkRC(ns, "bare-rc"),
	}
	nonController := metav1.OwnerReference{Kind: "StatefulSet", Name: "loose"}
	tests := []struct {
		name       string
		pod        podOpt
		noRCLister bool
		wantKind   string
		wantName   string
	}{
		{name: "deployment via replicaset", pod: ownedBy("ReplicaSet", "web-abc"), wantKind: "deployment", wantName: "web"},
		{name: "rollout via replicaset", pod: ownedBy("ReplicaSet", "canary-abc"), wantKind: "rollout", wantName: "canary"},
		{name: "bare replicaset", pod: ownedBy("ReplicaSet", "bare-rs"), wantKind: "replicaset", wantName: "bare-rs"},
		{name: "replicaset owned by something else", pod: ownedBy("ReplicaSet", "foreign-rs"), wantKind: "replicaset", wantName: "foreign-rs"},
		{name: "replicaset not cached", pod: ownedBy("ReplicaSet", "gone-rs"), wantKind: "replicaset", wantName: "gone-rs"},
		{name: "statefulset", pod: ownedBy("StatefulSet", "db"), wantKind: "statefulset", wantName: "db"},
		{name: "daemonset", pod: ownedBy("DaemonSet", "agent"), wantKind: "daemonset", wantName: "agent"},
		{name: "job", pod: ownedBy("Job", "batch"), wantKind: "job", wantName: "batch"},
		{name: "deploymentconfig via rc", pod: ownedBy("ReplicationController", "legacy-3"), wantKind: "deploymentconfig", wantName: "legacy"},
		{
			name: "deploymentconfig via pod annotation without rc lister",
			pod: func(p *corev1.Pod) {
				ownedBy("ReplicationController", "legacy-3")(p)
				withAnnotation(dcNameKey, "legacy")(p)
			},
			noRCLister: true, wantKind: "deploymentconfig", wantName: "legacy",
		},
		{name: "bare rc", pod: ownedBy("ReplicationController", "bare-rc"), wantKind: "replicationcontroller", wantName: "bare-rc"},
		{name: "custom controller", pod: ownedBy("StrimziPodSet", "kafka"), wantKind: "strimzipodset", wantName: "kafka"},
		{
			name:     "non-controller reference of a known kind",
			pod:      func(p *corev1.Pod) { p.OwnerReferences = append(p.OwnerReferences, nonController) },
			wantKind: "statefulset", wantName: "loose",
		},
		{name: "bare pod", pod: func(*corev1.Pod) {}, wantKind: "", wantName: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, objs...)
			l := f.listers()
			if tc.noRCLister {
				l.ReplicationControllers = nil
			}
			s := NewSelector(l, nil)
			kind, name := s.Owner(mkPod(ns, "p", tc.pod))
			if kind != tc.wantKind || name != tc.wantName {
				t.Errorf("Owner = (%q, %q), want (%q, %q)", kind, name, tc.wantKind, tc.wantName)
			}
		})
	}
}
