package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/daemon"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

type lsOptions struct {
	config configFlag
	watch  string
	json   bool
}

func newLsCommand() *cobra.Command {
	var o lsOptions
	cmd := &cobra.Command{
		Use:   "ls --watch NAME [--json]",
		Short: "Scan a watch once and print what it sees after its filters",
		Long: `ls scans the watch's remote tree once and prints every entry that passes
the watch's filters (include, exclude, types, max_depth, follow_symlinks), one
per line as "type size mtime rel_path", or as JSON lines with --json. Names
holding control characters are printed Go-quoted. In JSON, a name that is
not UTF-8 also has its exact bytes in rel_path_b64 (link_b64 for a link
target), standard base64. No state is changed.

Exit codes: 0 listed (completely); 1 the scan failed or was partial
(directories that could not be listed are named on stderr); 2 usage or
configuration error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLs(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVarP(&o.config.path, "config", "c", "", "config file")
	cmd.Flags().StringVar(&o.watch, "watch", "", "name of the watch to list (required)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON lines")
	_ = cmd.MarkFlagRequired("watch")
	registerWatchCompletion(cmd, &o.config)
	return cmd
}

// lsEntry is one line of ls --json. A rel_path or link that is not UTF-8
// (shown with U+FFFD in JSON) has its exact bytes in the _b64 companion, as
// events have (event.B64).
type lsEntry struct {
	Type       string    `json:"type"`
	Size       int64     `json:"size"`
	MTime      time.Time `json:"mtime"`
	Mode       string    `json:"mode"`
	RelPath    string    `json:"rel_path"`
	Link       string    `json:"link,omitempty"`
	RelPathB64 string    `json:"rel_path_b64,omitempty"`
	LinkB64    string    `json:"link_b64,omitempty"`
}

func runLs(ctx context.Context, o lsOptions, stdout, stderr io.Writer) error {
	cfg, err := o.config.load()
	if err != nil {
		return err
	}
	ws, err := selectWatches(cfg, []string{o.watch})
	if err != nil {
		return err
	}
	w := ws[0]
	prog := newProgress(stderr)
	log, err := newInteractiveLogger(cfg.Log, prog)
	if err != nil {
		return err
	}
	pool := sftpconn.NewPool(daemon.HostConfig(cfg.HostFor(&w)), log.With(zap.String("host", w.Host)), nil)
	defer pool.Close()

	lister, err := poller.NewLister(w.Lister, daemon.ExplainingDoer(pool, cfg.HostFor(&w)), cfg.HostFor(&w).MaxConcurrentRequests)
	if err != nil {
		return err
	}
	out, err := poller.Scan(ctx, lister, w, func(dirs, entries int) {
		prog.printf("%s: %d directories listed, %d entries seen", w.Name, dirs, entries)
	})
	prog.done()
	if err != nil {
		var he *daemon.HostError
		if errors.As(err, &he) {
			return fmt.Errorf("watch %q: %w", w.Name, he)
		}
		return fmt.Errorf("watch %q on host %q: %w", w.Name, w.Host, err)
	}
	rels := make([]string, 0, len(out.Scan.Entries))
	for rel := range out.Scan.Entries {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	enc := json.NewEncoder(stdout)
	for _, rel := range rels {
		e := out.Scan.Entries[rel]
		le := lsEntry{Type: e.Type.String(), Size: e.Size, MTime: time.Unix(e.MTime, 0).UTC(),
			Mode: fmt.Sprintf("%04o", e.Mode&0o7777), RelPath: rel, Link: e.Link,
			RelPathB64: event.B64(rel), LinkB64: event.B64(e.Link)}
		if o.json {
			if err := enc.Encode(le); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "%s %d %s %s\n", le.Type, le.Size, le.MTime.Format(time.RFC3339), displayPath(rel))
	}
	if len(out.DirErrors) > 0 {
		for _, d := range out.DirErrors {
			fmt.Fprintf(stderr, "sftpwatchd: could not list %s: %v\n", displayPath(path.Join(w.Path, d.Dir)), d.Err)
		}
		return fmt.Errorf("watch %q: listing is partial: %d directories could not be listed", w.Name, len(out.DirErrors))
	}
	return nil
}
