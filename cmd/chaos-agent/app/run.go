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
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/agent"
	"github.com/chaos-agent/chaos-agent/internal/imageref"
	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/logging"
	"github.com/chaos-agent/chaos-agent/runner"
)

type runFlags struct {
	file, kubeconfig, namespace, junit, output string
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
	fl.Float64Var(&f.minScore, "min-score", 0, "fail (exit 1) when the resilience score is below this")
	fl.StringVar(&f.junit, "junit", "", "write JUnit XML here (one test case per fault and per probe)")
	fl.StringVarP(&f.output, "output", "o", f.output, "table or json")
	fl.BoolVar(&f.dryRun, "dry-run", false, "select and show victims without deleting; list the probes without running them")
	fl.DurationVar(&f.timeout, "timeout", f.timeout, "stop the chaos after this long")
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
	cfg, err := kube.RESTConfig(kube.Options{Kubeconfig: f.kubeconfig})
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
	res, runErr := runner.Run(ctx, m, runner.Options{
		Clients: clients, Argo: argo, Impersonating: kube.NewServiceAccountClients(cfg), Probes: agent.NewProbeRunner(clock.RealClock{}, log, f.imageRegistry, splitList(f.imagePullSecrets)),
		DryRun: f.dryRun, Timeout: f.timeout, Progress: env.Stderr, TTY: isTerminal(env.Stderr), Log: log,
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

func newCheckCommand(env Env) *cobra.Command {
	var file, kubeconfig, namespace, saveName string
	var failOnVerdict bool
	cmd := &cobra.Command{
		Use:   "check -f engine.yaml",
		Short: "Create one ChaosEngine and wait for it to finish (a drop-in for the Argo step's litmus-checker)",
		Long: "check creates the ChaosEngine of FILE (generateName allowed), prints \"ChaosEngine Name : <name>\", and waits\n" +
			"until the in-cluster agent has completed or stopped it. Like litmus-checker it exits 0 whatever the\n" +
			"verdict, unless --fail-on-verdict: then any verdict but Pass exits 1.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := readFile(file)
			if err != nil {
				return usageError(err)
			}
			m, err := runner.Parse(data, namespace)
			if err != nil || len(m.Engines) != 1 {
				return usageError(fmt.Errorf("%s: want exactly one ChaosEngine: %v", file, err))
			}
			cfg, err := kube.RESTConfig(kube.Options{Kubeconfig: kubeconfig})
			if err != nil {
				return err
			}
			clients, err := kube.NewClients(cfg)
			if err != nil {
				return err
			}
			verdict, err := runner.Check(cmd.Context(), clients, m.Engines[0], env.Stdout, saveName)
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
	return cmd
}

func readFile(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(name)
}

func writeFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
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
