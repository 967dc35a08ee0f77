package agent

import (
	"context"

	"go.uber.org/zap"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/probes"
)

// probeRunner adapts package probes to the executor's ProbeRunner (neither package knows the
// other).
type probeRunner struct{ r *probes.Runner }

func newProbeRunner(clk clock.WithTicker, log *zap.Logger, registry string, pullSecrets []string) executor.ProbeRunner {
	return probeRunner{r: probes.NewRunner(probes.Options{Clock: clk, Log: log, ImageRegistry: registry, ImagePullSecrets: pullSecrets})}
}

// NewProbeRunner returns the probe runner the agent gives its executor (for other front ends,
// such as `chaos-agent run`). A non-empty registry points cmdProbe source pods' images at it;
// pullSecrets are added to those pods.
func NewProbeRunner(clk clock.WithTicker, log *zap.Logger, registry string, pullSecrets []string) executor.ProbeRunner {
	return newProbeRunner(clk, log, registry, pullSecrets)
}

func (p probeRunner) Start(ctx context.Context, run executor.ProbeRun) (executor.ProbeSession, error) {
	s, err := p.r.Start(ctx, probes.Run{
		Probes: run.Probes, Namespace: run.Namespace, Engine: run.Engine, EngineUID: run.EngineUID,
		Experiment: run.Experiment, RunID: run.RunID, ChaosDuration: run.ChaosDuration,
		StatusCheckDelay: run.StatusCheckDelay, StatusCheckTimeout: run.StatusCheckTimeout,
		Kube: run.Kube, Dynamic: run.Dynamic, RESTConfig: run.RESTConfig, ServiceAccount: run.ServiceAccount,
		Stop: run.Stop,
	})
	if err != nil {
		return nil, err
	}
	return probeSession{s}, nil
}

type probeSession struct{ *probes.Session }

func (s probeSession) Result() executor.ProbeResult {
	r := s.Session.Result()
	return executor.ProbeResult{Statuses: r.Statuses, Passed: r.Passed, StoppedByProbe: r.StoppedByProbe}
}
