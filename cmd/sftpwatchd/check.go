package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/daemon"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/findlist"
)

type checkOptions struct {
	config  configFlag
	connect bool
}

func newCheckCommand() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check [--connect]",
		Short: "Validate the config; with --connect also dial every host and check every watch path",
		Long: `check loads and validates the config and lists every problem it finds, each
naming its key. With --connect it also dials every host used by a watch,
verifies its host key and authentication, and checks that every watch path
exists and is a directory; for a watch with lister: find it also runs find
on the path (the root alone) to show that the server runs it. It also checks
the local side of the actions: every exec program exists and is executable,
every download dest is (or can be created as) a writable directory, and every
webhook's host resolves and accepts a TCP connection (no request is sent).

Without --connect it also checks that the private key, known_hosts and
secret files the config names can be read, and reports state of watches
that are no longer configured (skipped while a daemon holds the state dir).

Exit codes: 0 all good; 1 a host, path or action failed the --connect
checks; 2 the config is invalid or names a file that cannot be read (every
problem listed on stderr).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVarP(&o.config.path, "config", "c", "", "config file")
	cmd.Flags().BoolVar(&o.connect, "connect", false, "also dial every host and check every watch path")
	return cmd
}

func runCheck(ctx context.Context, o checkOptions, stdout, stderr io.Writer) error {
	cfg, err := o.config.load()
	if err != nil {
		return err
	}
	if err := config.CheckFiles(cfg); err != nil {
		return usageErr(err)
	}
	fmt.Fprintf(stdout, "%s: ok (%d hosts, %d watches)\n", cfg.File, len(cfg.Hosts), len(cfg.Watches))
	switch left, err := leftoverWatches(cfg); {
	case errors.Is(err, errStateInUse):
		fmt.Fprintf(stdout, "state dir %s: in use by another process (a running daemon); the check for state of watches no longer configured was skipped\n", cfg.StateDir)
	case err != nil:
		fmt.Fprintf(stderr, "sftpwatchd: state_dir: %v\n", err)
	case len(left) > 0:
		fmt.Fprintf(stdout, "state dir %s holds state of watches no longer configured: %s (remove it with sftpwatchd state prune)\n",
			cfg.StateDir, strings.Join(left, ", "))
	}
	if !o.connect {
		return nil
	}
	prog := newProgress(stderr)
	defer prog.done()
	log, err := newInteractiveLogger(cfg.Log, prog)
	if err != nil {
		return err
	}
	// report prints one outcome line, below the progress line.
	var failed []error
	report := func(err error, format string, args ...any) {
		prog.done()
		if err != nil {
			fmt.Fprintf(stderr, "sftpwatchd: %v\n", err)
			failed = append(failed, err)
			return
		}
		fmt.Fprintf(stdout, format+"\n", args...)
	}

	// Every host a watch uses, in a stable order.
	used := map[string][]config.Watch{}
	for _, w := range cfg.Watches {
		used[w.Host] = append(used[w.Host], w)
	}
	hosts := make([]string, 0, len(used))
	for h := range used {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)

	for _, name := range hosts {
		h := cfg.Hosts[name]
		prog.printf("dialling host %q (%s)", name, h.Address)
		c, err := sftpconn.Dial(ctx, daemon.HostConfig(h), log.With(zap.String("host", name)))
		if err != nil {
			report(daemon.ExplainDial(h, err), "")
			continue
		}
		report(nil, "host %q (%s): ok", name, h.Address)
		for _, w := range used[name] {
			prog.printf("checking %s:%s", name, w.Path)
			err := checkWatchPath(ctx, c, w)
			report(err, "watch %q (%s:%s): ok", w.Name, name, w.Path)
		}
		_ = c.Close()
	}
	for _, w := range cfg.Watches {
		errs := checkLocalActions(ctx, w, func(s string) { prog.printf("%s", s) })
		for _, err := range errs {
			report(err, "")
		}
		if len(errs) == 0 && len(w.Actions) > 0 {
			report(nil, "watch %q: actions: ok (local side)", w.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of the --connect checks failed", len(failed))
	}
	return nil
}

func checkWatchPath(ctx context.Context, c *sftpconn.Client, w config.Watch) error {
	fi, err := c.Stat(ctx, w.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("watches %q: path %q does not exist on host %q", w.Name, w.Path, w.Host)
		}
		return fmt.Errorf("watches %q: path %q on host %q: %w", w.Name, w.Path, w.Host, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("watches %q: path %q on host %q is not a directory", w.Name, w.Path, w.Host)
	}
	if _, err := c.ReadDir(ctx, w.Path); err != nil {
		return fmt.Errorf("watches %q: path %q on host %q cannot be listed: %w", w.Name, w.Path, w.Host, err)
	}
	if w.Lister == config.ListerFind {
		if err := findlist.Probe(ctx, c, w.Path); err != nil {
			return fmt.Errorf("watches %q: lister: find cannot list path %q on host %q: %w", w.Name, w.Path, w.Host, err)
		}
	}
	return nil
}
