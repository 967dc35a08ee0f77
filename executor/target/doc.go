// Package target selects the victim pods of the pod-delete fault.
//
// Everything is served from informer caches (client-go listers): a
// selection makes no request to the API server, so it can run at the start
// of every iteration of the kill loop. The caller runs the informers and
// waits for them to sync before the first selection; see [Listers] for the
// caches used (pods and ReplicaSets are required; ReplicationControllers
// only matter for OpenShift DeploymentConfigs; nodes only for NODE_LABEL and
// need a cluster-scoped install).
//
// # Model
//
// [FromEngine] turns a ChaosEngine into [Entry] values, one per element of
// the Litmus TARGETS env (kind:namespace:[names or labels]). A [Spec] adds
// TARGET_PODS, NODE_LABEL and PODS_AFFECTED_PERC. [Selector.Candidates]
// resolves a Spec to every eligible pod, [Selector.Select] applies the blast
// radius, [Selector.Owner] names the parent workload of a pod and
// [Selector.WorkloadPods] lists a workload's pods for recovery checks.
//
// Selection follows upstream litmus-go:
//
//   - TARGET_PODS, when set, wins: those pods are the victims (in the order
//     given), in the namespace of the first entry naming one, else
//     Spec.DefaultNamespace. NODE_LABEL and the percentage are ignored.
//   - Otherwise entries are resolved and unioned: kind "pod" by name; a
//     workload kind by names (pods whose derived owner is that workload;
//     every name must have a pod) or by label selector; kind "" (upstream
//     KIND) is every pod of the namespace except Litmus' own (a non-empty
//     chaosUID label, or name=chaos-operator).
//   - NODE_LABEL keeps the candidates scheduled on matching nodes.
//   - The percentage p applies to all candidates except those named by
//     entries of kind "pod": count = max(1, floor(p*N/100)) pods (p clamped
//     to 0..100) taken consecutively from a uniformly random start index,
//     wrapping around. N=3,p=0 → 1; N=3,p=50 → 1; N=3,p=67 → 2; N=4,p=50 →
//     2; N=5,p=100 → 5. The random source is injected, so a seeded source
//     gives a deterministic selection.
//
// Owner derivation ([Selector.Owner]): StatefulSet, DaemonSet and Job are
// direct; a ReplicaSet resolves to its Deployment or Argo Rollout, else to
// the ReplicaSet itself; a ReplicationController resolves to its OpenShift
// DeploymentConfig.
//
// # Deliberate differences from upstream
//
//  1. Terminating pods (deletionTimestamp set) and finished pods (phase
//     Succeeded or Failed) are never candidates, TARGET_PODS included
//     (upstream picks them again, litmus#1258). A named pod that is
//     terminating is skipped; if every named pod is, selection fails.
//  2. A label selector is parsed once, as a whole Kubernetes label selector:
//     "app=a,tier=b" means app=a AND tier=b, and set-based selectors such as
//     "app in (a,b)" work. Upstream split the string on commas and OR-ed the
//     parts. An invalid selector is a selection error naming it.
//  3. With a workload kind, only pods whose derived owner kind equals the
//     kind are kept, for names and for labels (litmus#3400,
//     litmus-go#679). Kind "replicaset" matches pods whose derived owner is
//     a ReplicaSet, i.e. a ReplicaSet not owned by a Deployment or Rollout.
//  4. TARGET_PODS naming a pod missing from the cache fails at once;
//     upstream retried NotFound for about 180 s.
//  5. A pod controlled by a kind this package does not know (StrimziPodSet,
//     an Argo Workflow, any custom controller) gets that controller as its
//     owner, lower-cased kind and name, instead of no owner; WorkloadPods
//     resolves such owners too, so recovery checks work for them
//     (litmus-go#698, litmus-go#780). Pods without any owner reference have
//     no owner ("", "").
//  6. When the ReplicationController of a DeploymentConfig pod is not in a
//     cache (no ReplicationController informer), the pod's
//     openshift.io/deployment-config.name annotation names the
//     DeploymentConfig. Upstream also required a ReplicaSet's name to end
//     in the pod's pod-template-hash; this package trusts the owner
//     reference.
//  7. Candidates are sorted by namespace/name instead of the API server's
//     list order, so the random window is reproducible from the seed.
//  8. NODE_LABEL without node access (no node lister: namespace-scoped
//     install) is a clear selection error instead of an RBAC failure.
//  9. A kind "" entry honours Entry.Selector when one is given (upstream
//     ignored applabel for KIND; FromEngine never produces that case).
//  10. Pods named by kind "pod" entries are all taken, the percentage then
//     applies to the remaining candidates of other entries.
//
// # Errors
//
// Problems with the target specification, and empty selections, are
// returned as *[SelectionError] (Litmus TARGET_SELECTION_ERROR): nothing to
// target, a TARGET_PODS or kind "pod" name that does not exist, a named
// workload without pods, NODE_LABEL matching no node or no candidate,
// NODE_LABEL without node access, an invalid selector, an empty result.
// Other errors are cache failures. [FromEngine] returns plain errors (engine
// validation).
//
// # Caveats
//
// The caches lag the API server slightly: a pod deleted a moment ago may
// still be listed (without deletionTimestamp when it was deleted with grace
// period 0), so deleting a selected pod can yield NotFound; callers should
// treat that as already gone. Returned pods are the caches' own objects and
// must not be modified.
package target
