// Package litmus holds chaos-agent's Go representation of the LitmusChaos
// custom resources (group litmuschaos.io, version v1alpha1): ChaosEngine,
// ChaosExperiment and ChaosResult.
//
// The types are hand written (no code generation) and mirror the CRDs that
// chaos-agent installs from manifests/crds/litmus. They are wire compatible
// with the upstream LitmusChaos objects, so that manifests written for
// LitmusChaos, and objects written by upstream components (operator, runner,
// exporter, ChaosCenter), can be read and written by chaos-agent and vice
// versa. Points worth knowing:
//
//   - None of the CRDs has a status subresource. Status is part of the
//     object and is written with a plain update of the whole object.
//   - Probe run properties (probeTimeout, interval, ...) use [Duration],
//     which accepts Go duration strings ("10s", "500ms") as well as the
//     legacy integer-seconds form (5 or "5").
//   - ChaosResult.status carries two chaos-agent extensions, recoveries and
//     skippedVictims, which upstream tools ignore.
//
// The types do not implement runtime.Object; use [ToUnstructured] and
// [FromUnstructured] to talk to the API server through a dynamic client.
package litmus
