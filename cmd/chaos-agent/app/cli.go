// Package app defines chaos-agent's command line: one cobra command per way to start the binary.
// It turns errors into exit codes; only cmd/chaos-agent calls os.Exit.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chaos-agent/chaos-agent/internal/logging"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1 // the command ran and failed (or, for run/check, the experiment did not pass)
	ExitUsage  = 2 // bad flags, environment or configuration
)

// ExitError carries the exit code a command wants.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

func usageError(err error) error { return &ExitError{Code: ExitUsage, Err: err} }

// Env is what the commands need from the process environment.
type Env struct {
	Stdout, Stderr io.Writer
	LookupEnv      func(string) (string, bool)
	// Klog, when set, receives each command's logger: client-go's klog lines then go through it.
	Klog *logging.KlogRouter
}

// routeKlog sends client-go's log lines through log when the environment has a router.
func (e Env) routeKlog(log *zap.Logger) {
	if e.Klog != nil {
		e.Klog.Route(log)
	}
}

// Execute runs the command line args and returns the process exit code.
func Execute(ctx context.Context, args []string, env Env) int {
	root := NewRootCommand(env)
	root.SetArgs(checkerArgs(args))
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitFailed
	var ee *ExitError
	if errors.As(err, &ee) {
		code = ee.Code
	} else if isFlagError(err) || strings.HasPrefix(err.Error(), "unknown command") {
		code = ExitUsage
	}
	// One clear line, whatever the error's shape.
	fmt.Fprintf(env.Stderr, "chaos-agent: %s\n", oneLine(err))
	return code
}

// flagError marks cobra's own argument and flag parsing failures.
type flagError struct{ error }

func (e flagError) Unwrap() error { return e.error }

func isFlagError(err error) bool {
	var fe flagError
	return errors.As(err, &fe)
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// NewRootCommand builds the chaos-agent command tree.
func NewRootCommand(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "chaos-agent",
		Short: "Cluster-side chaos engineering agent (LitmusChaos-compatible chaos infrastructure)",
		Long: "chaos-agent runs inside a Kubernetes cluster: it links to a chaos control plane, applies\n" +
			"experiment workflows, executes faults and probes, and streams results back.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return flagError{err} })
	root.AddCommand(
		newVersionCommand(env),
		newConfigCommand(env),
		newServeCommand(env),
		newManifestCommand(env),
		newRunCommand(env),
		newCheckCommand(env),
	)
	return root
}
