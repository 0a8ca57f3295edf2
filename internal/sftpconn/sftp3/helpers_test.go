package sftp3

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpserver"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// poll waits until cond holds, failing the test after d.
func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inProcess starts the embedded server on a fresh directory (remote "/")
// and returns it, that directory and an SSH connection to it.
func inProcess(t *testing.T) (*sftpserver.Server, string, *ssh.Client) {
	t.Helper()
	const user, pass = "watcher", "pass word"
	root := t.TempDir()
	s, err := sftpserver.Start(sftpserver.Options{Root: root, User: user, Password: pass, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("sftpserver.Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	sc, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.Password(pass)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey()),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	t.Cleanup(func() { sc.Close() })
	return s, root, sc
}

// openSSH starts a real OpenSSH sshd and connects to it with the
// harness's client key and known_hosts file. Remote paths are local ones.
func openSSH(t *testing.T) (*sshdtest.Server, *ssh.Client) {
	t.Helper()
	s := sshdtest.Start(t)
	pem, err := os.ReadFile(s.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	var key ssh.Signer
	if s.ClientKeyPassphrase != "" {
		key, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(s.ClientKeyPassphrase))
	} else {
		key, err = ssh.ParsePrivateKey(pem)
	}
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: hostKeys,
		Timeout:         20 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh dial sshd: %v\n%s", err, s.Log())
	}
	t.Cleanup(func() { sc.Close() })
	return s, sc
}

// openConn opens a Conn on sc, closed when the test ends.
func openConn(t *testing.T, sc *ssh.Client) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Open(ctx, sc)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		r.Close()
		r.Wait()
	})
	return r
}

// makeFiles creates n empty files in local directory dir.
func makeFiles(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
