package sftpconn

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpserver"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

const (
	fxUser = "watcher"
	fxPass = "pass word"
)

// remoteFS is a server under test: the remote path Base is the local
// directory Local on this machine, so tests can check the far side directly.
type remoteFS struct {
	Name  string
	C     *Client
	Base  string // remote path tests work under
	Local string // the same directory, locally
	Srv   *sftpserver.Server
}

// local maps a remote path under Base to its local path.
func (r remoteFS) local(rel string) string { return filepath.Join(r.Local, filepath.FromSlash(rel)) }

// remote joins rel to Base.
func (r remoteFS) remote(rel string) string {
	if rel == "" {
		return r.Base
	}
	if r.Base == "/" {
		return "/" + rel
	}
	return r.Base + "/" + rel
}

// startInProcess starts the embedded server on a fresh directory and
// returns it with that directory.
func startInProcess(t testing.TB) (*sftpserver.Server, string) {
	t.Helper()
	root := t.TempDir()
	s, err := sftpserver.Start(sftpserver.Options{Root: root, User: fxUser, Password: fxPass, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("sftpserver.Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, root
}

// dialInProcess connects a Client to the embedded server with x/crypto/ssh
// directly, independent of Dial.
func dialInProcess(t testing.TB, s *sftpserver.Server) *Client {
	t.Helper()
	sc, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User:            fxUser,
		Auth:            []ssh.AuthMethod{ssh.Password(fxPass)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey()),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	c, err := sftp.NewClient(sc)
	if err != nil {
		sc.Close()
		t.Fatalf("sftp: %v", err)
	}
	cl := NewClient(sc, c)
	t.Cleanup(func() { cl.Close() })
	return cl
}

// inProcessFS is the embedded server as a remoteFS (remote "/" is its root).
func inProcessFS(t testing.TB) remoteFS {
	t.Helper()
	s, root := startInProcess(t)
	return remoteFS{Name: "inprocess", C: dialInProcess(t, s), Base: "/", Local: root, Srv: s}
}

// sshdFS starts a real OpenSSH sshd and connects with Dial, using the
// harness's client key and known_hosts file.
func sshdFS(t *testing.T) remoteFS {
	t.Helper()
	s := sshdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, HostConfig{
		Name:                 "sshdtest",
		Address:              s.Addr,
		User:                 s.User,
		PrivateKeyFile:       s.ClientKeyFile,
		PrivateKeyPassphrase: s.ClientKeyPassphrase,
		KnownHostsFile:       s.KnownHostsFile,
	}, zap.NewNop())
	if err != nil {
		t.Fatalf("Dial sshd: %v\n%s", err, s.Log())
	}
	t.Cleanup(func() { c.Close() })
	return remoteFS{Name: "openssh", C: c, Base: s.Root, Local: s.Root}
}

// servers returns every server a file-API test runs against.
func servers(t *testing.T) []remoteFS {
	return []remoteFS{inProcessFS(t), sshdFS(t)}
}
