package probes

// Comparators decide whether a probe's actual value (trimmed cmdProbe stdout, an HTTP
// status code, a Prometheus sample) satisfies the configured criteria and expected value.
// cmdProbe uses the type named by comparator.type, httpProbe uses ComparatorInt against
// responseCode and promProbe uses ComparatorFloat.
//
// Divergences from upstream (litmus-go); see litmus-execution.md §6.5 and §12 row 9:
//
//  1. An actual value that does not parse as a number (int: strconv.ParseInt base 10 after
//     strings.TrimSpace; float: strconv.ParseFloat 64 after strings.TrimSpace) is a
//     *Mismatch whose Reason says so. Upstream silently used 0, so output "abc" passed
//     ">= 0".
//  2. Expected lists (OneOf, Between, string oneOf) are accepted as "a,b,c", "[a,b,c]" or
//     "[a, b, c]": surrounding whitespace and one pair of enclosing brackets are removed
//     and every element is trimmed. A single value is a one-element list, so "oneOf 200"
//     behaves like "== 200". Upstream split on "," only (no trimming, no bracket
//     stripping), so a single-value oneOf never matched and "[400,404]" parsed its first
//     and last elements as 0. Empty lists and empty elements ("1,,2", "[]") are
//     configuration errors.
//  3. Scalar criteria with an expected value that contains a comma: for int and float it
//     is a configuration error ("expected a single number for criteria X"); for strings
//     the comma is simply part of the expected string. Upstream turned the scalar into
//     0 / "" so, for example, contains "a,b" always passed. (The regular expression of
//     matches/notMatches may therefore contain commas, e.g. "^a{1,3}$".)
//  4. Expected values that do not parse as numbers are configuration errors from
//     NewComparator (upstream: 0). NaN is rejected as an expected value because nothing
//     compares equal, greater or less than NaN.
//  5. Between needs exactly two numbers with lower <= upper; the range is inclusive.
//     Anything else is a configuration error (upstream reported "should specify both
//     lower and upper limits" as a probe failure at run time and ignored extra entries).
//  6. Unknown criteria are configuration errors listing the criteria valid for the type
//     (upstream: a probe failure "criteria '<c>' not supported in the probe" at run time).
//     Surrounding whitespace of the criteria is ignored; otherwise names are matched
//     exactly, listed aliases only. notContains/NotContains is an addition.
//  7. Float equality (==, !=, OneOf) compares the parsed float64 values exactly, with no
//     epsilon: "0.30000000000000004" != "0.3", while "1", "1.0" and "1e0" are equal and
//     -0 equals 0. An actual NaN (Prometheus can return it) satisfies only != and fails
//     every other criteria. Use Between for tolerance.
//
// All configuration problems are reported by NewComparator, before chaos starts, as
// errors wrapping ErrInvalidComparator. Compare only ever reports a *Mismatch, which is
// a probe FAILURE (hypothesis violated), never a probe ERROR.
//
// Strings: the actual value is compared as is (callers trim command output); expected
// scalar strings are used verbatim (not trimmed); matches/notMatches use RE2 syntax and
// regexp.MatchString semantics (unanchored search), compiled once by NewComparator.

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalidComparator is wrapped by every configuration error returned by
// ParseComparatorType and NewComparator, and by Compare on a Comparator that was not
// built by NewComparator.
var ErrInvalidComparator = errors.New("invalid comparator")

// ComparatorType selects how actual and expected values are parsed and compared.
type ComparatorType string

// Comparator types.
const (
	ComparatorInt    ComparatorType = "int"
	ComparatorFloat  ComparatorType = "float"
	ComparatorString ComparatorType = "string"
)

// ParseComparatorType parses a comparator type case-insensitively, ignoring surrounding
// whitespace ("Int", " FLOAT " ...).
func ParseComparatorType(s string) (ComparatorType, error) {
	switch t := ComparatorType(strings.ToLower(strings.TrimSpace(s))); t {
	case ComparatorInt, ComparatorFloat, ComparatorString:
		return t, nil
	}
	return "", fmt.Errorf("%w: unsupported comparator type %q (valid: int, float, string)", ErrInvalidComparator, s)
}

// op is a canonical criteria.
type op int

const (
	opInvalid op = iota
	opEq
	opNe
	opGt
	opLt
	opGe
	opLe
	opOneOf
	opBetween
	opEqual
	opNotEqual
	opContains
	opNotContains
	opMatches
	opNotMatches
)

type criteriaName struct {
	name string
	op   op
}

