package controlplane

import (
	"fmt"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// SchemaSDL is the part of the ChaosCenter 3.x GraphQL schema that the
// cluster agent talks to (protocol reference §2.4, §3.1, §4.6, §4.7). Type,
// field and argument names are the wire contract and must not be changed.
//
// Every document the test control plane receives is parsed and validated
// against this schema, so a malformed agent request fails the same way it
// fails against the real server.
const SchemaSDL = `
schema {
  query: Query
  mutation: Mutation
  subscription: Subscription
}

input InfraIdentity {
  infraID: String!
  accessKey: String!
  version: String!
}

type ConfirmInfraRegistrationResponse {
  isInfraConfirmed: Boolean!
  newAccessKey: String
  infraID: String
}

type ActionPayload {
  requestID: String!
  requestType: String!
  k8sManifest: String!
  namespace: String!
  externalData: String
  username: String
}

type InfraActionResponse {
  projectID: String!
  action: ActionPayload!
}

input ExperimentRunRequest {
  experimentID: String!
  notifyID: String
  experimentRunID: String!
  experimentName: String!
  executionData: String!
  infraID: InfraIdentity!
  revisionID: String!
  completed: Boolean!
  isRemoved: Boolean
  updatedBy: String!
}

input PodLog {
  infraID: InfraIdentity!
  requestID: ID!
  experimentRunID: ID!
  podName: String!
  podType: String!
  log: String!
}

input KubeObjectData {
  requestID: ID!
  infraID: InfraIdentity!
  kubeObj: String!
}

input KubeNamespaceData {
  requestID: ID!
  infraID: InfraIdentity!
  kubeNamespace: String!
}

type ServerVersionResponse {
  key: String!
  value: String!
}

type Query {
  getServerVersion: ServerVersionResponse!
}

type Mutation {
  confirmInfraRegistration(request: InfraIdentity!): ConfirmInfraRegistrationResponse!
  chaosExperimentRun(request: ExperimentRunRequest!): String!
  podLog(request: PodLog!): String!
  kubeObj(request: KubeObjectData!): String!
  kubeNamespace(request: KubeNamespaceData!): String!
}

type Subscription {
  infraConnect(request: InfraIdentity!): InfraActionResponse!
}
`

// loadSchema parses SchemaSDL. The SDL is a constant, so a failure is a
// programming error.
func loadSchema() *ast.Schema {
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "testcp.graphqls", Input: SchemaSDL, BuiltIn: false})
	if err != nil {
		panic(fmt.Sprintf("testcp: invalid schema: %v", err))
	}
	return s
}
