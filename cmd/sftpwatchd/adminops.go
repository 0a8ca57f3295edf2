package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sftpwatchd/sftpwatchd/internal/admin"
	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/daemon"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// adminFlags are the flags every admin command shares.
type adminFlags struct {
	config configFlag
	watch  string
	json   bool
}

func (f *adminFlags) add(cmd *cobra.Command, watchHelp string, withJSON bool) {
	cmd.Flags().StringVarP(&f.config.path, "config", "c", "", "config file")
	if watchHelp != "" {
		cmd.Flags().StringVar(&f.watch, "watch", "", watchHelp)
		registerWatchCompletion(cmd, &f.config)
	}
	if withJSON {
		cmd.Flags().BoolVar(&f.json, "json", false, "print one JSON object per line")
	}
}

// adminSession is the admin operations of a command: the running daemon's
// over its socket, or the state dir's when no daemon runs.
type adminSession struct {
	ops     admin.Ops
	cfg     *config.Config
	running bool
	socket  string
	close   func()
}

// socketPath is where the daemon of cfg serves its admin API.
func socketPath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, admin.SocketName) }

// openAdmin loads the config and connects to the running daemon, or opens
// the state dir (taking its lock, as once does) when none answers.
func openAdmin(ctx context.Context, f *adminFlags, stderr io.Writer) (*adminSession, error) {
	cfg, err := f.config.load()
	if err != nil {
		return nil, err
	}
	sock := socketPath(cfg)
	if _, err := os.Stat(sock); err == nil {
		c := admin.NewClient(sock)
		if err := c.Ping(ctx, 2*time.Second); err == nil {
			return &adminSession{ops: c, cfg: cfg, running: true, socket: sock, close: func() {}}, nil
		}
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return nil, err
	}
	st, err := state.Open(cfg.StateDir, state.Options{Logger: log})
	if errors.Is(err, state.ErrLocked) {
		return nil, usageErr(fmt.Errorf("state dir %q is in use by another sftpwatchd process, but no daemon answers on %s: wait for that process (a once run?) to finish, or check that the running daemon uses this state_dir", cfg.StateDir, sock))
	}
	if err != nil {
		return nil, fmt.Errorf("open state dir %q: %w", cfg.StateDir, err)
	}
	return &adminSession{ops: daemon.LocalAdmin(cfg, st, log), cfg: cfg, socket: sock,
		close: func() { _ = st.Close() }}, nil
}

// adminRun is the RunE of an admin command: fn runs with the session of
// the command's flags open.
func adminRun(f *adminFlags, fn func(cmd *cobra.Command, s *adminSession, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, err := openAdmin(cmd.Context(), f, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		defer s.close()
		return fn(cmd, s, args)
	}
}

// adminErr gives an admin operation's error its exit code.
func adminErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, admin.ErrUsage) || errors.Is(err, admin.ErrNotFound) {
		return usageErr(err)
	}
	return err
}

// table writes aligned columns.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// timeCell renders a time for a table: RFC 3339 in UTC, "-" when unset.
func timeCell(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// textCell renders free text (an error) for a table: one line, "-" when
// empty.
func textCell(s string) string {
	if s == "" {
		return "-"
	}
	return displayPath(s)
}
