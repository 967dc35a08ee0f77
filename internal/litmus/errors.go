package litmus

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Error is an experiment failure with its Litmus error code and phase: what ends up in a
// ChaosResult's errorOutput and in ChaosCenter's failStep ("<errorCode> : <reason>").
type Error struct {
	Code   ErrorCode
	Phase  ExperimentPhase
	Reason string
	Target string
	Err    error // the underlying error, if any
}

// NewError returns an *Error whose reason is the formatted message; a %w verb wraps as usual.
func NewError(code ErrorCode, format string, a ...any) *Error {
	err := fmt.Errorf(format, a...)
	return &Error{Code: code, Reason: err.Error(), Err: errors.Unwrap(err)}
}

func (e *Error) Error() string {
	msg := string(e.Code) + ": " + e.Reason
	if e.Target != "" {
		msg += " (target " + e.Target + ")"
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// WithPhase returns e with its phase set if it had none.
func (e *Error) WithPhase(p ExperimentPhase) *Error {
	if e.Phase == "" {
		c := *e
		c.Phase = p
		return &c
	}
	return e
}

// ErrorReason returns the root-cause object stored (as JSON) in errorOutput.reason.
func (e *Error) ErrorReason() ErrorReason {
	return ErrorReason{ErrorCode: e.Code, Phase: e.Phase, Reason: e.Reason, Target: e.Target}
}

// ErrorOutput renders e as a ChaosResult errorOutput.
func (e *Error) ErrorOutput() *ErrorOutput {
	b, _ := json.Marshal(e.ErrorReason()) // a struct of strings always marshals
	return &ErrorOutput{ErrorCode: e.Code, Reason: string(b)}
}

// FailStep is how ChaosCenter shows the error: "<errorCode> : <reason>".
func (e *Error) FailStep() string { return string(e.Code) + " : " + e.Reason }

// AsError returns err as an *Error, wrapping unknown errors as GENERIC_ERROR.
func AsError(err error) *Error {
	var le *Error
	if errors.As(err, &le) {
		return le
	}
	return &Error{Code: ErrorCodeGeneric, Reason: err.Error(), Err: err}
}
