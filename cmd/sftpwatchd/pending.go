package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func newPendingCommand() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "pending [--watch NAME] [--json]",
		Short: "List the outbox: events not delivered yet",
		Long: `pending lists the events of the outbox in commit order: id, type, path, the
step (action type) it stands at, failed attempts of that step, and, from a
running daemon, when the next attempt is due and the last error.

Exit codes: 0 listed; 1 runtime failure; 2 usage or configuration error.`,
		Args: cobra.NoArgs,
		RunE: adminRun(&f, func(cmd *cobra.Command, s *adminSession, _ []string) error {
			items, err := s.ops.Pending(cmd.Context(), f.watch)
			if err != nil {
				return adminErr(err)
			}
			out := cmd.OutOrStdout()
			if f.json {
				enc := json.NewEncoder(out)
				for _, it := range items {
					if err := enc.Encode(it); err != nil {
						return err
					}
				}
				return nil
			}
			tw := table(out)
			fmt.Fprintln(tw, "ID\tTYPE\tSTEP\tATTEMPTS\tNEXT ATTEMPT\tPATH\tLAST ERROR")
			for _, it := range items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", it.ID, it.Type, textCell(it.Step), it.Attempts,
					timeCell(it.NextAttempt), displayPath(it.Path), textCell(it.LastError))
			}
			return tw.Flush()
		}),
	}
	f.add(cmd, "list only this watch's events", true)
	return cmd
}
