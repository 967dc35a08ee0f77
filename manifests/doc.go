// Package manifests renders chaos-agent's install manifest (infra.yaml) from templates embedded in
// the binary: `chaos-agent manifest` and the committed examples under manifests/examples use it.
//
// One Render call produces one multi-document YAML for a cluster-wide or a namespace-scoped
// install:
//
//   - cluster scope: the Namespace, the CRDs (Litmus ChaosEngine/ChaosExperiment/ChaosResult from
//     crds/litmus, Argo Workflows' minimal CRDs from crds/argo), and ClusterRoles suffixed with the
//     namespace so that several installs coexist;
//   - both scopes: the ServiceAccounts chaos-agent (the agent), argo (Argo's workflow-controller),
//     argo-chaos (workflow step pods) and litmus-admin (the chaos service account faults run as,
//     by impersonation), least-privilege Roles and bindings, the subscriber-config ConfigMap and
//     subscriber-secret Secret of the upstream subscriber contract, the workflow-controller
//     ConfigMap, the chaos-agent Deployment and metrics Service, and the namespaced Argo
//     workflow-controller Deployment.
//
// A namespace-scoped render contains no cluster-scoped object at all: an administrator installs
// the CRDs once (RenderCRDs, `chaos-agent manifest --crds-only`). docs/install.md explains every
// object and permission.
//
// The Litmus CRDs are chaos-agent's own; the Argo CRDs are generated from the pinned Argo module by
// hack/update-manifests.sh (make manifests), which also regenerates the examples.
package manifests
