package probes

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// FuzzComparator checks, for arbitrary (type, criteria, expected, actual):
//   - NewComparator, Compare, String and Mismatch.Error never panic;
//   - NewComparator returns exactly one of a comparator or an error wrapping
//     ErrInvalidComparator;
//   - Compare returns nil or a *Mismatch, and the Mismatch describes the comparator;
//   - for int/float, == and != (same expected value) are each other's negation when the
//     actual value is a number, and both fail when it is not;
//   - for int/float, OneOf with a single value agrees with ==; Between x,x agrees with ==;
//   - for strings, each criteria and its negated counterpart disagree, and equal agrees
//     with a single-value oneOf when the value needs no trimming.
func FuzzComparator(f *testing.F) {
	seeds := [][4]string{
		{"int", "==", "200", "200"},
		{"int", ">=", "0", "abc"},
		{"int", "OneOf", "[400,404,405]", "404"},
		{"int", "oneOf", "200", "200"},
		{"int", "Between", "1, 10", " 5\n"},
		{"int", "<=", "9223372036854775807", "9223372036854775808"},
		{"int", "==", "1,2", "1"},
		{"Float", ">", "0.99", "0.995"},
		{"float", "between", "[-Inf, +Inf]", "NaN"},
		{"float", "!=", "0.3", "0.30000000000000004"},
		{"float", "==", "NaN", "NaN"},
		{"float", "<", "1e-3", "0x1p-10"},
		{"string", "contains", "a,b", "xa,by"},
		{"string", "matches", "^a{1,3}$", "aa"},
		{"string", "notMatches", "(unclosed", "x"},
		{"STRING", "oneOf", "[Running, Succeeded]", "Running"},
		{"string", "equal", "", ""},
		{"string", "notContains", "error", "all good"},
		{"bool", "==", "1", "1"},
		{"int", "=~", "1", "1"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, typ, criteria, expected, actual string) {
		c := mustCompareProps(t, ComparatorType(typ), criteria, expected, actual)
		if c == nil {
			return
		}
		switch c.Type() {
		case ComparatorInt, ComparatorFloat:
			checkNumericProps(t, c.Type(), expected, actual)
		case ComparatorString:
			checkStringProps(t, expected, actual)
		}
	})
}

// mustCompareProps builds a comparator (nil if the input is a configuration error) and
// checks the properties every Compare result must have.
func mustCompareProps(t *testing.T, typ ComparatorType, criteria, expected, actual string) *Comparator {
	t.Helper()
	c, err := NewComparator(typ, criteria, expected)
	if err != nil {
		if c != nil {
			t.Fatalf("NewComparator(%q, %q, %q) returned both %v and an error %v", typ, criteria, expected, c, err)
		}
		if !errors.Is(err, ErrInvalidComparator) {
			t.Fatalf("NewComparator error %v does not wrap ErrInvalidComparator", err)
		}
		return nil
	}
	if c == nil {
		t.Fatalf("NewComparator(%q, %q, %q) returned nil, nil", typ, criteria, expected)
	}
	_ = c.String()
	if err := c.Compare(actual); err != nil {
		var m *Mismatch
		if !errors.As(err, &m) {
			t.Fatalf("Compare(%q) with %q returned %T %v, want nil or *Mismatch", actual, c, err, err)
		}
		if m.Actual != actual || m.Criteria != c.Criteria() || m.Expected != c.Expected() {
			t.Fatalf("Mismatch %+v does not describe comparator %q and actual %q", *m, c, actual)
		}
		msg := m.Error()
		if !strings.HasPrefix(msg, "Actual value: "+actual+". Expected value: "+c.String()) {
			t.Fatalf("Mismatch message %q does not follow the pattern", msg)
		}
	}
	return c
}

func passes(t *testing.T, typ ComparatorType, criteria, expected, actual string) (ok, built bool) {
	t.Helper()
	c := mustCompareProps(t, typ, criteria, expected, actual)
	if c == nil {
		return false, false
	}
	return c.Compare(actual) == nil, true
}

func isNumber(typ ComparatorType, s string) bool {
	s = strings.TrimSpace(s)
	if typ == ComparatorInt {
		_, err := strconv.ParseInt(s, 10, 64)
		return err == nil
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func checkNumericProps(t *testing.T, typ ComparatorType, expected, actual string) {
	t.Helper()
	eq, eqBuilt := passes(t, typ, "==", expected, actual)
	ne, neBuilt := passes(t, typ, "!=", expected, actual)
	if eqBuilt != neBuilt {
		t.Fatalf("== built %v but != built %v for expected %q", eqBuilt, neBuilt, expected)
	}
	if !eqBuilt {
		return
	}
	if isNumber(typ, actual) {
		if eq == ne {
			t.Fatalf("%s: == %q gave %v and != gave %v for numeric actual %q", typ, expected, eq, ne, actual)
		}
	} else if eq || ne {
		t.Fatalf("%s: non-numeric actual %q passed == (%v) or != (%v) %q", typ, actual, eq, ne, expected)
	}
	if one, ok := passes(t, typ, "oneOf", expected, actual); !ok || one != eq {
		t.Fatalf("%s: oneOf %q (built %v) gave %v, == gave %v for %q", typ, expected, ok, one, eq, actual)
	}
	if btw, ok := passes(t, typ, "between", expected+","+expected, actual); !ok || btw != eq {
		t.Fatalf("%s: between %q,%q (built %v) gave %v, == gave %v for %q", typ, expected, expected, ok, btw, eq, actual)
	}
	ge, _ := passes(t, typ, ">=", expected, actual)
	le, _ := passes(t, typ, "<=", expected, actual)
	gt, _ := passes(t, typ, ">", expected, actual)
	lt, _ := passes(t, typ, "<", expected, actual)
	if ge != (gt || eq) || le != (lt || eq) {
		t.Fatalf("%s: inconsistent ordering for %q vs %q: ==%v >%v <%v >=%v <=%v", typ, actual, expected, eq, gt, lt, ge, le)
	}
}

func checkStringProps(t *testing.T, expected, actual string) {
	t.Helper()
	for _, pair := range [][2]string{{"equal", "notEqual"}, {"contains", "notContains"}, {"matches", "notMatches"}} {
		a, aBuilt := passes(t, ComparatorString, pair[0], expected, actual)
		b, bBuilt := passes(t, ComparatorString, pair[1], expected, actual)
		if aBuilt != bBuilt {
			t.Fatalf("%s built %v but %s built %v for %q", pair[0], aBuilt, pair[1], bBuilt, expected)
		}
		if aBuilt && a == b {
			t.Fatalf("%s and %s %q both gave %v for %q", pair[0], pair[1], expected, a, actual)
		}
	}
	// A value with no list syntax and no surrounding space is a one-element oneOf list.
	if expected != "" && expected == strings.TrimSpace(expected) && !strings.Contains(expected, ",") &&
		(!strings.HasPrefix(expected, "[") || !strings.HasSuffix(expected, "]")) {
		eq, _ := passes(t, ComparatorString, "equal", expected, actual)
		one, ok := passes(t, ComparatorString, "oneOf", expected, actual)
		if !ok || one != eq {
			t.Fatalf("oneOf %q (built %v) gave %v, equal gave %v for %q", expected, ok, one, eq, actual)
		}
	}
}
