package target

// SelectionError reports that the target specification could not be turned
// into victim pods: nothing to target, a named pod or workload that does not
// exist (or has no eligible pod), a NODE_LABEL that matches no node or no pod,
// an invalid label selector, or an empty result. Callers map it to the Litmus
// error code TARGET_SELECTION_ERROR; any other error returned by this package
// is unexpected (a cache failure) and maps to GENERIC_ERROR.
type SelectionError struct {
	// Reason is a complete, human readable sentence, for example
	// `no pod found for deployment "x" in namespace "y"`. It is what Error
	// returns and what belongs in errorOutput.reason.
	Reason string
	// Target describes the offending target in the TARGETS notation
	// (kind:namespace:[names or selector], "KIND" for a namespace-wide
	// entry, several entries joined with ";"), for errorOutput.target. It
	// may be empty.
	Target string
}

// Error returns Reason.
func (e *SelectionError) Error() string { return e.Reason }

func selErr(target, reason string) error {
	return &SelectionError{Reason: reason, Target: target}
}
