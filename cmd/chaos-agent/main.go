// Command chaos-agent is the cluster side of chaos engineering: see docs/architecture.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chaos-agent/chaos-agent/cmd/chaos-agent/app"
	"github.com/chaos-agent/chaos-agent/internal/logging"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := app.Env{Stdout: os.Stdout, Stderr: os.Stderr, LookupEnv: os.LookupEnv, Klog: &logging.KlogRouter{}}
	code := app.Execute(ctx, os.Args[1:], env)
	stop()
	os.Exit(code)
}
