package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
)

func newConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Tools for the config file",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "schema",
		Short: "Print a JSON Schema (2020-12) of the config file, for editors",
		Long: `schema prints a JSON Schema (draft 2020-12) of the config file on stdout:
every key with its type, the values of enumerations, the required keys and
the keys each action type takes; unknown keys are refused, as the loader
refuses them. Point an editor's YAML support at it, e.g. with a first line
# yaml-language-server: $schema=/etc/sftpwatchd/config.schema.json

Exit codes: 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := config.JSONSchema()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
			return err
		},
	})
	return cmd
}
