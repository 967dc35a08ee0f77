// Package agent wires chaos-agent together: it builds the Kubernetes clients once, starts the
// executor (and, with a control-plane address, the subscriber) under leader election, serves
// /metrics, /healthz and /readyz, and shuts everything down in order.
package agent
