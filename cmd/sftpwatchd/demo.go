package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/findlist"
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
files appear, change and vanish there. It prints ready command lines for
OpenSSH's sftp and scp and for lftp, with a client key and a known_hosts file
it writes beside DIR (DIR.id_ed25519, DIR.known_hosts, mode 0600; removed
when it stops). Ctrl-C stops it. The temporary directory it made is removed
when it stops, with what was dropped there; a --dir is never removed.

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
	temporary := dir == ""
	if temporary {
		d, err := os.MkdirTemp("", "sftpwatchd-demo-")
		if err != nil {
			return fmt.Errorf("create demo directory: %w", err)
		}
		dir = d
		// The demo made it, so the demo removes it, with what was dropped
		// there; a --dir the user gave is never removed.
		defer os.RemoveAll(d)
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
	clientPub, clientKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generate the demo client key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		return fmt.Errorf("demo client key: %w", err)
	}
	srv, err := sftpserver.Start(sftpserver.Options{
		Root: dir, Addr: "127.0.0.1:0", User: demoUser, Password: password,
		AuthorizedKeys: []ssh.PublicKey{sshPub}, Logger: zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("start the embedded SFTP server: %w", err)
	}
	defer srv.Close()
	login, err := writeDemoLogin(dir, srv, clientKey)
	if err != nil {
		return err
	}
	defer login.remove()

	// The demo's config goes through the same loader, defaults and
	// validation as a real one. The host key is pinned, never ignored.
	yaml := fmt.Sprintf(`
state_dir: %q
log: {level: info, format: console}
http: {listen: ""}
hosts:
  demo:
    address: %q
    user: %s
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
`, stateDir, srv.Addr(), demoUser, password, srv.Fingerprint())
	cfg, err := config.Parse([]byte(yaml), "demo")
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	log, err := newLogger(cfg.Log, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sftpwatchd demo: serving %s over SFTP at %s\n", dir, srv.Addr())
	fmt.Fprintf(stdout, "Log in with a real client (key and known_hosts written beside the directory, removed on exit):\n")
	for _, line := range login.commands(srv.Addr()) {
		fmt.Fprintf(stdout, "  %s\n", line)
	}
	fmt.Fprintf(stdout, "Drop files into %s — events appear below once a file has settled (1s). Ctrl-C stops.\n", dir)
	if temporary {
		fmt.Fprintf(stdout, "%s is a temporary directory: it is removed, with what is in it, when the demo stops (give --dir to keep one).\n", dir)
	}
	return serve(ctx, cfg, log, nil)
}

// demoUser is the user name the demo's server accepts.
const demoUser = "demo"

// demoLogin is what a real SSH client needs to log in to the demo's
// server: a private key and a known_hosts file, written beside the drop
// directory (not in it: the watch would report them), both 0600.
type demoLogin struct {
	keyFile, knownHosts string
}

// writeDemoLogin writes the client key and the server's known_hosts line
// beside dir, as DIR.id_ed25519 and DIR.known_hosts.
func writeDemoLogin(dir string, srv *sftpserver.Server, key ed25519.PrivateKey) (demoLogin, error) {
	l := demoLogin{keyFile: dir + ".id_ed25519", knownHosts: dir + ".known_hosts"}
	block, err := ssh.MarshalPrivateKey(key, "sftpwatchd demo")
	if err != nil {
		return l, fmt.Errorf("demo client key: %w", err)
	}
	hosts := knownhosts.Line([]string{knownhosts.Normalize(srv.Addr())}, srv.HostKey()) + "\n"
	for _, f := range []struct {
		path string
		data []byte
	}{{l.keyFile, pem.EncodeToMemory(block)}, {l.knownHosts, []byte(hosts)}} {
		if err := writeNew0600(f.path, f.data); err != nil {
			l.remove()
			return demoLogin{}, fmt.Errorf("write the demo login file %q: %w", f.path, err)
		}
	}
	return l, nil
}

// writeNew0600 creates path (replacing a file a killed demo left) with
// mode 0600 whatever the umask, and writes data.
func writeNew0600(path string, data []byte) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (l demoLogin) remove() {
	for _, p := range []string{l.keyFile, l.knownHosts} {
		if p != "" {
			_ = os.Remove(p)
		}
	}
}

// commands are ready command lines for OpenSSH's sftp and scp and for
// lftp, logging in to the server at addr as demoUser. LOCALFILE is the
// file scp uploads.
func (l demoLogin) commands(addr string) []string {
	host, port, _ := net.SplitHostPort(addr)
	opts := fmt.Sprintf("-i %s -o UserKnownHostsFile=%s -o IdentitiesOnly=yes", shellArg(l.keyFile), shellArg(l.knownHosts))
	lftpSSH := fmt.Sprintf("ssh -a -x -i %s -o UserKnownHostsFile=%s -o IdentitiesOnly=yes", l.keyFile, l.knownHosts)
	return []string{
		fmt.Sprintf("sftp -P %s %s %s@%s", port, opts, demoUser, host),
		fmt.Sprintf("scp -P %s %s LOCALFILE %s@%s:/", port, opts, demoUser, host),
		fmt.Sprintf("lftp -u %s, -e %s sftp://%s", demoUser,
			findlist.ShellQuote(fmt.Sprintf("set sftp:connect-program %q", lftpSSH)), net.JoinHostPort(host, port)),
	}
}

// shellArg is s as one word for a POSIX shell: as it is when it holds
// nothing a shell would interpret, else quoted.
func shellArg(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@,") == "" {
		return s
	}
	return findlist.ShellQuote(s)
}
