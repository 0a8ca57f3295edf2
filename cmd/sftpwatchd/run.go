package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/admin"
	"github.com/sftpwatchd/sftpwatchd/internal/config"
	sdaemon "github.com/sftpwatchd/sftpwatchd/internal/daemon"
	"github.com/sftpwatchd/sftpwatchd/internal/httpapi"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

type runOptions struct {
	config configFlag
}

func newRunCommand() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: scan every watch forever, deliver events, serve HTTP",
		Long: `run scans every watch on its interval, commits each scan's changes and events
to the state dir, delivers events through each watch's actions, and serves
/metrics, /healthz and /readyz on http.listen.

Signals: SIGTERM/SIGINT stop scanning, let in-flight actions finish for up to
shutdown_timeout, persist and exit 0. SIGHUP reloads the config: added,
removed and changed watches take effect; an invalid config is logged and the
old one kept. Under systemd (Type=notify) it sends READY=1, STOPPING=1 and
watchdog pings.

Exit codes: 0 stopped by a signal; 1 runtime failure (e.g. http.listen in
use); 2 invalid config, or the state dir is in use by another process.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.config.load()
			if err != nil {
				return err
			}
			log, err := newLogger(cfg.Log, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer log.Sync() //nolint:errcheck // stderr
			return serve(cmd.Context(), cfg, log, o.config.load)
		},
	}
	cmd.Flags().StringVarP(&o.config.path, "config", "c", "", "config file")
	return cmd
}

// openStore opens the state dir; another process holding it is exit 2.
func openStore(dir string, log *zap.Logger) (*state.Store, error) {
	st, err := state.Open(dir, state.Options{Logger: log})
	if errors.Is(err, state.ErrLocked) {
		return nil, usageErr(err)
	}
	if err != nil {
		return nil, fmt.Errorf("open state dir %q: %w", dir, err)
	}
	return st, nil
}

// serve runs the daemon for cfg until ctx is done. reload, when not nil, is
// called on SIGHUP for the new config.
func serve(ctx context.Context, cfg *config.Config, log *zap.Logger, reload func() (*config.Config, error)) error {
	store, err := openStore(cfg.StateDir, log)
	if err != nil {
		return err
	}
	defer store.Close()

	reg, m := httpapi.NewRegistry(version)
	m.InitReloads()
	tracker := httpapi.NewTracker(time.Now)
	d := sdaemon.New(sdaemon.Deps{
		Store: store, Logger: log, Metrics: m, Version: version,
		OnScan: func(w, result string) { tracker.ScanFinished(w, result, time.Now()) },
	})
	ops := d.Admin()
	access := admin.ReadOnly
	if cfg.HTTP.AdminToken != "" {
		access = admin.Token
	}
	srv := httpapi.New(httpapi.Options{Listen: cfg.HTTP.Listen, Registry: reg, Readiness: tracker, Logger: log,
		API:    admin.NewHandler(ops, admin.HandlerOptions{Access: access, Token: cfg.HTTP.AdminToken, Logger: log}),
		Status: func(ctx context.Context) (admin.Status, error) { return ops.Status(ctx, "") }})
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	trackWatches := func(old, cur *config.Config) {
		keep := map[string]bool{}
		for _, w := range cur.Watches {
			keep[w.Name] = true
			tracker.SetWatch(w.Name, w.Interval)
		}
		if old != nil {
			for _, w := range old.Watches {
				if !keep[w.Name] {
					tracker.RemoveWatch(w.Name)
				}
			}
		}
	}
	trackWatches(nil, cfg)
	if err := d.Start(cfg); err != nil {
		return usageErr(err)
	}
	sock, err := admin.Serve(socketPath(cfg), admin.NewHandler(ops, admin.HandlerOptions{Access: admin.Full, Logger: log}), log)
	if err != nil {
		d.Stop()
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sock.Close(sctx)
	}()
	log.Info("sftpwatchd running", zap.String("version", version), zap.String("config", cfg.File),
		zap.String("state_dir", cfg.StateDir), zap.String("admin_socket", sock.Path()), zap.String("http", srv.Addr()), zap.Int("watches", len(cfg.Watches)))
	_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)

	var watchdog <-chan time.Time
	if iv, err := daemon.SdWatchdogEnabled(false); err == nil && iv > 0 {
		t := time.NewTicker(iv / 2)
		defer t.Stop()
		watchdog = t.C
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	for {
		select {
		case <-ctx.Done():
			log.Info("stopping: finishing in-flight actions", zap.Duration("shutdown_timeout", cfg.ShutdownTimeout))
			_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
			d.Stop()
			log.Info("stopped")
			return nil
		case <-watchdog:
			_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
		case <-hup:
			if reload == nil {
				continue
			}
			_, _ = daemon.SdNotify(false, daemon.SdNotifyReloading)
			next, err := reload()
			if err == nil {
				for _, w := range restartOnly(cfg, next) {
					log.Warn("reload: setting changed that takes effect only after a restart", zap.String("key", w))
				}
				err = d.Apply(next)
			}
			if err != nil {
				m.Reloaded(metrics.ReloadError)
				log.Error("reload failed; keeping the running config", zap.Error(err))
			} else {
				m.Reloaded(metrics.ReloadOK)
				trackWatches(cfg, next)
				cfg = next
				log.Info("config reloaded", zap.Strings("watches", d.Watches()))
			}
			_, _ = daemon.SdNotify(false, daemon.SdNotifyReady)
		}
	}
}

// restartOnly names the settings that differ between cur and next but that
// only a restart applies (the state store and the HTTP listener stay as they
// are; the watches are reloaded).
func restartOnly(cur, next *config.Config) []string {
	var keys []string
	if cur.StateDir != next.StateDir {
		keys = append(keys, "state_dir")
	}
	if cur.HTTP.Listen != next.HTTP.Listen {
		keys = append(keys, "http.listen")
	}
	if cur.HTTP.AdminTokenFile != next.HTTP.AdminTokenFile || cur.HTTP.AdminToken != next.HTTP.AdminToken {
		keys = append(keys, "http.admin_token_file")
	}
	if cur.Log != next.Log {
		keys = append(keys, "log")
	}
	return keys
}
