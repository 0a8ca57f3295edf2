package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/admin"
	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/daemon"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

type onceOptions struct {
	config  configFlag
	watches []string
	dryRun  bool
	json    bool
}

func newOnceCommand() *cobra.Command {
	var o onceOptions
	cmd := &cobra.Command{
		Use:   "once [--watch NAME]... [--dry-run] [--json]",
		Short: "Scan each (named) watch once, deliver the resulting events, and exit",
		Long: `once scans each watch (or only those named with --watch) once, commits the
changes and events to the state dir like run does, delivers every event in
the outbox through the watch's actions (with retries), and exits.

--dry-run prints the events a scan would emit and changes no state and runs
no action. --json prints events as JSON lines (the SPEC event format).

Exit codes: 0 every event delivered; 1 a scan failed or an event ended in
the dead-letter store; 2 usage or configuration error, or the state dir is
in use by another process.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runOnce(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVarP(&o.config.path, "config", "c", "", "config file")
	cmd.Flags().StringArrayVar(&o.watches, "watch", nil, "watch to scan (repeatable; default: all)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "print the events a scan would emit; change nothing")
	cmd.Flags().BoolVar(&o.json, "json", false, "print events as JSON lines")
	registerWatchCompletion(cmd, &o.config)
	return cmd
}

func runOnce(ctx context.Context, o onceOptions, stdout, stderr io.Writer) error {
	cfg, err := o.config.load()
	if err != nil {
		return err
	}
	watches, err := selectWatches(cfg, o.watches)
	if err != nil {
		return err
	}
	prog := newProgress(stderr)
	defer prog.done()
	log, err := newLogger(cfg.Log, prog)
	if err != nil {
		return err
	}
	stateDir := cfg.StateDir
	if _, err := os.Stat(filepath.Join(stateDir, state.FileName)); o.dryRun && errors.Is(err, fs.ErrNotExist) {
		// Nothing stored yet: a dry run must not create the state dir, so
		// it works on a throwaway store (what a first real run would see).
		tmp, err := os.MkdirTemp("", "sftpwatchd-dry-run-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		stateDir = tmp
	}
	store, err := openStore(stateDir, log)
	if o.dryRun && errors.Is(err, state.ErrLocked) {
		// A daemon holds the state: the dry run works on a consistent copy
		// of it, taken through the admin socket.
		store, err = daemonStateCopy(ctx, cfg, log)
	}
	if err != nil {
		return err
	}
	defer store.Close()

	enc := json.NewEncoder(stdout)
	emit := func(e event.Event) {
		prog.done()
		if o.json {
			_ = enc.Encode(e)
			return
		}
		fmt.Fprintln(stdout, formatEvent(e))
	}
	deps := daemon.Deps{Store: store, Logger: log, Version: version,
		ScanProgress: func(w string, dirs, entries int) {
			prog.printf("%s: %d directories listed, %d entries seen", w, dirs, entries)
		}}
	res, err := daemon.Once(ctx, cfg, watches, o.dryRun, deps, emit, func(s string) { prog.printf("%s", s) })
	prog.done()
	for _, s := range res.Watches {
		fmt.Fprintf(stderr, "sftpwatchd: %s\n", onceSummary(s, time.Now()))
	}
	if err != nil {
		return err
	}
	if res.Failed() {
		return fmt.Errorf("%d scans failed, %d events went to the dead-letter store (%d delivered)",
			res.ScanErrors, res.DeadLettered, res.Delivered)
	}
	return nil
}

// onceSummary is the closing line of once for one watch: what its scan
// found and what became of its events.
func onceSummary(s daemon.WatchSummary, now time.Time) string {
	var b strings.Builder
	b.WriteString("watch " + strconv.Quote(s.Watch) + ": ")
	switch {
	case s.Result == poller.ResultError:
		b.WriteString("scan failed: " + displayErr(s.Err).Error())
		if s.Delivered+s.Failed > 0 {
			fmt.Fprintf(&b, "; %s from earlier runs delivered (%d failed)", count(s.Delivered, "event"), s.Failed)
		}
		return b.String()
	case s.Baseline:
		fmt.Fprintf(&b, "baseline of %s recorded", count(s.Entries, "entry"))
	case s.DryRun:
		fmt.Fprintf(&b, "%s seen, %s would be emitted (dry run: nothing delivered)", count(s.Entries, "entry"), count(s.Events, "event"))
	default:
		fmt.Fprintf(&b, "%s seen, %s; %s delivered (%d failed", count(s.Entries, "entry"), count(s.Events, "new event"),
			count(s.Delivered, "event"), s.Failed)
		if s.Superseded > 0 {
			fmt.Fprintf(&b, ", %d superseded", s.Superseded)
		}
		b.WriteString(")")
	}
	if s.Result == poller.ResultPartial {
		b.WriteString("; the scan was partial (directories that could not be listed kept their state)")
	}
	if s.Settling > 0 {
		wait := max(s.SettleDue.Sub(now), 0).Round(time.Second)
		fmt.Fprintf(&b, "; %s still settling, due after %s (run once again then)", count(s.Settling, "entry"), wait)
	}
	return b.String()
}

// count is "1 entry", "2 entries", "0 events".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "y") {
		return strconv.Itoa(n) + " " + strings.TrimSuffix(noun, "y") + "ies"
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// displayErr is the error to show a user: when a host failure explained
// in the config's terms is in the chain, that sentence alone (it names the
// key, the host and the fix), else err.
func displayErr(err error) error {
	var he *daemon.HostError
	if errors.As(err, &he) {
		return he
	}
	return err
}

// daemonStateCopy opens a copy of the state of the daemon running on
// cfg's state dir, taken through its admin socket into a temporary dir
// that is removed when the store is closed.
func daemonStateCopy(ctx context.Context, cfg *config.Config, log *zap.Logger) (*state.Store, error) {
	sock := socketPath(cfg)
	c := admin.NewClient(sock)
	if err := c.Ping(ctx, 2*time.Second); err != nil {
		return nil, usageErr(fmt.Errorf("state dir %q is in use by another sftpwatchd process, and no daemon answers on %s for a copy of it: %w", cfg.StateDir, sock, err))
	}
	tmp, err := os.MkdirTemp("", "sftpwatchd-dry-run-")
	if err != nil {
		return nil, err
	}
	err = state.WriteFile(filepath.Join(tmp, state.FileName), func(w io.Writer) error { return c.Backup(ctx, w) })
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("copy the running daemon's state for the dry run: %w", err)
	}
	st, err := state.Open(tmp, state.Options{Logger: log})
	os.RemoveAll(tmp) // open: the file stays readable until closed
	if err != nil {
		return nil, fmt.Errorf("open the copy of the running daemon's state: %w", err)
	}
	return st, nil
}

// formatEvent renders an event as one readable line.
func formatEvent(e event.Event) string {
	s := fmt.Sprintf("%-6s %s", e.Type, displayPath(e.Path))
	switch e.Type {
	case event.Rename:
		s = fmt.Sprintf("%-6s %s -> %s", e.Type, displayPath(e.OldPath), displayPath(e.Path))
	case event.Delete:
		return fmt.Sprintf("%s  [%s %s]", s, e.Watch, e.ID)
	}
	return fmt.Sprintf("%s  (%s, %d bytes, mtime %s)  [%s %s]", s, e.EntryType, e.Size,
		e.MTime.Format(time.RFC3339), e.Watch, e.ID)
}
