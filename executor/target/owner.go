package target

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// dcNameKey is the annotation OpenShift puts on the pods and the
// ReplicationControllers of a DeploymentConfig, naming the DeploymentConfig.
// It is used when the ReplicationController cannot be read from a cache.
const dcNameKey = "openshift.io/deployment-config.name"

// workload identifies a parent workload; kind is lower case.
type workload struct{ kind, name string }

// nsName is a namespace/name map key that needs no string concatenation.
type nsName struct{ ns, name string }

// Owner derives the parent workload of p (kind in lower case, name):
//
//   - StatefulSet, DaemonSet, Job: that object.
//   - ReplicaSet: its Deployment or Rollout owner; otherwise (a bare
//     ReplicaSet, or one missing from the cache) ("replicaset", rsName).
//   - ReplicationController: its DeploymentConfig owner (owner reference, or
//     the openshift.io/deployment-config.name annotation of the controller or
//     of the pod when the controller is not cached); otherwise
//     ("replicationcontroller", rcName).
//   - any other controller (a custom resource such as StrimziPodSet):
//     (lower-cased kind, name) of the controller owner reference.
//   - no owner: ("", "").
//
// The controller owner reference (controller: true) is used when there is
// one; otherwise the first reference of a kind listed above.
func (s *Selector) Owner(p *corev1.Pod) (kind, name string) {
	w := s.newResolver().owner(p)
	return w.kind, w.name
}

// resolver derives owners and memoises ReplicaSet / ReplicationController
// look-ups for the duration of one selection, so that deriving the owner of
// thousands of pods costs one cache look-up per ReplicaSet.
type resolver struct {
	s   *Selector
	rs  map[nsName]workload
	rcs map[nsName]workload
}

func (s *Selector) newResolver() *resolver { return &resolver{s: s} }

func (r *resolver) owner(p *corev1.Pod) workload {
	ref := ownerRef(p.OwnerReferences)
	if ref == nil {
		return workload{}
	}
	switch ref.Kind {
	case "StatefulSet":
		return workload{KindStatefulSet, ref.Name}
	case "DaemonSet":
		return workload{KindDaemonSet, ref.Name}
	case "Job":
		return workload{"job", ref.Name}
	case "ReplicaSet":
		return r.replicaSetOwner(p.Namespace, ref.Name)
	case "ReplicationController":
		return r.rcOwner(p, ref.Name)
	default:
		return workload{strings.ToLower(ref.Kind), ref.Name}
	}
}

// ownerRef returns the controller reference, else the first reference of a
// known workload kind, else nil. Non-controller references of unknown kinds
// are ignored.
func ownerRef(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	for i := range refs {
		switch refs[i].Kind {
		case "StatefulSet", "DaemonSet", "Job", "ReplicaSet", "ReplicationController":
			return &refs[i]
		}
	}
	return nil
}

func (r *resolver) replicaSetOwner(ns, rsName string) workload {
	key := nsName{ns, rsName}
	if w, ok := r.rs[key]; ok {
		return w
	}
	w := workload{KindReplicaSet, rsName}
	if l := r.s.listers.ReplicaSets; l != nil {
		if rs, err := l.ReplicaSets(ns).Get(rsName); err == nil {
			if ref := ownerRef(rs.OwnerReferences); ref != nil {
				switch ref.Kind {
				case "Deployment":
					w = workload{KindDeployment, ref.Name}
				case "Rollout":
					w = workload{KindRollout, ref.Name}
				}
			}
		}
	}
	if r.rs == nil {
		r.rs = make(map[nsName]workload)
	}
	r.rs[key] = w
	return w
}

func (r *resolver) rcOwner(p *corev1.Pod, rcName string) workload {
	key := nsName{p.Namespace, rcName}
	if w, ok := r.rcs[key]; ok {
		return w
	}
	var rc *corev1.ReplicationController
	if l := r.s.listers.ReplicationControllers; l != nil {
		if got, err := l.ReplicationControllers(p.Namespace).Get(rcName); err == nil {
			rc = got
		}
	}
	if rc == nil {
		// Controller not readable: trust the pod's own annotation. The
		// answer depends on the pod, so it is not memoised.
		if dc := p.Annotations[dcNameKey]; dc != "" {
			return workload{KindDeploymentConfig, dc}
		}
		return workload{"replicationcontroller", rcName}
	}
	w := workload{"replicationcontroller", rcName}
	if ref := ownerRef(rc.OwnerReferences); ref != nil && ref.Kind == "DeploymentConfig" {
		w = workload{KindDeploymentConfig, ref.Name}
	} else if dc := rc.Annotations[dcNameKey]; dc != "" {
		w = workload{KindDeploymentConfig, dc}
	}
	if r.rcs == nil {
		r.rcs = make(map[nsName]workload)
	}
	r.rcs[key] = w
	return w
}