// numericCriteria and stringCriteria list the accepted criteria names (aliases included)
// in the order used by error messages.
var (
	numericCriteria = []criteriaName{
		{"==", opEq}, {"!=", opNe}, {">", opGt}, {"<", opLt}, {">=", opGe}, {"<=", opLe},
		{"OneOf", opOneOf}, {"oneOf", opOneOf}, {"Between", opBetween}, {"between", opBetween},
	}
	stringCriteria = []criteriaName{
		{"equal", opEqual}, {"Equal", opEqual},
		{"notEqual", opNotEqual}, {"NotEqual", opNotEqual},
		{"contains", opContains}, {"Contains", opContains},
		{"notContains", opNotContains}, {"NotContains", opNotContains},
		{"matches", opMatches}, {"Matches", opMatches},
		{"notMatches", opNotMatches}, {"NotMatches", opNotMatches},
		{"oneOf", opOneOf}, {"OneOf", opOneOf},
	}
)

func criteriaFor(t ComparatorType) []criteriaName {
	if t == ComparatorString {
		return stringCriteria
	}
	return numericCriteria
}

// Comparator is a validated criteria and expected value. It is immutable once built by
// NewComparator and safe for concurrent use; the zero value is not usable.
type Comparator struct {
	typ      ComparatorType
	criteria string // as configured, surrounding whitespace removed
	op       op
	expected string // as shown in messages (trimmed for numbers and lists)

	// Parsed expected value(s): a scalar is a one-element slice.
	ints   []int64
	floats []float64
	strs   []string
	re     *regexp.Regexp
}

// NewComparator validates criteria and expected value for the comparator type t (t is
// normalised like ParseComparatorType). Every problem is a configuration error wrapping
// ErrInvalidComparator, meant to be reported before chaos starts.
func NewComparator(t ComparatorType, criteria, expected string) (*Comparator, error) {
	typ, err := ParseComparatorType(string(t))
	if err != nil {
		return nil, err
	}
	crit := strings.TrimSpace(criteria)
	c := &Comparator{typ: typ, criteria: crit}
	names := criteriaFor(typ)
	for _, n := range names {
		if n.name == crit {
			c.op = n.op
			break
		}
	}
	if c.op == opInvalid {
		valid := make([]string, len(names))
		for i, n := range names {
			valid[i] = n.name
		}
		return nil, fmt.Errorf("%w: criteria %q is not supported for %s comparators (valid: %s)",
			ErrInvalidComparator, criteria, typ, strings.Join(valid, ", "))
	}
	if typ == ComparatorString {
		err = c.initString(expected)
	} else {
		err = c.initNumeric(expected)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Comparator) isList() bool { return c.op == opOneOf || c.op == opBetween }

func (c *Comparator) configErr(format string, args ...any) error {
	return fmt.Errorf("%w (%s %q): %s", ErrInvalidComparator, c.typ, c.criteria, fmt.Sprintf(format, args...))
}

func (c *Comparator) initNumeric(expected string) error {
	c.expected = strings.TrimSpace(expected)
	var raw []string
	if c.isList() {
		var err error
		if raw, err = splitList(c.expected); err != nil {
			return c.configErr("%v", err)
		}
	} else {
		if strings.Contains(c.expected, ",") {
			return c.configErr("expected a single number for criteria %s, got %q", c.criteria, c.expected)
		}
		raw = []string{c.expected}
	}
	for _, s := range raw {
		switch c.typ {
		case ComparatorInt:
			v, problem := parseInt(s)
			if problem != "" {
				return c.configErr("expected value %s", problem)
			}
			c.ints = append(c.ints, v)
		default:
			v, problem := parseFloat(s)
			if problem == "" && math.IsNaN(v) {
				problem = fmt.Sprintf("%q is not allowed (NaN is never equal, less or greater)", s)
			}
			if problem != "" {
				return c.configErr("expected value %s", problem)
			}
			c.floats = append(c.floats, v)
		}
	}
	if c.op != opBetween {
		return nil
	}
	if len(raw) != 2 {
		return c.configErr("expected exactly two numbers (lower, upper), got %d in %q", len(raw), c.expected)
	}
	var ordered bool
	if c.typ == ComparatorInt {
		ordered = c.ints[0] <= c.ints[1]
	} else {
		ordered = c.floats[0] <= c.floats[1]
	}
	if !ordered {
		return c.configErr("lower limit %s is greater than upper limit %s", raw[0], raw[1])
	}
	return nil
}

func (c *Comparator) initString(expected string) error {
	switch c.op {
	case opOneOf:
		c.expected = strings.TrimSpace(expected)
		list, err := splitList(c.expected)
		if err != nil {
			return c.configErr("%v", err)
		}
		c.strs = list
	case opMatches, opNotMatches:
		c.expected = expected
		re, err := regexp.Compile(expected)
		if err != nil {
			return c.configErr("invalid regular expression %q: %v", expected, err)
		}
		c.re = re
	default:
		c.expected = expected
		c.strs = []string{expected}
	}
	return nil
}

// splitList parses "a,b", "[a,b]" or "[a, b]" (already trimmed) into trimmed elements.
// A single value is a one-element list.
func splitList(s string) ([]string, error) {
	inner := s
	if len(inner) >= 2 && inner[0] == '[' && inner[len(inner)-1] == ']' {
		inner = inner[1 : len(inner)-1]
	}
	if strings.TrimSpace(inner) == "" {
		return nil, fmt.Errorf("expected at least one value, got %q", s)
	}
	parts := strings.Split(inner, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if parts[i] == "" {
			return nil, fmt.Errorf("empty element in list %q", s)
		}
	}
	return parts, nil
}

// parseInt parses a base-10 int64 after trimming whitespace. problem describes the
// failure ("\"abc\" is not an integer"), empty on success.
func parseInt(s string) (v int64, problem string) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err == nil {
		return v, ""
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Sprintf("%q is out of range for a 64-bit integer", s)
	}
	return 0, fmt.Sprintf("%q is not an integer", s)
}

