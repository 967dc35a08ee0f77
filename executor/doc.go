// Package executor is chaos-agent's in-process replacement for the upstream chaos-operator,
// chaos-runner and go-runner: a ChaosEngine controller that resolves each engine's experiments,
// runs their faults and probes, and writes the ChaosResults, engine status and Events exactly
// where upstream tools and the control plane look for them.
//
// A fault implements [Fault] (fault.go) and is registered as a [FaultKind] in the [Registry]
// the executor is given (executor/faults.Builtin: one sub-package per fault, such as
// executor/faults/poddelete). The executor owns the generic lifecycle — the generic variables
// ([Params]), ramp time, when health checks run, probes ([ProbeRunner]), verdict, results and
// events; a fault owns its own variables, its injection loop and what "healthy" means for it.
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
