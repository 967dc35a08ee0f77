//go:build !unix

package probes

import (
	"context"
	"os/exec"
)

// runShell is the default ShellFunc: /bin/sh -c <command>, killed when ctx is done.
func runShell(ctx context.Context, command string) (stdout, stderr string, exitCode int, err error) {
	return runCommand(ctx, exec.CommandContext(ctx, "/bin/sh", "-c", command))
}
