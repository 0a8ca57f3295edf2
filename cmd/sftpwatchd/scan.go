package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newScanCommand() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "scan --watch NAME",
		Short: "Make the running daemon scan a watch now",
		Long: `scan asks the running daemon to scan the watch now instead of at its next
interval (also POST /api/v1/watches/NAME/scan on http.listen with
http.admin_token_file). It returns once the scan is requested.

Exit codes: 0 requested; 1 no daemon runs (use once --watch NAME); 2 usage
or configuration error.`,
		Args: cobra.NoArgs,
		RunE: adminRun(&f, func(cmd *cobra.Command, s *adminSession, _ []string) error {
			if err := s.ops.Scan(cmd.Context(), f.watch); err != nil {
				return adminErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "scan of watch %s requested\n", f.watch)
			return nil
		}),
	}
	f.add(cmd, "the watch to scan (required)", false)
	_ = cmd.MarkFlagRequired("watch")
	return cmd
}
