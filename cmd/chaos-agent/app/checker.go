package app

import "strings"

// litmusCheckerFlags maps litmus-checker's single-dash flags to check's: the fault step of
// ChaosHub Workflows runs the checker image with `-file=<engine> -saveName=<file>`, and the
// image chaos-agent's Docker-free build makes for that step has the entrypoint `chaos-agent check`.
var litmusCheckerFlags = map[string]string{"-file": "--file", "-saveName": "--save-name"}

// checkerArgs rewrites litmus-checker's flags after a leading "check" (pflag would read -file as
// the shorthand -f with the value "ile=..."); everything else is left as it is.
func checkerArgs(args []string) []string {
	if len(args) == 0 || args[0] != "check" {
		return args
	}
	out := append([]string(nil), args...)
	for i := 1; i < len(out); i++ {
		if out[i] == "--" {
			break
		}
		name, value, hasValue := strings.Cut(out[i], "=")
		if long, ok := litmusCheckerFlags[name]; ok {
			if hasValue {
				out[i] = long + "=" + value
			} else {
				out[i] = long
			}
		}
	}
	return out
}
