package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/daemon"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
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
on the path (the root alone) to show that the server runs it.

Exit codes: 0 all good; 1 a host or path failed the --connect checks;
2 the config is invalid (every problem listed on stderr).`,
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
	fmt.Fprintf(stdout, "%s: ok (%d hosts, %d watches)\n", cfg.File, len(cfg.Hosts), len(cfg.Watches))
	if !o.connect {
		return nil
	}
	log, err := newInteractiveLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	prog := newProgress(stderr)
	defer prog.done()

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

	var failed []error
	for _, name := range hosts {
		h := cfg.Hosts[name]
		prog.printf("dialling host %q (%s)", name, h.Address)
		c, err := sftpconn.Dial(ctx, daemon.HostConfig(h), log.With(zap.String("host", name)))
		if err != nil {
			prog.done()
			fmt.Fprintf(stderr, "sftpwatchd: %v\n", err)
			failed = append(failed, err)
			continue
		}
		fmt.Fprintf(stdout, "host %q (%s): ok\n", name, h.Address)
		for _, w := range used[name] {
			prog.printf("checking %s:%s", name, w.Path)
			err := checkWatchPath(ctx, c, w)
			prog.done()
			if err != nil {
				fmt.Fprintf(stderr, "sftpwatchd: %v\n", err)
				failed = append(failed, err)
				continue
			}
			fmt.Fprintf(stdout, "watch %q (%s:%s): ok\n", w.Name, name, w.Path)
		}
		_ = c.Close()
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
		if err := sftpconn.FindProbe(ctx, c, w.Path); err != nil {
			return fmt.Errorf("watches %q: lister: find cannot list path %q on host %q: %w", w.Name, w.Path, w.Host, err)
		}
	}
	return nil
}
