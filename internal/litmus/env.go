package litmus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Env reads an experiment's variables, collecting every invalid value so that one error can
// name them all. An empty value means "use the default": the destination is left untouched.
type Env struct {
	vars map[string]string
	errs []error
	read map[string]bool // the names looked up, set or not
}

// NewEnv returns an Env over vars (not copied; not modified).
func NewEnv(vars map[string]string) *Env { return &Env{vars: vars} }

// Get returns the trimmed value of name and whether it is set and not empty.
func (e *Env) Get(name string) (string, bool) {
	if e.read == nil {
		e.read = map[string]bool{}
	}
	e.read[name] = true
	v := strings.TrimSpace(e.vars[name])
	return v, v != ""
}

// Read reports whether name was looked up (by Get or any reader built on it): a fault that
// never looks a variable up does not honour it.
func (e *Env) Read(name string) bool { return e.read[name] }

// Invalid records that name's value v is invalid because of err.
func (e *Env) Invalid(name, v string, err error) {
	e.errs = append(e.errs, fmt.Errorf("%s=%q: %w", name, v, err))
}

// Errorf records a problem that concerns several variables.
func (e *Env) Errorf(format string, a ...any) {
	e.errs = append(e.errs, fmt.Errorf(format, a...))
}

// Seconds reads integer seconds ("30", the Litmus contract) or a Go duration ("1m30s").
func (e *Env) Seconds(name string, dst *time.Duration, allowZero bool) {
	v, ok := e.Get(name)
	if !ok {
		return
	}
	d, err := ParseSeconds(v)
	switch {
	case err != nil:
		e.Invalid(name, v, err)
	case d == 0 && !allowZero:
		e.Invalid(name, v, errors.New("must be positive"))
	default:
		*dst = d
	}
}

// Bool reads a boolean (strconv.ParseBool).
func (e *Env) Bool(name string, dst *bool) {
	v, ok := e.Get(name)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.Invalid(name, v, errors.New("not a boolean (want true or false)"))
		return
	}
	*dst = b
}

// Err returns every recorded problem as one *Error (GENERIC_ERROR, phase PreChaos) about the
// parameters of fault, or nil.
func (e *Env) Err(fault string) error {
	err := errors.Join(e.errs...)
	if err == nil {
		return nil
	}
	return &Error{
		Code:   ErrorCodeGeneric,
		Phase:  ExperimentPhasePreChaos,
		Reason: "invalid " + fault + " parameters: " + strings.ReplaceAll(err.Error(), "\n", "; "),
		Err:    err,
	}
}

// MaxSeconds bounds every duration variable: one year is far above any real experiment, and far
// below where time.Duration overflows (about 292 years).
const MaxSeconds = 366 * 24 * 60 * 60

// ParseSeconds accepts integer seconds ("30", the Litmus contract) or a Go duration ("1m30s",
// "500ms"), never negative and at most a year: larger values would overflow or wedge a run.
func ParseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		switch {
		case err != nil || n > MaxSeconds:
			return 0, fmt.Errorf("above the limit of %d seconds (a year)", MaxSeconds)
		case n < 0:
			return 0, errors.New("must not be negative")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("not a number of seconds or a duration like 10s (or out of range)")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	if d > MaxSeconds*time.Second {
		return 0, fmt.Errorf("above the limit of %d seconds (a year)", MaxSeconds)
	}
	return d, nil
}
