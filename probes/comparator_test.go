package probes

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestParseComparatorType(t *testing.T) {
	tests := []struct {
		in      string
		want    ComparatorType
		wantErr bool
	}{
		{"int", ComparatorInt, false},
		{"Int", ComparatorInt, false},
		{"INT", ComparatorInt, false},
		{" int ", ComparatorInt, false},
		{"float", ComparatorFloat, false},
		{"Float", ComparatorFloat, false},
		{"string", ComparatorString, false},
		{"STRING", ComparatorString, false},
		{"", "", true},
		{"integer", "", true},
		{"str", "", true},
		{"ſtring", "", true}, // long s folds to s under EqualFold; not accepted
		{"bool", "", true},
	}
	for _, tt := range tests {
		got, err := ParseComparatorType(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseComparatorType(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidComparator) {
				t.Errorf("ParseComparatorType(%q) error %v does not wrap ErrInvalidComparator", tt.in, err)
			}
			if !strings.Contains(err.Error(), "int, float, string") {
				t.Errorf("ParseComparatorType(%q) error %q does not list valid types", tt.in, err)
			}
		}
		if got != tt.want {
			t.Errorf("ParseComparatorType(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

type compareCase struct {
	name     string
	typ      ComparatorType
	criteria string
	expected string
	actual   string
	pass     bool
	// reason is a substring required in Mismatch.Reason; empty means Reason must be empty.
	reason string
}

// withAliases returns the cases once per criteria alias.
func withAliases(aliases []string, cases []compareCase) []compareCase {
	var out []compareCase
	for _, a := range aliases {
		for _, c := range cases {
			c.name = a + "/" + c.name
			c.criteria = a
			out = append(out, c)
		}
	}
	return out
}

func compareCases() []compareCase {
	const (
		I = ComparatorInt
		F = ComparatorFloat
		S = ComparatorString
	)
	cases := []compareCase{
		// int scalar criteria
		{name: "int == equal", typ: I, criteria: "==", expected: "200", actual: "200", pass: true},
		{name: "int == differs", typ: I, criteria: "==", expected: "200", actual: "201"},
		{name: "int == trims actual", typ: I, criteria: "==", expected: "200", actual: " 200\n", pass: true},
		{name: "int == trims expected", typ: I, criteria: "==", expected: " 200 ", actual: "200", pass: true},
		{name: "int == plus sign", typ: I, criteria: "==", expected: "+5", actual: "5", pass: true},
		{name: "int == negative", typ: I, criteria: "==", expected: "-5", actual: "-5", pass: true},
		{name: "int == max int64", typ: I, criteria: "==", expected: "9223372036854775807", actual: "9223372036854775807", pass: true},
		{name: "int != differs", typ: I, criteria: "!=", expected: "0", actual: "1", pass: true},
		{name: "int != equal", typ: I, criteria: "!=", expected: "0", actual: "0"},
		{name: "int > greater", typ: I, criteria: ">", expected: "5", actual: "6", pass: true},
		{name: "int > equal", typ: I, criteria: ">", expected: "5", actual: "5"},
		{name: "int > less", typ: I, criteria: ">", expected: "5", actual: "4"},
		{name: "int < less", typ: I, criteria: "<", expected: "5", actual: "4", pass: true},
		{name: "int < equal", typ: I, criteria: "<", expected: "5", actual: "5"},
		{name: "int < greater", typ: I, criteria: "<", expected: "5", actual: "6"},
		{name: "int >= equal", typ: I, criteria: ">=", expected: "5", actual: "5", pass: true},
		{name: "int >= greater", typ: I, criteria: ">=", expected: "5", actual: "6", pass: true},
		{name: "int >= less", typ: I, criteria: ">=", expected: "5", actual: "4"},
		{name: "int <= equal", typ: I, criteria: "<=", expected: "5", actual: "5", pass: true},
		{name: "int <= less", typ: I, criteria: "<=", expected: "5", actual: "-4", pass: true},
		{name: "int <= greater", typ: I, criteria: "<=", expected: "5", actual: "6"},
		{name: "int criteria whitespace ignored", typ: I, criteria: " >= ", expected: "5", actual: "6", pass: true},

		// divergence 1: actual that is not a number is a Mismatch with a reason.
		{name: "divergence1 int abc fails >= 0", typ: I, criteria: ">=", expected: "0", actual: "abc", reason: `actual value "abc" is not an integer`},
		{name: "divergence1 int empty fails <= 0", typ: I, criteria: "<=", expected: "0", actual: "", reason: `actual value "" is not an integer`},
		{name: "divergence1 int abc fails != 1", typ: I, criteria: "!=", expected: "1", actual: "abc", reason: "is not an integer"},
		{name: "divergence1 int float text", typ: I, criteria: "==", expected: "5", actual: "5.0", reason: `actual value "5.0" is not an integer`},
		{name: "divergence1 int hex not base 10", typ: I, criteria: "==", expected: "16", actual: "0x10", reason: "is not an integer"},
		{name: "divergence1 int underscore", typ: I, criteria: "==", expected: "1000", actual: "1_000", reason: "is not an integer"},
		{name: "divergence1 int out of range", typ: I, criteria: ">", expected: "0", actual: "9223372036854775808", reason: "out of range for a 64-bit integer"},
		{name: "divergence1 float abc fails >= 0", typ: F, criteria: ">=", expected: "0", actual: "abc", reason: `actual value "abc" is not a number`},
		{name: "divergence1 float empty", typ: F, criteria: "<=", expected: "1", actual: "", reason: "is not a number"},
		{name: "divergence1 float out of range", typ: F, criteria: ">", expected: "0", actual: "1e400", reason: "out of range for a 64-bit float"},
		{name: "divergence1 int abc fails OneOf 0", typ: I, criteria: "OneOf", expected: "0", actual: "abc", reason: "is not an integer"},
		{name: "divergence1 int abc fails Between", typ: I, criteria: "Between", expected: "0,10", actual: "abc", reason: "is not an integer"},

		// float scalar criteria
		{name: "float == same", typ: F, criteria: "==", expected: "0.5", actual: "0.5", pass: true},
		{name: "float == spellings", typ: F, criteria: "==", expected: "1", actual: "1.0e0", pass: true},
		{name: "float == trims", typ: F, criteria: "==", expected: " 2.5 ", actual: "\t2.5\n", pass: true},
		{name: "float == differs", typ: F, criteria: "==", expected: "0.5", actual: "0.51"},
		{name: "float != differs", typ: F, criteria: "!=", expected: "0.5", actual: "0.51", pass: true},
		{name: "float != same", typ: F, criteria: "!=", expected: "0.5", actual: "0.50"},
		{name: "float > greater", typ: F, criteria: ">", expected: "0.99", actual: "0.995", pass: true},
		{name: "float > equal", typ: F, criteria: ">", expected: "0.99", actual: "0.99"},
		{name: "float < less", typ: F, criteria: "<", expected: "1.5", actual: "1.4999", pass: true},
		{name: "float < greater", typ: F, criteria: "<", expected: "1.5", actual: "2"},
		{name: "float >= equal", typ: F, criteria: ">=", expected: "1.5", actual: "1.5", pass: true},
		{name: "float >= less", typ: F, criteria: ">=", expected: "1.5", actual: "1.49"},
		{name: "float <= equal", typ: F, criteria: "<=", expected: "1.5", actual: "1.5", pass: true},
		{name: "float <= greater", typ: F, criteria: "<=", expected: "1.5", actual: "1.51"},
		{name: "float integer actual", typ: F, criteria: ">", expected: "0.5", actual: "3", pass: true},
		{name: "float < +Inf", typ: F, criteria: "<", expected: "+Inf", actual: "1e300", pass: true},
		{name: "float actual Inf", typ: F, criteria: ">", expected: "1e308", actual: "Inf", pass: true},
		{name: "float scientific", typ: F, criteria: "<=", expected: "1e-3", actual: "0.001", pass: true},

		// divergence 7: exact float equality, documented.
		{name: "divergence7 float no epsilon", typ: F, criteria: "==", expected: "0.3", actual: "0.30000000000000004"},
		{name: "divergence7 float != no epsilon", typ: F, criteria: "!=", expected: "0.3", actual: "0.30000000000000004", pass: true},
		{name: "divergence7 float rounds to same float64", typ: F, criteria: "==", expected: "0.1", actual: "0.10000000000000000001", pass: true},
		{name: "divergence7 float negative zero", typ: F, criteria: "==", expected: "0", actual: "-0", pass: true},
		{name: "divergence7 float NaN actual fails ==", typ: F, criteria: "==", expected: "0", actual: "NaN", reason: "actual value is NaN"},
		{name: "divergence7 float NaN actual fails >=", typ: F, criteria: ">=", expected: "0", actual: "NaN", reason: "actual value is NaN"},
		{name: "divergence7 float NaN actual fails <", typ: F, criteria: "<", expected: "0", actual: "nan", reason: "actual value is NaN"},
		{name: "divergence7 float NaN actual passes !=", typ: F, criteria: "!=", expected: "0", actual: "NaN", pass: true},
		{name: "divergence7 float NaN actual fails Between", typ: F, criteria: "Between", expected: "-Inf,+Inf", actual: "NaN", reason: "actual value is NaN"},
	}

	numericOneOf := []compareCase{
		{name: "int member", typ: I, expected: "200,201,204", actual: "204", pass: true},
		{name: "int not member", typ: I, expected: "200,201,204", actual: "202"},
		{name: "int member trims actual", typ: I, expected: "200,201", actual: " 201\n", pass: true},
		// divergence 2: list syntaxes and single values.
		{name: "divergence2 int brackets first", typ: I, expected: "[400,404,405]", actual: "400", pass: true},
		{name: "divergence2 int brackets last", typ: I, expected: "[400,404,405]", actual: "405", pass: true},
		{name: "divergence2 int brackets zero not member", typ: I, expected: "[400,404,405]", actual: "0"},
		{name: "divergence2 int brackets spaces", typ: I, expected: "[400, 404, 405]", actual: "404", pass: true},
		{name: "divergence2 int spaces no brackets", typ: I, expected: " 400 , 404 ", actual: "404", pass: true},
		{name: "divergence2 int single value matches", typ: I, expected: "200", actual: "200", pass: true},
		{name: "divergence2 int single value in brackets", typ: I, expected: "[200]", actual: "200", pass: true},
		{name: "divergence2 int single value mismatch", typ: I, expected: "200", actual: "500"},
		{name: "float member", typ: F, expected: "0.5, 1, 1.5", actual: "1.0", pass: true},
		{name: "float not member", typ: F, expected: "[0.5, 1, 1.5]", actual: "1.25"},
		{name: "divergence2 float single value", typ: F, expected: "0.5", actual: "0.50", pass: true},
	}
	cases = append(cases, withAliases([]string{"OneOf", "oneOf"}, numericOneOf)...)

	between := []compareCase{
		{name: "int inside", typ: I, expected: "1,10", actual: "5", pass: true},
		{name: "divergence5 int lower inclusive", typ: I, expected: "1,10", actual: "1", pass: true},
		{name: "divergence5 int upper inclusive", typ: I, expected: "1,10", actual: "10", pass: true},
		{name: "int below", typ: I, expected: "1,10", actual: "0"},
		{name: "int above", typ: I, expected: "1,10", actual: "11"},
		{name: "divergence2 int brackets", typ: I, expected: "[1, 10]", actual: "10", pass: true},
		{name: "divergence5 int equal limits", typ: I, expected: "7,7", actual: "7", pass: true},
		{name: "divergence5 int equal limits outside", typ: I, expected: "7,7", actual: "8"},
		{name: "int negative range", typ: I, expected: "-10,-1", actual: "-5", pass: true},
		{name: "float inside", typ: F, expected: "0.9,1.1", actual: "1.05", pass: true},
		{name: "float lower inclusive", typ: F, expected: "0.9,1.1", actual: "0.9", pass: true},
		{name: "float above", typ: F, expected: "0.9,1.1", actual: "1.1000001"},
		{name: "float infinite range", typ: F, expected: "[-Inf, +Inf]", actual: "1e308", pass: true},
	}
	cases = append(cases, withAliases([]string{"Between", "between"}, between)...)

	stringCases := []struct {
		aliases []string
		cases   []compareCase
	}{
		{[]string{"equal", "Equal"}, []compareCase{
			{name: "same", typ: S, expected: "Running", actual: "Running", pass: true},
			{name: "differs", typ: S, expected: "Running", actual: "Pending"},
			{name: "case sensitive", typ: S, expected: "Running", actual: "running"},
			{name: "actual not trimmed", typ: S, expected: "Running", actual: "Running\n"},
			{name: "expected not trimmed", typ: S, expected: " Running", actual: "Running"},
			{name: "empty expected empty actual", typ: S, expected: "", actual: "", pass: true},
			{name: "empty expected non-empty actual", typ: S, expected: "", actual: "x"},
			{name: "divergence3 comma is part of string", typ: S, expected: "a,b", actual: "a,b", pass: true},
			{name: "divergence3 comma value not empty string", typ: S, expected: "a,b", actual: ""},
			{name: "brackets literal", typ: S, expected: "[a]", actual: "[a]", pass: true},
		}},
		{[]string{"notEqual", "NotEqual"}, []compareCase{
			{name: "differs", typ: S, expected: "Failed", actual: "Running", pass: true},
			{name: "same", typ: S, expected: "Failed", actual: "Failed"},
			{name: "divergence3 comma value", typ: S, expected: "a,b", actual: "", pass: true},
			{name: "divergence3 comma value same", typ: S, expected: "a,b", actual: "a,b"},
		}},
		{[]string{"contains", "Contains"}, []compareCase{
			{name: "substring", typ: S, expected: "ok", actual: "status: ok\n", pass: true},
			{name: "missing", typ: S, expected: "ok", actual: "status: error"},
			{name: "empty expected always", typ: S, expected: "", actual: "anything", pass: true},
			{name: "divergence3 comma value present", typ: S, expected: "a,b", actual: "x a,b y", pass: true},
			{name: "divergence3 comma value absent", typ: S, expected: "a,b", actual: "a b"},
			{name: "divergence3 comma value not vacuous", typ: S, expected: "a,b", actual: ""},
		}},
		{[]string{"notContains", "NotContains"}, []compareCase{
			{name: "absent", typ: S, expected: "error", actual: "all good", pass: true},
			{name: "present", typ: S, expected: "error", actual: "an error occurred"},
			{name: "divergence3 comma value", typ: S, expected: "a,b", actual: "a b", pass: true},
			{name: "divergence3 comma value present", typ: S, expected: "a,b", actual: "a,b"},
		}},
		{[]string{"matches", "Matches"}, []compareCase{
			{name: "unanchored", typ: S, expected: "ok", actual: "status ok now", pass: true},
			{name: "anchored pass", typ: S, expected: `^\d+$`, actual: "12345", pass: true},
			{name: "anchored fail", typ: S, expected: `^\d+$`, actual: "123a", reason: ""},
			{name: "no match", typ: S, expected: "ready", actual: "pending"},
			{name: "divergence3 comma in regex", typ: S, expected: "^a{1,3}$", actual: "aa", pass: true},
			{name: "divergence3 comma in regex fails", typ: S, expected: "^a{1,3}$", actual: "aaaa"},
			{name: "multiline actual", typ: S, expected: "(?m)^ready$", actual: "pending\nready\n", pass: true},
		}},
		{[]string{"notMatches", "NotMatches"}, []compareCase{
			{name: "no match", typ: S, expected: "(?i)error", actual: "fine", pass: true},
			{name: "match", typ: S, expected: "(?i)error", actual: "ERROR: boom"},
			{name: "divergence3 comma in regex", typ: S, expected: "^a{1,3}$", actual: "aaaa", pass: true},
		}},
		{[]string{"oneOf", "OneOf"}, []compareCase{
			{name: "member", typ: S, expected: "Running,Succeeded", actual: "Succeeded", pass: true},
			{name: "not member", typ: S, expected: "Running,Succeeded", actual: "Failed"},
			{name: "exact membership only", typ: S, expected: "Running,Succeeded", actual: "Run"},
			{name: "actual not trimmed", typ: S, expected: "Running,Succeeded", actual: " Running"},
			{name: "divergence2 brackets", typ: S, expected: "[Running,Succeeded]", actual: "Running", pass: true},
			{name: "divergence2 brackets spaces", typ: S, expected: "[Running, Succeeded]", actual: "Succeeded", pass: true},
			{name: "divergence2 single value", typ: S, expected: "Running", actual: "Running", pass: true},
			{name: "divergence2 single value mismatch", typ: S, expected: "Running", actual: "Pending"},
		}},
	}
	for _, sc := range stringCases {
		cases = append(cases, withAliases(sc.aliases, sc.cases)...)
	}
	return cases
}

func TestComparatorCompare(t *testing.T) {
	for _, tt := range compareCases() {
		t.Run(string(tt.typ)+"/"+tt.name, func(t *testing.T) {
			c, err := NewComparator(tt.typ, tt.criteria, tt.expected)
			if err != nil {
				t.Fatalf("NewComparator(%q, %q, %q): %v", tt.typ, tt.criteria, tt.expected, err)
			}
			err = c.Compare(tt.actual)
			if tt.pass {
				if err != nil {
					t.Fatalf("Compare(%q) with %q = %v, want nil", tt.actual, c, err)
				}
				return
			}
			var m *Mismatch
			if !errors.As(err, &m) {
				t.Fatalf("Compare(%q) with %q = %v (%T), want *Mismatch", tt.actual, c, err, err)
			}
			if m.Actual != tt.actual || m.Criteria != strings.TrimSpace(tt.criteria) || m.Expected != c.Expected() {
				t.Errorf("Mismatch fields = %+v, want Actual %q Criteria %q Expected %q", *m, tt.actual, tt.criteria, c.Expected())
			}
			switch {
			case tt.reason == "" && m.Reason != "":
				t.Errorf("Mismatch.Reason = %q, want empty", m.Reason)
			case !strings.Contains(m.Reason, tt.reason):
				t.Errorf("Mismatch.Reason = %q, want it to contain %q", m.Reason, tt.reason)
			}
		})
	}
}

func TestNewComparatorErrors(t *testing.T) {
	const (
		I = ComparatorInt
		F = ComparatorFloat
		S = ComparatorString
	)
	tests := []struct {
		name     string
		typ      ComparatorType
		criteria string
		expected string
		want     []string // substrings of the error message
	}{
		{name: "unknown type", typ: "bool", criteria: "==", expected: "1", want: []string{`unsupported comparator type "bool"`}},
		{name: "empty type", typ: "", criteria: "==", expected: "1", want: []string{"unsupported comparator type"}},

		// divergence 6: unknown criteria list the valid ones for the type.
		{name: "divergence6 int unknown criteria", typ: I, criteria: "=", expected: "1",
			want: []string{`criteria "=" is not supported for int comparators`, "==, !=, >, <, >=, <=, OneOf, oneOf, Between, between"}},
		{name: "divergence6 float string criteria", typ: F, criteria: "equal", expected: "1",
			want: []string{`criteria "equal" is not supported for float comparators`, "Between, between"}},
		{name: "divergence6 string numeric criteria", typ: S, criteria: "==", expected: "a",
			want: []string{`criteria "==" is not supported for string comparators`, "equal, Equal, notEqual, NotEqual, contains, Contains, notContains, NotContains, matches, Matches, notMatches, NotMatches, oneOf, OneOf"}},
		{name: "divergence6 empty criteria", typ: I, criteria: "", expected: "1", want: []string{`criteria "" is not supported`}},
		{name: "divergence6 wrong case alias", typ: I, criteria: "ONEOF", expected: "1", want: []string{`criteria "ONEOF" is not supported`}},
		{name: "divergence6 wrong case string alias", typ: S, criteria: "EQUAL", expected: "a", want: []string{`criteria "EQUAL" is not supported`}},
		{name: "divergence6 upstream lowercase between only", typ: I, criteria: "BETWEEN", expected: "1,2", want: []string{"not supported"}},

		// divergence 3: scalar numeric criteria reject commas.
		{name: "divergence3 int == list", typ: I, criteria: "==", expected: "1,2", want: []string{`expected a single number for criteria ==, got "1,2"`}},
		{name: "divergence3 int >= list", typ: I, criteria: ">=", expected: "[200,300]", want: []string{"expected a single number for criteria >="}},
		{name: "divergence3 float != list", typ: F, criteria: "!=", expected: "0.5, 1", want: []string{"expected a single number for criteria !="}},
		{name: "divergence3 float < trailing comma", typ: F, criteria: "<", expected: "1,", want: []string{"expected a single number for criteria <"}},

		// divergence 4: expected values must parse.
		{name: "divergence4 int not a number", typ: I, criteria: "==", expected: "abc", want: []string{`expected value "abc" is not an integer`}},
		{name: "divergence4 int empty", typ: I, criteria: ">", expected: "", want: []string{`expected value "" is not an integer`}},
		{name: "divergence4 int float value", typ: I, criteria: "<", expected: "1.5", want: []string{`expected value "1.5" is not an integer`}},
		{name: "divergence4 int out of range", typ: I, criteria: "<", expected: "99999999999999999999", want: []string{"out of range for a 64-bit integer"}},
		{name: "divergence4 int bracketed scalar", typ: I, criteria: "==", expected: "[200]", want: []string{`expected value "[200]" is not an integer`}},
		{name: "divergence4 float not a number", typ: F, criteria: ">=", expected: "high", want: []string{`expected value "high" is not a number`}},
		{name: "divergence4 float out of range", typ: F, criteria: ">=", expected: "1e999", want: []string{"out of range for a 64-bit float"}},
		{name: "divergence4 float NaN", typ: F, criteria: "==", expected: "NaN", want: []string{`expected value "NaN" is not allowed`}},
		{name: "divergence4 int list element", typ: I, criteria: "OneOf", expected: "200,abc", want: []string{`expected value "abc" is not an integer`}},
		{name: "divergence4 float list element", typ: F, criteria: "oneOf", expected: "[0.5, x]", want: []string{`expected value "x" is not a number`}},
		{name: "divergence4 float list NaN", typ: F, criteria: "oneOf", expected: "1,NaN", want: []string{"is not allowed"}},

		// divergence 2: malformed lists.
		{name: "divergence2 int empty list", typ: I, criteria: "OneOf", expected: "", want: []string{"expected at least one value"}},
		{name: "divergence2 int empty brackets", typ: I, criteria: "oneOf", expected: "[ ]", want: []string{"expected at least one value"}},
		{name: "divergence2 int empty element", typ: I, criteria: "oneOf", expected: "1,,2", want: []string{`empty element in list "1,,2"`}},
		{name: "divergence2 int trailing comma", typ: I, criteria: "OneOf", expected: "[1,2,]", want: []string{"empty element"}},
		{name: "divergence2 string empty list", typ: S, criteria: "oneOf", expected: "  ", want: []string{"expected at least one value"}},
		{name: "divergence2 string empty element", typ: S, criteria: "OneOf", expected: "a, ,b", want: []string{"empty element"}},
		{name: "divergence2 int unbalanced bracket", typ: I, criteria: "OneOf", expected: "[1,2", want: []string{`expected value "[1" is not an integer`}},

		// divergence 5: Between needs exactly two ordered numbers.
		{name: "divergence5 between one value", typ: I, criteria: "Between", expected: "5", want: []string{`expected exactly two numbers (lower, upper), got 1 in "5"`}},
		{name: "divergence5 between three values", typ: I, criteria: "between", expected: "1,2,3", want: []string{"expected exactly two numbers (lower, upper), got 3"}},
		{name: "divergence5 between empty", typ: F, criteria: "Between", expected: "", want: []string{"expected at least one value"}},
		{name: "divergence5 between reversed int", typ: I, criteria: "Between", expected: "10,1", want: []string{"lower limit 10 is greater than upper limit 1"}},
		{name: "divergence5 between reversed float", typ: F, criteria: "between", expected: "[1.5, 0.5]", want: []string{"lower limit 1.5 is greater than upper limit 0.5"}},
		{name: "divergence5 between not numbers", typ: F, criteria: "Between", expected: "low,high", want: []string{`expected value "low" is not a number`}},

		// regular expressions are compiled up front.
		{name: "invalid regex matches", typ: S, criteria: "matches", expected: "(unclosed", want: []string{`invalid regular expression "(unclosed"`}},
		{name: "invalid regex notMatches", typ: S, criteria: "NotMatches", expected: "a**", want: []string{"invalid regular expression"}},
		{name: "invalid regex perl lookahead", typ: S, criteria: "Matches", expected: "(?=x)", want: []string{"invalid regular expression"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewComparator(tt.typ, tt.criteria, tt.expected)
			if err == nil {
				t.Fatalf("NewComparator(%q, %q, %q) = %q, want error", tt.typ, tt.criteria, tt.expected, c)
			}
			if c != nil {
				t.Errorf("NewComparator returned non-nil comparator with error")
			}
			if !errors.Is(err, ErrInvalidComparator) {
				t.Errorf("error %v does not wrap ErrInvalidComparator", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewComparatorNormalisesType(t *testing.T) {
	c, err := NewComparator("Float", ">=", "1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Type() != ComparatorFloat {
		t.Errorf("Type() = %q, want %q", c.Type(), ComparatorFloat)
	}
	if err := c.Compare("1.5"); err != nil {
		t.Errorf("Compare: %v", err)
	}
}

func TestComparatorString(t *testing.T) {
	tests := []struct {
		typ                ComparatorType
		criteria, expected string
		want               string
		wantCriteria       string
		wantExpected       string
	}{
		{ComparatorInt, ">=", "200", ">= 200", ">=", "200"},
		{ComparatorInt, " == ", " 200 ", "== 200", "==", "200"},
		{ComparatorInt, "OneOf", " [400, 404] ", "OneOf [400, 404]", "OneOf", "[400, 404]"},
		{ComparatorFloat, "between", "0.5,1", "between 0.5,1", "between", "0.5,1"},
		{ComparatorString, "contains", " ok ", "contains  ok ", "contains", " ok "},
		{ComparatorString, "matches", "^a{1,3}$", "matches ^a{1,3}$", "matches", "^a{1,3}$"},
		{ComparatorString, "oneOf", " a, b ", "oneOf a, b", "oneOf", "a, b"},
	}
	for _, tt := range tests {
		c, err := NewComparator(tt.typ, tt.criteria, tt.expected)
		if err != nil {
			t.Fatalf("NewComparator(%q, %q, %q): %v", tt.typ, tt.criteria, tt.expected, err)
		}
		if got := c.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		if got := c.Criteria(); got != tt.wantCriteria {
			t.Errorf("Criteria() = %q, want %q", got, tt.wantCriteria)
		}
		if got := c.Expected(); got != tt.wantExpected {
			t.Errorf("Expected() = %q, want %q", got, tt.wantExpected)
		}
	}
	var nilC *Comparator
	if got := nilC.String(); got != "<nil>" {
		t.Errorf("nil String() = %q", got)
	}
}

func TestMismatchMessages(t *testing.T) {
	tests := []struct {
		name                       string
		typ                        ComparatorType
		criteria, expected, actual string
		want                       string
	}{
		{"int plain", ComparatorInt, ">=", "200", "199",
			"Actual value: 199. Expected value: >= 200"},
		{"int not a number", ComparatorInt, ">=", "0", "abc",
			`Actual value: abc. Expected value: >= 0 (actual value "abc" is not an integer)`},
		{"int out of range", ComparatorInt, "==", "1", "18446744073709551616",
			`Actual value: 18446744073709551616. Expected value: == 1 (actual value "18446744073709551616" is out of range for a 64-bit integer)`},
		{"http status oneOf", ComparatorInt, "oneOf", "[200, 204]", "503",
			"Actual value: 503. Expected value: oneOf [200, 204]"},
		{"float not a number", ComparatorFloat, "<", "0.5", "",
			`Actual value: . Expected value: < 0.5 (actual value "" is not a number)`},
		{"float NaN", ComparatorFloat, ">", "0", "NaN",
			"Actual value: NaN. Expected value: > 0 (actual value is NaN)"},
		{"float between", ComparatorFloat, "Between", "0.9, 1.1", "2",
			"Actual value: 2. Expected value: Between 0.9, 1.1"},
		{"string equal", ComparatorString, "equal", "Running", "Pending",
			"Actual value: Pending. Expected value: equal Running"},
		{"string contains comma", ComparatorString, "contains", "a,b", "ab",
			"Actual value: ab. Expected value: contains a,b"},
		{"string matches", ComparatorString, "Matches", `^\d+$`, "x",
			`Actual value: x. Expected value: Matches ^\d+$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewComparator(tt.typ, tt.criteria, tt.expected)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Compare(tt.actual)
			if err == nil {
				t.Fatalf("Compare(%q) = nil, want mismatch", tt.actual)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("message:\n got %q\nwant %q", got, tt.want)
			}
			if errors.Is(err, ErrInvalidComparator) {
				t.Errorf("a Mismatch must not wrap ErrInvalidComparator")
			}
		})
	}

	m := &Mismatch{Actual: "a", Expected: "b", Criteria: "equal", Reason: "why"}
	if got, want := m.Error(), "Actual value: a. Expected value: equal b (why)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var nilM *Mismatch
	if got := nilM.Error(); got != "<nil>" {
		t.Errorf("nil Mismatch Error() = %q", got)
	}
}

func TestCompareUninitialised(t *testing.T) {
	for name, c := range map[string]*Comparator{"nil": nil, "zero": {}} {
		err := c.Compare("1")
		if err == nil {
			t.Fatalf("%s: Compare = nil, want error", name)
		}
		var m *Mismatch
		if errors.As(err, &m) {
			t.Errorf("%s: Compare returned a *Mismatch for an unusable comparator", name)
		}
		if !errors.Is(err, ErrInvalidComparator) {
			t.Errorf("%s: error %v does not wrap ErrInvalidComparator", name, err)
		}
	}
}

// TestComparatorConcurrentUse lets the race detector check that a Comparator is safe to
// share between probe goroutines (Continuous/OnChaos loops).
func TestComparatorConcurrentUse(t *testing.T) {
	comparators := []*Comparator{}
	for _, spec := range [][3]string{{"int", "oneOf", "200,204"}, {"float", "between", "0,1"}, {"string", "matches", "^ok"}} {
		c, err := NewComparator(ComparatorType(spec[0]), spec[1], spec[2])
		if err != nil {
			t.Fatal(err)
		}
		comparators = append(comparators, c)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for _, c := range comparators {
				for _, actual := range []string{"200", "0.5", "ok", "abc", strings.Repeat("x", i)} {
					err := c.Compare(actual)
					var m *Mismatch
					if err != nil && !errors.As(err, &m) {
						t.Errorf("Compare(%q) = %v, want nil or *Mismatch", actual, err)
					}
				}
			}
		})
	}
	wg.Wait()
}
