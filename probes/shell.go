package probes

import (
	"context"
	"errors"
	"os/exec"
	"time"
)

// runCommand runs cmd (built with exec.CommandContext(ctx, ...)) with bounded output capture.
// A command that exited on its own reports its exit code and no error; one that could not run,
// or was stopped because ctx ended, reports -1 and the error (ctx's cause, if ctx ended).
func runCommand(ctx context.Context, cmd *exec.Cmd) (stdout, stderr string, exitCode int, err error) {
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
