package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpserver"
)

type demoOptions struct {
	dir string
}

func newDemoCommand() *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR]",
		Short: "Watch a local directory through an embedded SFTP server (no config, no server needed)",
		Long: `demo starts an embedded SFTP server on 127.0.0.1 serving DIR (a new temporary
directory by default) and a watch on it with a log action, through the real
SSH/SFTP client, scanner, state store and dispatcher, and prints events as
files appear, change and vanish there. Ctrl-C stops it.

Exit codes: 0 stopped with Ctrl-C; 1 the server or the daemon failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "directory to serve and watch (default: a new temporary directory)")
	return cmd
}

func runDemo(ctx context.Context, o demoOptions, stdout, stderr io.Writer) error {
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sftpwatchd-demo-")
		if err != nil {
			return fmt.Errorf("create demo directory: %w", err)
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--dir %q: %w", dir, err)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("--dir %q: %w", dir, err)
	}
	stateDir, err := os.MkdirTemp("", "sftpwatchd-demo-state-")
	if err != nil {
		return fmt.Errorf("create demo state directory: %w", err)
	}
	defer os.RemoveAll(stateDir)

	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	password := hex.EncodeToString(secret)
	srv, err := sftpserver.Start(sftpserver.Options{Root: dir, Addr: "127.0.0.1:0", User: "demo", Password: password, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("start the embedded SFTP server: %w", err)
	}
	defer srv.Close()

	// The demo's config goes through the same loader, defaults and
	// validation as a real one. The host key is pinned, never ignored.
	yaml := fmt.Sprintf(`
state_dir: %q
log: {level: info, format: console}
http: {listen: ""}
hosts:
  demo:
    address: %q
    user: demo
    password: %q
    host_key_fingerprint: %q
watches:
  - name: demo
    host: demo
    path: /
    interval: 1s
    settle: 1s
    initial: emit # a file dropped before the first scan finishes is still an event
    actions:
      - type: log
`, stateDir, srv.Addr(), password, srv.Fingerprint())
	cfg, err := config.Parse([]byte(yaml), "demo")
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	log, err := newLogger(cfg.Log, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sftpwatchd demo: serving %s over SFTP at %s\n", dir, srv.Addr())
	fmt.Fprintf(stdout, "Drop files into %s — events appear below once a file has settled (1s). Ctrl-C stops.\n", dir)
	return serve(ctx, cfg, log, nil)
}
