// Package subscriber is chaos-agent's link to the control plane (the LitmusChaos ChaosCenter 3.x
// agent protocol): it confirms the infrastructure's registration, holds the infraConnect
// subscription over a graphql-ws websocket with reconnects, executes the actions the server
// pushes (apply Argo Workflows, stop and delete runs, fetch logs, list objects and namespaces),
// and streams run events back through a durable outbox. See docs/protocol.md.
package subscriber
