package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sftpwatchd/sftpwatchd/internal/admin"
)

func newDeadLettersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deadletters list|show|retry|discard",
		Short: "List, show, redeliver or discard the events that gave up",
		Long: `deadletters works on the dead-letter store: events whose chain of actions
gave up (out of attempts, or a permanent failure).

  list [--watch NAME] [--json]                        what gave up, with the step, attempts and reason
  show ID [--json]                                    one of them
  retry (ID...|--all) [--watch NAME] [--from-start]   back to the outbox with the same id, from the step
                                                      that failed (or the first); a running daemon
                                                      delivers it at once
  discard (ID...|--all) [--watch NAME]                drop them (logged)

Exit codes: 0 done; 1 runtime failure; 2 usage or configuration error, or an
ID that is no dead letter.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr(fmt.Errorf("deadletters: name a subcommand: list, show, retry or discard"))
		},
	}
	cmd.AddCommand(newDeadLettersList(), newDeadLettersShow(), newDeadLettersChange("retry"), newDeadLettersChange("discard"))
	return cmd
}

func newDeadLettersList() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "list [--watch NAME] [--json]",
		Short: "List the dead letters",
		Args:  cobra.NoArgs,
		RunE: adminRun(&f, func(cmd *cobra.Command, s *adminSession, _ []string) error {
			dead, err := s.ops.DeadLetters(cmd.Context(), f.watch)
			if err != nil {
				return adminErr(err)
			}
			out := cmd.OutOrStdout()
			if f.json {
				return encodeLines(out, dead)
			}
			tw := table(out)
			fmt.Fprintln(tw, "ID\tTYPE\tSTEP\tATTEMPTS\tPATH\tREASON")
			for _, d := range dead {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Type, textCell(d.Step), d.Attempts,
					displayPath(d.Path), textCell(d.Reason))
			}
			return tw.Flush()
		}),
	}
	f.add(cmd, "list only this watch's dead letters", true)
	return cmd
}

func newDeadLettersShow() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one dead letter",
		Args:  cobra.ExactArgs(1),
		RunE: adminRun(&f, func(cmd *cobra.Command, s *adminSession, args []string) error {
			dead, err := s.ops.DeadLetters(cmd.Context(), "")
			if err != nil {
				return adminErr(err)
			}
			for _, d := range dead {
				if d.ID != args[0] {
					continue
				}
				if f.json {
					return encodeLines(cmd.OutOrStdout(), []admin.DeadLetter{d})
				}
				tw := table(cmd.OutOrStdout())
				for _, kv := range [][2]string{{"id", d.ID}, {"watch", d.Watch}, {"type", d.Type}, {"path", displayPath(d.Path)},
					{"rel_path", displayPath(d.RelPath)}, {"step", textCell(d.Step)}, {"attempts", fmt.Sprint(d.Attempts)},
					{"reason", textCell(d.Reason)}} {
					fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
				}
				return tw.Flush()
			}
			return usageErr(fmt.Errorf("event %q is not in the dead-letter store of %s (see deadletters list)", args[0], s.cfg.StateDir))
		}),
	}
	f.add(cmd, "", true)
	return cmd
}

// newDeadLettersChange is retry or discard.
func newDeadLettersChange(op string) *cobra.Command {
	var (
		f         adminFlags
		all       bool
		fromStart bool
	)
	short := "Put dead letters back in the outbox with the same id"
	if op == "discard" {
		short = "Drop dead letters"
	}
	cmd := &cobra.Command{
		Use:   op + " (ID...|--all) [--watch NAME]",
		Short: short,
		PreRunE: func(_ *cobra.Command, args []string) error {
			if all == (len(args) > 0) {
				return usageErr(fmt.Errorf("deadletters %s: name dead letters by ID or with --all (not both)", op))
			}
			return nil
		},
		RunE: adminRun(&f, func(cmd *cobra.Command, s *adminSession, args []string) error {
			var err error
			sel := admin.Selection{IDs: args, All: all, Watch: f.watch}
			var ids []string
			if op == "retry" {
				ids, err = s.ops.Retry(cmd.Context(), sel, fromStart)
			} else {
				ids, err = s.ops.Discard(cmd.Context(), sel)
			}
			if len(ids) > 0 {
				verb := map[string]string{"retry": "retried", "discard": "discarded"}[op]
				fmt.Fprintf(cmd.OutOrStdout(), "%s %d dead letters: %s\n", verb, len(ids), strings.Join(ids, " "))
			} else if err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "no dead letters")
			}
			return adminErr(err)
		}),
	}
	f.add(cmd, "only this watch's dead letters", false)
	cmd.Flags().BoolVar(&all, "all", false, "every dead letter (of --watch)")
	if op == "retry" {
		cmd.Flags().BoolVar(&fromStart, "from-start", false, "run the whole chain again, not only from the step that failed")
	}
	return cmd
}

// encodeLines prints one JSON object per line.
func encodeLines[T any](w io.Writer, lines []T) error {
	enc := json.NewEncoder(w)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	return nil
}
