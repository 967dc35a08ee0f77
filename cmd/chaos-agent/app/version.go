package app

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chaos-agent/chaos-agent/internal/version"
)

func newVersionCommand(env Env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			info := version.Get()
			switch output {
			case "":
				_, err := fmt.Fprintln(env.Stdout, info.String())
				return err
			case "json":
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			default:
				return usageError(fmt.Errorf("--output %q: want json or nothing", output))
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}
