//go:build !unix

package probes

import (
	"context"
	"errors"
	"os/exec"
	"time"
)

// runShell is the default ShellFunc: /bin/sh -c <command>, killed when ctx is done.
func runShell(ctx context.Context, command string) (stdout, stderr string, exitCode int, err error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	var out, errOut limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() && ctx.Err() == nil {
		return out.String(), errOut.String(), ee.ExitCode(), nil
	}
	if err != nil {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return out.String(), errOut.String(), -1, err
	}
	return out.String(), errOut.String(), 0, nil
}
