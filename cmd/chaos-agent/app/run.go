package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	argoclient "github.com/argoproj/argo-workflows/v3/pkg/client/clientset/versioned"
	"github.com/spf13/cobra"
	"golang.org/x/term"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/internal/imageref"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/logging"
	"github.com/chaos-agent/chaos-agent/policy"
	"github.com/chaos-agent/chaos-agent/probes"
	"github.com/chaos-agent/chaos-agent/runner"
)

type runFlags struct {
	file, kubeconfig, namespace, junit, output string
	policyNamespace                            string
	imageRegistry, imagePullSecrets            string
	minScore                                   float64
	dryRun                                     bool
	timeout                                    time.Duration
}

func newRunCommand(env Env) *cobra.Command {
	f := runFlags{namespace: "default", output: "table", timeout: 30 * time.Minute}
	cmd := &cobra.Command{
		Use:   "run -f FILE",
		Short: "Run a chaos Workflow or ChaosEngines against a cluster, without a control plane; for CI",
		Long: "run executes FILE in this process: a ChaosCenter/ChaosHub chaos Workflow (install, fault and cleanup\n" +
			"steps, run by chaos-agent's native workflow engine, no Argo controller needed), or ChaosEngines with\n" +
			"their ChaosExperiments. It streams events, prints a result table and the resilience score, and exits\n" +
			"non-zero when the score is below --min-score or a fault ended in Error. Ctrl-C stops the chaos cleanly.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRun(cmd.Context(), env, f) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "file", "f", "", "manifest file: a chaos Workflow, or ChaosEngines and ChaosExperiments (- for stdin)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file (env KUBECONFIG)")
	fl.StringVarP(&f.namespace, "namespace", "n", f.namespace, "namespace for objects that name none")
	fl.StringVar(&f.policyNamespace, "policy-namespace", "", "namespace of the cluster owner's ConfigMap "+policy.ConfigMapName+", enforced when it exists (default: --namespace)")
	fl.Float64Var(&f.minScore, "min-score", 0, "fail (exit 1) when the resilience score is below this")
	fl.StringVar(&f.junit, "junit", "", "write JUnit XML here (one test case per fault and per probe)")
	fl.StringVarP(&f.output, "output", "o", f.output, "table or json")
	fl.BoolVar(&f.dryRun, "dry-run", false, "select and show victims without deleting; list the probes without running them")
	fl.DurationVar(&f.timeout, "timeout", f.timeout, "bound of the whole run, Workflow steps included: then the chaos is stopped and the run fails (0: none)")
	fl.StringVar(&f.imageRegistry, "image-registry", "", "pull the images run starts (cmdProbe source pods; Workflow steps run in this process) from this registry (a mirror)")
	fl.StringVar(&f.imagePullSecrets, "image-pull-secret", "", "docker-registry Secret(s) those pods pull with, comma-separated")
	return cmd
}

func runRun(ctx context.Context, env Env, f runFlags) error {
	if f.file == "" {
		return usageError(errors.New("-f FILE is required"))
	}
	if f.output != "table" && f.output != "json" {
		return usageError(fmt.Errorf("--output %q: want table or json", f.output))
	}
	if f.imageRegistry != "" {
		if err := imageref.CheckRegistry(f.imageRegistry); err != nil {
			return usageError(fmt.Errorf("--image-registry %q: %w", f.imageRegistry, err))
		}
	}
	if f.minScore < 0 || f.minScore > 100 {
		return usageError(fmt.Errorf("--min-score %v: want 0-100", f.minScore))
	}
	if f.timeout < 0 {
		return usageError(fmt.Errorf("--timeout %s: must not be negative", f.timeout))
	}
	data, err := readFile(f.file)
	if err != nil {
		return usageError(err)
	}
	m, err := runner.Parse(data, f.namespace)
	if err != nil {
		return usageError(fmt.Errorf("%s: %w", f.file, err))
	}
	log, err := logging.New(env.Stderr, "error", "console")
	if err != nil {
		return err
	}
	env.routeKlog(log)
	cfg, err := kube.RESTConfig(kube.Options{Kubeconfig: f.kubeconfig, ResponseTimeout: responseTimeout(f.timeout)})
	if err != nil {
		return err
	}
	clients, err := kube.NewClients(cfg)
	if err != nil {
		return err
	}
	argo, err := argoclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	policyNS := f.policyNamespace
	if policyNS == "" {
		policyNS = f.namespace
	}
	// On a user's own machine inline cmdProbes run as the user: allowed unless the policy says no.
	pol := policy.NewSource(clients.Kube, policyNS, policy.ConfigMapName, policy.Defaults{AllowInlineCommands: true, Optional: true})
	authz, err := authorizationv1.NewForConfig(cfg)
	if err != nil {
		return err
	}
	res, runErr := bounded(ctx, f.timeout, func(ctx context.Context) (*runner.Result, error) {
		return runner.Run(ctx, m, runner.Options{
			Clients: clients, Argo: argo, Access: authz.SelfSubjectAccessReviews(), Impersonating: kube.NewServiceAccountClients(cfg),
			Probes: probes.NewRunner(probes.Options{Clock: clock.RealClock{}, Log: log, ImageRegistry: f.imageRegistry, ImagePullSecrets: splitList(f.imagePullSecrets)}),
			Policy: pol,
			DryRun: f.dryRun, Timeout: f.timeout, Progress: env.Stderr, TTY: isTerminal(env.Stderr), Log: log,
		})
	})
	if res != nil {
		if f.output == "json" {
			_ = res.WriteJSON(env.Stdout)
		} else {
			fmt.Fprintln(env.Stdout)
			_ = res.WriteTable(env.Stdout)
		}
		if f.junit != "" {
			if err := writeFile(f.junit, res.WriteJUnit); err != nil {
				return err
			}
		}
	}
	switch {
	case runErr != nil:
		return runErr
	case res.Errored():
		return &ExitError{Code: ExitFailed, Err: errors.New("a fault ended in Error")}
	case res.Score < f.minScore:
		return &ExitError{Code: ExitFailed, Err: fmt.Errorf("resilience score %.2f is below --min-score %.2f", res.Score, f.minScore)}
	}
	return nil
}

// stopBudget is how long after --timeout a run may take to stop its chaos and collect the
// results before the command gives up on it.
const stopBudget = 90 * time.Second

// responseTimeout is the API response bound for a command with the given --timeout: at most the
// default, and no more than the timeout itself.
func responseTimeout(timeout time.Duration) time.Duration {
	if timeout > 0 && timeout < kube.DefaultResponseTimeout {
		return max(timeout, time.Second)
	}
	return kube.DefaultResponseTimeout
}

// bounded runs fn, and returns once it has, or once timeout plus stopBudget has passed — so that
// no API server, however broken, keeps the command running past its --timeout (0: unbounded).
func bounded[T any](ctx context.Context, timeout time.Duration, fn func(context.Context) (T, error)) (T, error) {
	if timeout <= 0 {
		return fn(ctx)
	}
	type result struct {
		v   T
		err error
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		v, err := fn(ctx)
		done <- result{v, err}
	}()
	hard := time.NewTimer(timeout + stopBudget)
	defer hard.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-hard.C:
		var zero T
		return zero, &ExitError{Code: ExitFailed, Err: fmt.Errorf("--timeout %s passed and the run did not stop within %s more", timeout, stopBudget)}
	}
}

