package main

import (
	"strings"

	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "sftpwatchd",
		Short: "Watch directory trees on SFTP servers and turn changes into actions",
		Long: `sftpwatchd scans remote directory trees over SFTP, diffs each scan against the
state it stored, and turns the difference into create/modify/delete/rename
events that run through a chain of actions (download, exec, webhook, move,
delete, log) with retries and a dead-letter store.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Version = versionLine()
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.AddCommand(
		newRunCommand(),
		newOnceCommand(),
		newLsCommand(),
		newCheckCommand(),
		newDemoCommand(),
		newConfigCommand(),
		newVersionCommand(),
		newStatusCommand(),
		newPendingCommand(),
		newDeadLettersCommand(),
		newScanCommand(),
		newStateCommand(),
	)
	return root
}

// isFlagError recognises cobra's argument errors, which do not pass through
// the flag error func ("unknown command", "accepts N arg(s)").
func isFlagError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.Contains(msg, "arg(s)") ||
		strings.HasPrefix(msg, "unknown flag") || strings.HasPrefix(msg, "required flag")
}
