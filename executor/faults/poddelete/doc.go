// Package poddelete implements the pod-delete fault: for TOTAL_CHAOS_DURATION it repeatedly
// selects victim pods among its targets (from informer caches) and deletes them, every
// CHAOS_INTERVAL, in parallel or one by one, and records when each victim's replacement became
// Ready. It acts only through the client it is handed, which the executor makes impersonate the
// engine's chaosServiceAccount; it knows nothing of engines, results or the control plane.
//
// See docs/faults/pod-delete.md for the variables, the timing and the divergences from upstream.
package poddelete