func newCheckCommand(env Env) *cobra.Command {
	var file, kubeconfig, namespace, saveName string
	var failOnVerdict bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check -f engine.yaml",
		Short: "Create one ChaosEngine and wait for it to finish (a drop-in for the Argo step's litmus-checker)",
		Long: "check creates the ChaosEngine of FILE (generateName allowed), prints \"ChaosEngine Name : <name>\", and waits\n" +
			"until the in-cluster agent has completed or stopped it. Like litmus-checker it exits 0 whatever the\n" +
			"verdict, unless --fail-on-verdict: then any verdict but Pass exits 1.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout < 0 {
				return usageError(fmt.Errorf("--timeout %s: must not be negative", timeout))
			}
			data, err := readFile(file)
			if err != nil {
				return usageError(err)
			}
			m, err := runner.Parse(data, namespace)
			if err != nil || len(m.Engines) != 1 {
				return usageError(fmt.Errorf("%s: want exactly one ChaosEngine: %v", file, err))
			}
			log, err := logging.New(env.Stderr, "error", "console")
			if err != nil {
				return err
			}
			env.routeKlog(log)
			cfg, err := kube.RESTConfig(kube.Options{Kubeconfig: kubeconfig, ResponseTimeout: responseTimeout(timeout)})
			if err != nil {
				return err
			}
			clients, err := kube.NewClients(cfg)
			if err != nil {
				return err
			}
			verdict, err := bounded(cmd.Context(), timeout, func(ctx context.Context) (string, error) {
				return runner.Check(ctx, clients, m.Engines[0], env.Stdout, saveName)
			})
			if errors.Is(err, context.DeadlineExceeded) {
				return &ExitError{Code: ExitFailed, Err: fmt.Errorf("--timeout %s passed: %w", timeout, err)}
			}
			if err != nil {
				return err
			}
			if failOnVerdict && verdict != "Pass" {
				return &ExitError{Code: ExitFailed, Err: fmt.Errorf("verdict %s", verdict)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the ChaosEngine manifest (litmus-checker: -file)")
	cmd.Flags().StringVar(&saveName, "save-name", "", "write the engine's name to this file (litmus-checker: -saveName)")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file; empty: in-cluster")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace when the manifest names none")
	cmd.Flags().BoolVar(&failOnVerdict, "fail-on-verdict", false, "exit 1 unless the verdict is Pass")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up (exit 1) when the engine has not finished after this long (0: wait as long as it takes)")
	return cmd
}

// maxFileBytes bounds the manifest files `run` and `check` read: far above any real experiment,
// far below what would exhaust memory.
const maxFileBytes = 8 << 20

// readFile reads a manifest file (or stdin for "-"), refusing one larger than maxFileBytes.
func readFile(name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > maxFileBytes {
			return nil, fmt.Errorf("%s: %d bytes is larger than the limit of %d MiB", name, st.Size(), maxFileBytes>>20)
		}
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%s: larger than the limit of %d MiB", name, maxFileBytes>>20)
	}
	return b, nil
}

func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close() // the write error is the one to report
		return err
	}
	return f.Close()
}

// isTerminal reports whether w is a terminal (then `run` redraws a status line).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// splitList splits a comma-separated list, dropping empty entries.
func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
