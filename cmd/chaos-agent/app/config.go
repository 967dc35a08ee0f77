package app

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chaos-agent/chaos-agent/internal/config"
)

// loadConfig completes cfg (bound to cmd's flags) from the environment and validates it.
func loadConfig(cmd *cobra.Command, env Env, cfg *config.Config) error {
	envErr := cfg.ApplyEnv(cmd.Flags(), env.LookupEnv)
	secretErr := cfg.LoadSecrets()
	if err := errors.Join(envErr, secretErr, cfg.Validate()); err != nil {
		return usageError(fmt.Errorf("invalid configuration: %w", err))
	}
	return nil
}

func newConfigCommand(env Env) *cobra.Command {
	cfg := config.Defaults()
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate and print the effective configuration (flags over environment over defaults; secrets masked)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := loadConfig(cmd, env, &cfg); err != nil {
				return err
			}
			_, err := fmt.Fprintln(env.Stdout, cfg.String())
			return err
		},
	}
	cfg.BindFlags(cmd.Flags())
	return cmd
}
