package app

import (
	"slices"
	"strings"
	"testing"
)

func TestCheckerArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"check", "-file=/tmp/e.yaml", "-saveName=/tmp/name"}, []string{"check", "--file=/tmp/e.yaml", "--save-name=/tmp/name"}},
		{[]string{"check", "-file", "/tmp/e.yaml", "-saveName", "/tmp/name"}, []string{"check", "--file", "/tmp/e.yaml", "--save-name", "/tmp/name"}},
		{[]string{"check", "-f", "e.yaml", "--save-name=x", "-n", "hce"}, []string{"check", "-f", "e.yaml", "--save-name=x", "-n", "hce"}},
		{[]string{"run", "-file=x"}, []string{"run", "-file=x"}},
		{[]string{"check", "--", "-file=x"}, []string{"check", "--", "-file=x"}},
		{nil, nil},
	} {
		if got := checkerArgs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("checkerArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestCheckLitmusCheckerFlags: the checker image's command line parses (the file is read).
func TestCheckLitmusCheckerFlags(t *testing.T) {
	code, _, stderr := run(t, []string{"check", "-file=/nonexistent/engine.yaml", "-saveName=/tmp/name"}, nil)
	if code != ExitUsage || !strings.Contains(stderr, "/nonexistent/engine.yaml") {
		t.Errorf("exit %d, stderr %q; want a usage error about /nonexistent/engine.yaml", code, stderr)
	}
}
