package app

import (
	"runtime/debug"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/chaos-agent/chaos-agent/agent"
	"github.com/chaos-agent/chaos-agent/internal/config"
	"github.com/chaos-agent/chaos-agent/internal/logging"
)

// agentGOGC is serve's GC target percentage unless GOGC is set.
const agentGOGC = 50

func newServeCommand(env Env) *cobra.Command {
	cfg := config.Defaults()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the agent in the cluster (without --server-addr: a stand-alone chaos operator for ChaosEngines)",
		Long: "serve runs chaos-agent as the in-cluster component. With a control-plane address it links to the\n" +
			"control plane; without one it is a stand-alone chaos operator: ChaosEngines applied with kubectl or a\n" +
			"GitOps tool are executed, with metrics and health endpoints.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := loadConfig(cmd, env, &cfg); err != nil {
				return err
			}
			log, err := logging.New(env.Stderr, cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return usageError(err)
			}
			defer func() { _ = log.Sync() }()
			env.routeKlog(log) // client-go's own messages: the same JSON log
			if _, ok := env.LookupEnv("GOGC"); !ok {
				// The agent's live heap is mostly caches that change slowly: collect at half the
				// heap's growth rather than Go's default doubling (the environment's GOGC wins).
				debug.SetGCPercent(agentGOGC)
			}
			log.Info("chaos-agent starting", zap.String("config", cfg.String()))
			return agent.New(cfg, log).Run(cmd.Context())
		},
	}
	cfg.BindFlags(cmd.Flags())
	return cmd
}
