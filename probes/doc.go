// Package probes evaluates LitmusChaos resilience probes (http, cmd, k8s, prom) in their modes and computes probe verdicts.
package probes
