// Package faults lists the faults chaos-agent implements, one sub-package each. Adding a
// fault is one new package (which implements executor.Fault and exports a Kind function) and
// one line in Kinds.
package faults

import (
	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/executor/faults/poddelete"
)

// Kinds returns every built-in fault.
func Kinds() []executor.FaultKind {
	return []executor.FaultKind{
		poddelete.Kind(),
	}
}

// Builtin returns a registry of the built-in faults and of extra ones (tests).
func Builtin(extra ...executor.FaultKind) (*executor.Registry, error) {
	return executor.NewRegistry(append(Kinds(), extra...)...)
}
