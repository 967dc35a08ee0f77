//go:build unix

package probes

import (
	"context"
	"os/exec"
	"syscall"
)

// runShell is the default ShellFunc: /bin/sh -c <command> in its own process group, which
// is killed as a whole (SIGKILL) when ctx is done, so that children holding the output pipes
// cannot outlive the probe timeout.
func runShell(ctx context.Context, command string) (stdout, stderr string, exitCode int, err error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return runCommand(ctx, cmd)
}