// parseFloat parses a float64 after trimming whitespace, like parseInt.
func parseFloat(s string) (v float64, problem string) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err == nil {
		return v, ""
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Sprintf("%q is out of range for a 64-bit float", s)
	}
	return 0, fmt.Sprintf("%q is not a number", s)
}

func compareNumbers[T int64 | float64](o op, v T, want []T) bool {
	switch o {
	case opEq:
		return v == want[0]
	case opNe:
		return v != want[0]
	case opGt:
		return v > want[0]
	case opLt:
		return v < want[0]
	case opGe:
		return v >= want[0]
	case opLe:
		return v <= want[0]
	case opOneOf:
		return slices.Contains(want, v)
	case opBetween:
		return want[0] <= v && v <= want[1]
	}
	return false
}

// Compare returns nil when actual satisfies the criteria, else a *Mismatch. For
// int and float the actual value is trimmed and parsed; a value that does not parse is a
// *Mismatch with a Reason. Strings are compared as is.
//
// On a nil or zero Comparator (not built by NewComparator) Compare returns an error
// wrapping ErrInvalidComparator, which is not a *Mismatch.
func (c *Comparator) Compare(actual string) error {
	if c == nil || c.op == opInvalid {
		return fmt.Errorf("%w: comparator not initialised by NewComparator", ErrInvalidComparator)
	}
	var ok bool
	switch c.typ {
	case ComparatorInt:
		v, problem := parseInt(actual)
		if problem != "" {
			return c.mismatch(actual, "actual value "+problem)
		}
		ok = compareNumbers(c.op, v, c.ints)
	case ComparatorFloat:
		v, problem := parseFloat(actual)
		if problem != "" {
			return c.mismatch(actual, "actual value "+problem)
		}
		if ok = compareNumbers(c.op, v, c.floats); !ok && math.IsNaN(v) {
			return c.mismatch(actual, "actual value is NaN")
		}
	default:
		ok = c.compareString(actual)
	}
	if ok {
		return nil
	}
	return c.mismatch(actual, "")
}

func (c *Comparator) compareString(actual string) bool {
	switch c.op {
	case opEqual:
		return actual == c.strs[0]
	case opNotEqual:
		return actual != c.strs[0]
	case opContains:
		return strings.Contains(actual, c.strs[0])
	case opNotContains:
		return !strings.Contains(actual, c.strs[0])
	case opMatches:
		return c.re.MatchString(actual)
	case opNotMatches:
		return !c.re.MatchString(actual)
	case opOneOf:
		return slices.Contains(c.strs, actual)
	}
	return false
}

func (c *Comparator) mismatch(actual, reason string) *Mismatch {
	return &Mismatch{Actual: actual, Expected: c.expected, Criteria: c.criteria, Reason: reason}
}

// String returns "<criteria> <expected>", e.g. ">= 200" or "OneOf [400, 404]".
func (c *Comparator) String() string {
	if c == nil {
		return "<nil>"
	}
	return c.criteria + " " + c.expected
}

// Type returns the comparator type.
func (c *Comparator) Type() ComparatorType { return c.typ }

// Criteria returns the criteria as configured (surrounding whitespace removed).
func (c *Comparator) Criteria() string { return c.criteria }

// Expected returns the expected value as shown in messages: verbatim for string scalar
// criteria, whitespace-trimmed otherwise.
func (c *Comparator) Expected() string { return c.expected }

// Mismatch is a failed comparison: the hypothesis was violated, so the probe FAILED (as
// opposed to an ERROR in running it). Reason is set when the comparison could not be
// made, e.g. `actual value "abc" is not an integer`.
type Mismatch struct {
	Actual, Expected, Criteria string
	Reason                     string
}

// Error returns "Actual value: <a>. Expected value: <criteria> <expected>", followed by
// " (<reason>)" when there is a reason.
func (m *Mismatch) Error() string {
	if m == nil {
		return "<nil>"
	}
	msg := "Actual value: " + m.Actual + ". Expected value: " + m.Criteria + " " + m.Expected
	if m.Reason != "" {
		msg += " (" + m.Reason + ")"
	}
	return msg
}
