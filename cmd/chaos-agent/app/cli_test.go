package app

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args []string, vars map[string]string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Execute(t.Context(), args, Env{
		Stdout: &out, Stderr: &errOut,
		LookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
	})
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		vars       map[string]string
		wantCode   int
		wantOut    string
		wantErr    string
		oneErrLine bool
	}{
		{name: "version", args: []string{"version"}, wantCode: ExitOK, wantOut: "chaos-agent "},
		{name: "version json", args: []string{"version", "-o", "json"}, wantCode: ExitOK, wantOut: `"goVersion"`},
		{name: "help", args: []string{"--help"}, wantCode: ExitOK, wantOut: "Available Commands"},
		{name: "unknown flag", args: []string{"version", "--nope"}, wantCode: ExitUsage, wantErr: "unknown flag: --nope", oneErrLine: true},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: ExitUsage, wantErr: "unknown command"},
		{name: "bad env", args: []string{"config"}, vars: map[string]string{"INFRA_SCOPE": "galaxy", "START_TIME": "soon"},
			wantCode: ExitUsage, wantErr: "invalid configuration", oneErrLine: true},
		{name: "config ok", args: []string{"config"}, vars: map[string]string{"INFRA_SCOPE": "cluster"}, wantCode: ExitOK, wantOut: "Scope:cluster"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(t, tc.args, tc.vars)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.wantCode, errOut)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("stdout %q does not contain %q", out, tc.wantOut)
			}
			if !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", errOut, tc.wantErr)
			}
			if tc.oneErrLine && strings.Count(errOut, "\n") != 1 {
				t.Errorf("want exactly one error line, got %q", errOut)
			}
		})
	}
}

// run and check refuse a manifest file above the size bound with a clear error, before reading it
// whole and before touching a cluster.
func TestOversizeFile(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("# padding\n"), 5<<20), 0o600); err != nil { // 50 MB
		t.Fatal(err)
	}
	for _, cmd := range []string{"run", "check"} {
		code, _, errOut := run(t, []string{cmd, "-f", big, "--kubeconfig", "/nonexistent"}, nil)
		if code != ExitUsage || !strings.Contains(errOut, "larger than the limit of 8 MiB") {
			t.Errorf("%s: exit %d, stderr %q", cmd, code, errOut)
		}
	}
}
