package findlist

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpserver"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// remoteFS is a server under test: the remote path Base is the local
// directory Local on this machine.
type remoteFS struct {
	C     *sftpconn.Client
	Base  string
	Local string
}

func (r remoteFS) local(rel string) string { return filepath.Join(r.Local, filepath.FromSlash(rel)) }

func (r remoteFS) remote(rel string) string {
	if r.Base == "/" {
		return "/" + rel
	}
	return r.Base + "/" + rel
}

// inProcessFS is the embedded server (no exec: find cannot run there).
func inProcessFS(t *testing.T) remoteFS {
	t.Helper()
	const user, pass = "watcher", "pass word"
	root := t.TempDir()
	s, err := sftpserver.Start(sftpserver.Options{Root: root, User: user, Password: pass, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("sftpserver.Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	sc, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User: user, Auth: []ssh.AuthMethod{ssh.Password(pass)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey()), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	pc, err := sftp.NewClient(sc)
	if err != nil {
		sc.Close()
		t.Fatalf("sftp: %v", err)
	}
	c := sftpconn.NewClient(sc, pc)
	t.Cleanup(func() { c.Close() })
	return remoteFS{C: c, Base: "/", Local: root}
}

// keyConfig is the HostConfig of s with the harness's key and known_hosts.
func keyConfig(s *sshdtest.Server) sftpconn.HostConfig {
	return sftpconn.HostConfig{
		Name: "partner", Address: s.Addr, User: s.User,
		PrivateKeyFile: s.ClientKeyFile, PrivateKeyPassphrase: s.ClientKeyPassphrase,
		KnownHostsFile: s.KnownHostsFile, ConnectTimeout: 10 * time.Second,
	}
}

// dialSSHD connects to s with cfg.
func dialSSHD(t testing.TB, s *sshdtest.Server, cfg sftpconn.HostConfig) *sftpconn.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := sftpconn.Dial(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatalf("Dial sshd: %v\n%s", err, s.Log())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sshdFS is a real OpenSSH sshd (remote paths are local ones).
func sshdFS(t *testing.T) remoteFS {
	t.Helper()
	s := sshdtest.Start(t)
	return remoteFS{C: dialSSHD(t, s, keyConfig(s)), Base: s.Root, Local: s.Root}
}

// result runs f, failing t if it does not return within limit.
func result(t *testing.T, limit time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("still waiting after %v", limit)
		return nil
	}
}

func assertNoPWNED(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.Name() == "PWNED" {
				t.Errorf("a hostile name was executed: %s exists", p)
			}
			return nil
		})
	}
}

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
