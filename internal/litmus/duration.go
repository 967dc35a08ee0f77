package litmus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a probe timing value such as runProperties.probeTimeout.
//
// Current LitmusChaos writes these as Go duration strings ("10s", "500ms",
// "1m"); LitmusChaos 2.x wrote integers meaning seconds. Duration accepts
// both in JSON: a string (a Go duration, or a bare non-negative decimal
// number meaning seconds, e.g. "5") or a number (seconds). The raw text is
// kept verbatim and written back in its original form (string or number),
// so decoding and re-encoding does not change a manifest. The zero value
// means "unset" and is omitted from JSON by fields tagged omitzero.
type Duration struct {
	raw    string // text as given; for numbers the JSON literal
	number bool   // raw came from a JSON number
}

// NewDuration returns a Duration holding d in Go duration syntax.
func NewDuration(d time.Duration) Duration {
	return Duration{raw: d.String()}
}

// DurationFromString returns a Duration holding s verbatim, as if it had
// been decoded from a JSON string. It does not validate s; use Parse.
func DurationFromString(s string) Duration {
	return Duration{raw: s}
}

// DurationFromSeconds returns a Duration holding n as a JSON number
// (legacy integer-seconds form).
func DurationFromSeconds(n int64) Duration {
	return Duration{raw: strconv.FormatInt(n, 10), number: true}
}

// String returns the raw text (empty when unset).
func (d Duration) String() string { return d.raw }

// IsZero reports whether the duration is unset (absent, null or "").
func (d Duration) IsZero() bool { return d.raw == "" }

// IsNumber reports whether the value was given as a JSON number.
func (d Duration) IsNumber() bool { return d.number }

// Parse returns the duration. Unset yields 0. A Go duration string is
// parsed with time.ParseDuration; a bare number (JSON number or numeric
// string) is taken as seconds. Negative values are rejected.
func (d Duration) Parse() (time.Duration, error) {
	return d.ParseUnit(time.Second)
}

// ParseUnit is like Parse but interprets bare numbers in the given unit
// (e.g. time.Millisecond for fields whose legacy integer form meant ms).
func (d Duration) ParseUnit(unit time.Duration) (time.Duration, error) {
	if unit <= 0 {
		return 0, fmt.Errorf("invalid duration %q: unit must be positive, got %v", d.raw, unit)
	}
	s := strings.TrimSpace(d.raw)
	if s == "" {
		return 0, nil
	}
	if d.number || isDecimal(s) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("invalid duration %q: not a valid number of %s", d.raw, unitName(unit))
		}
		if f < 0 {
			return 0, fmt.Errorf("invalid duration %q: must not be negative", d.raw)
		}
		v := f * float64(unit)
		if v >= math.MaxInt64 {
			return 0, fmt.Errorf("invalid duration %q: out of range", d.raw)
		}
		return time.Duration(v), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a Go duration such as \"10s\" or \"500ms\", or a number of %s", d.raw, unitName(unit))
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", d.raw)
	}
	return v, nil
}

// MarshalJSON writes the raw text back in its original form.
func (d Duration) MarshalJSON() ([]byte, error) {
	if d.number {
		return []byte(d.raw), nil
	}
	return json.Marshal(d.raw)
}

// UnmarshalJSON accepts a JSON string, a JSON number or null.
func (d *Duration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return fmt.Errorf("invalid duration: empty JSON value")
	case string(b) == "null":
		*d = Duration{}
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("invalid duration %s: %w", b, err)
		}
		*d = Duration{raw: s}
		return nil
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("invalid duration %s: %w", b, err)
		}
		*d = Duration{raw: n.String(), number: true}
		return nil
	default:
		return fmt.Errorf("invalid duration %s: want a string such as \"10s\" or a number of seconds", b)
	}
}

// isDecimal reports whether s is a plain unsigned or negative decimal
// number ("5", "0.5", "-3") without exponent or unit.
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	digits, dot := 0, false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

func unitName(unit time.Duration) string {
	switch unit {
	case time.Nanosecond:
		return "nanoseconds"
	case time.Microsecond:
		return "microseconds"
	case time.Millisecond:
		return "milliseconds"
	case time.Second:
		return "seconds"
	case time.Minute:
		return "minutes"
	case time.Hour:
		return "hours"
	}
	return "units of " + unit.String()
}
