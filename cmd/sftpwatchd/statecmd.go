package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

func newStateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state reset|prune|backup",
		Short: "Reset a watch's snapshot, prune unconfigured watches, back up the state",
		Long: `state works on the state dir, through the running daemon when one runs:

  reset --watch NAME [--emit]   forget the watch's snapshot (its outbox and dead letters stay):
                                its next scan is a first scan, silent or, with --emit, a create
                                for every entry (whatever the watch's initial says)
  prune                         remove the state of watches no longer in the config
  backup FILE                   a consistent copy of the state file, also while the daemon runs

Exit codes: 0 done; 1 runtime failure; 2 usage or configuration error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr(fmt.Errorf("state: name a subcommand: reset, prune or backup"))
		},
	}
	cmd.AddCommand(newStateReset(), newStatePrune(), newStateBackup())
	return cmd
}

func newStateReset() *cobra.Command {
	var (
		f    adminFlags
		emit bool
	)
	cmd := &cobra.Command{
		Use:   "reset --watch NAME [--emit]",
		Short: "Forget a watch's snapshot: its next scan is a first scan",
		Args:  cobra.NoArgs,
		RunE: adminRun(&f, func(cmd *cobra.Command, s *adminSession, _ []string) error {
			if err := s.ops.Reset(cmd.Context(), f.watch, emit); err != nil {
				return adminErr(err)
			}
			what := "a silent baseline"
			if emit {
				what = "a create for every entry"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "watch %s reset: its next scan is a first scan with %s\n", f.watch, what)
			return nil
		}),
	}
	f.add(cmd, "the watch to reset (required)", false)
	cmd.Flags().BoolVar(&emit, "emit", false, "the first scan emits a create for every entry")
	_ = cmd.MarkFlagRequired("watch")
	return cmd
}

func newStatePrune() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove the state of watches no longer in the config",
		Args:  cobra.NoArgs,
		RunE: adminRun(&f, func(cmd *cobra.Command, s *adminSession, _ []string) error {
			keep := make([]string, 0, len(s.cfg.Watches))
			for _, w := range s.cfg.Watches {
				keep = append(keep, w.Name)
			}
			pruned, err := s.ops.Prune(cmd.Context(), keep)
			if err != nil {
				return adminErr(err)
			}
			if len(pruned) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to prune: every watch with state is configured")
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed the state of %d watches: %s\n", len(pruned), strings.Join(pruned, " "))
			return nil
		}),
	}
	f.add(cmd, "", false)
	return cmd
}

func newStateBackup() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the state file to FILE",
		Long: `backup writes a consistent copy of the state file (one read transaction,
while commits go on) to FILE: through a temporary file beside it, fsynced and
renamed into place. To restore, stop the daemon and put the copy at
state_dir/state.db.`,
		Args: cobra.ExactArgs(1),
		RunE: adminRun(&f, func(cmd *cobra.Command, s *adminSession, args []string) error {
			file, err := filepath.Abs(args[0])
			if err != nil {
				return usageErr(err)
			}
			if file == filepath.Join(s.cfg.StateDir, state.FileName) {
				return usageErr(fmt.Errorf("state backup %s: that is the state file itself; name another file", args[0]))
			}
			err = state.WriteFile(file, func(w io.Writer) error { return s.ops.Backup(cmd.Context(), w) })
			if err != nil {
				return adminErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "state of %s backed up to %s\n", s.cfg.StateDir, file)
			return nil
		}),
	}
	f.add(cmd, "", false)
	return cmd
}
