package sshdtest

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// dial logs in with the harness's own credentials, verifying the host key
// through its known_hosts file, and writes a file under Root over SFTP.
func dial(t *testing.T, s *Server, auth ...ssh.AuthMethod) *ssh.Client {
	t.Helper()
	hk, err := knownhosts.New(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User: s.User, Auth: auth, HostKeyCallback: hk, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("dial %s: %v\nsshd log:\n%s", s.Addr, err, s.Log())
	}
	return c
}

func keyAuth(t *testing.T, s *Server) ssh.AuthMethod {
	t.Helper()
	data, err := os.ReadFile(s.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	var signer ssh.Signer
	if s.ClientKeyPassphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(data, []byte(s.ClientKeyPassphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(data)
	}
	if err != nil {
		t.Fatalf("parse %s: %v", s.ClientKeyFile, err)
	}
	return ssh.PublicKeys(signer)
}

func writeUnderRoot(t *testing.T, s *Server, c *ssh.Client) {
	t.Helper()
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	name := "hello $(touch PWNED) ü.txt"
	f, err := sc.Create(s.Root + "/" + name)
	if err != nil {
		t.Fatalf("create under Root as %s: %v", s.User, err)
	}
	f.Write([]byte("hi"))
	f.Close()
	got, err := os.ReadFile(filepath.Join(s.Root, name))
	if err != nil || string(got) != "hi" {
		t.Fatalf("file written over sftp: %q, %v", got, err)
	}
}

func TestKeyLoginAndSFTP(t *testing.T) {
	t.Parallel()
	s := Start(t)
	if !strings.HasPrefix(s.HostKeyFingerprint, "SHA256:") {
		t.Errorf("fingerprint %q", s.HostKeyFingerprint)
	}
	c := dial(t, s, keyAuth(t, s))
	defer c.Close()
	writeUnderRoot(t, s, c)
	if n := s.CountLog("Accepted publickey for " + s.User); n != 1 {
		t.Errorf("sshd logged %d accepted publickey logins, want 1", n)
	}
}

func TestKeyKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kt   KeyType
		f    KeyFormat
		pass string
	}{
		{KeyECDSA, FormatOpenSSH, ""},
		{KeyRSA, FormatPEM, ""},
		{KeyECDSA, FormatPEM, "pass phrase"},
		{KeyEd25519, FormatOpenSSH, "secret"},
	} {
		t.Run(string(tc.kt)+"-"+string(tc.f)+"-"+tc.pass, func(t *testing.T) {
			t.Parallel()
			s := Start(t, WithClientKey(tc.kt, tc.f), WithEncryptedClientKey(tc.pass))
			c := dial(t, s, keyAuth(t, s))
			c.Close()
		})
	}
}

func TestPasswordLogin(t *testing.T) {
	t.Parallel()
	s := Start(t, WithPassword())
	if s.User != TestUser {
		t.Fatalf("user %q", s.User)
	}
	c := dial(t, s, ssh.Password(s.Password))
	defer c.Close()
	writeUnderRoot(t, s, c)
}

func TestKeyboardInteractiveOnly(t *testing.T) {
	t.Parallel()
	s := Start(t, WithKeyboardInteractiveOnly())
	// Password auth is refused by this server...
	hk, _ := knownhosts.New(s.KnownHostsFile)
	_, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{ssh.Password(s.Password)},
		HostKeyCallback: hk, Timeout: 10 * time.Second})
	if err == nil {
		t.Fatal("password auth accepted by a keyboard-interactive-only server")
	}
	// ...and keyboard-interactive answering the prompt works.
	kbd := ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
		ans := make([]string, len(qs))
		for i := range qs {
			ans[i] = s.Password
		}
		return ans, nil
	})
	c := dial(t, s, kbd)
	c.Close()
}

func TestStopKillsConnectionsAndRestartKeepsPortAndKeys(t *testing.T) {
	t.Parallel()
	s := Start(t)
	c := dial(t, s, keyAuth(t, s))
	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait() }()
	s.Stop()
	select {
	case <-waitErr:
	case <-time.After(10 * time.Second):
		t.Fatal("connection survived Stop")
	}
	if speaksSSH(s.Addr) {
		t.Fatal("stopped server still answers")
	}
	s.Restart()
	c = dial(t, s, keyAuth(t, s)) // same known_hosts: same keys, same port
	c.Close()
	s.Stop()
	s.Stop() // idempotent
}

func TestKnownHostsLine(t *testing.T) {
	k, err := GenerateKey(KeyEd25519)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := PublicKey(k)
	if got := KnownHostsLine("127.0.0.1:2222", pub); !strings.HasPrefix(got, "[127.0.0.1]:2222 ssh-ed25519 ") {
		t.Errorf("line %q", got)
	}
	if got := KnownHostsLine("example.org:22", pub); !strings.HasPrefix(got, "example.org ssh-ed25519 ") {
		t.Errorf("line %q", got)
	}
	if _, err := MarshalKey(k, "bogus", ""); err == nil {
		t.Error("unknown format accepted")
	}
	if _, err := GenerateKey("dsa"); err == nil || errors.Is(err, nil) {
		t.Error("unknown key type accepted")
	}
}

func TestProxyCountsFreezesAndCuts(t *testing.T) {
	t.Parallel()
	s := Start(t)
	p := NewProxy(t, s.Addr)
	cfg := &ssh.ClientConfig{User: s.User, Auth: []ssh.AuthMethod{keyAuth(t, s)},
		HostKeyCallback: ssh.FixedHostKey(s.HostPublicKey), HostKeyAlgorithms: []string{ssh.KeyAlgoED25519}, Timeout: 10 * time.Second}
	c1, err := ssh.Dial("tcp", p.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ssh.Dial("tcp", p.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Active() != 2 || p.MaxActive() != 2 || p.Accepted() != 2 {
		t.Fatalf("active %d max %d accepted %d", p.Active(), p.MaxActive(), p.Accepted())
	}
	p.Freeze()
	replied := make(chan error, 1)
	go func() { _, _, err := c1.SendRequest("keepalive@openssh.com", true, nil); replied <- err }()
	select {
	case <-replied:
		t.Fatal("request answered through a frozen proxy")
	case <-time.After(300 * time.Millisecond): // a negative: nothing must arrive in this window
	}
	p.Thaw()
	select {
	case <-replied:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer after thaw")
	}
	p.CloseConns()
	if err := c2.Wait(); err == nil {
		// Wait returns the reason; any return proves the cut.
		t.Log("c2 closed cleanly")
	}
	c1.Close()
	deadline := time.Now().Add(5 * time.Second)
	for p.Active() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still active after CloseConns", p.Active())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// speaksSSH reports whether addr answers with an SSH banner.
func speaksSSH(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	return err == nil && string(buf) == "SSH-"
}
