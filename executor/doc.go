// Package executor is chaos-agent's in-process replacement for the upstream chaos-operator,
// chaos-runner and go-runner: a ChaosEngine controller that resolves each engine's experiments,
// runs their faults (sub-packages such as executor/poddelete) and probes, and writes the
// ChaosResults, engine status and Events exactly where upstream tools and the control plane look
// for them.
//
// Lifecycle of an engine (spec.engineState / status.engineStatus):
//
//	active, ""                      → initialized: the experiments run one after the other
//	run ends                        → completed (engineState set to stop), or stopped if aborted
//	stop while running              → the run is cancelled within a second; results say Stopped
//	engine deleted while running    → likewise
//	active, initialized, no run     → left by an agent that died mid-run: marked stopped, with the reason
//	active again after completed    → a new run
package executor
