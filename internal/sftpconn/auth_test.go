package sftpconn

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

func TestDialKeyKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kt sshdtest.KeyType
		f  sshdtest.KeyFormat
	}{
		{sshdtest.KeyEd25519, sshdtest.FormatOpenSSH},
		{sshdtest.KeyECDSA, sshdtest.FormatOpenSSH},
		{sshdtest.KeyRSA, sshdtest.FormatOpenSSH},
		{sshdtest.KeyRSA, sshdtest.FormatPEM},
		{sshdtest.KeyECDSA, sshdtest.FormatPEM},
	} {
		t.Run(string(tc.kt)+"-"+string(tc.f), func(t *testing.T) {
			t.Parallel()
			s := sshdtest.Start(t, sshdtest.WithClientKey(tc.kt, tc.f))
			mustDial(t, s, keyConfig(s))
			if n := s.CountLog("Accepted publickey for " + s.User); n != 1 {
				t.Errorf("sshd logged %d publickey logins, want 1", n)
			}
		})
	}
}

func TestDialEncryptedKey(t *testing.T) {
	t.Parallel()
	for _, f := range []sshdtest.KeyFormat{sshdtest.FormatOpenSSH, sshdtest.FormatPEM} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			kt := sshdtest.KeyEd25519
			if f == sshdtest.FormatPEM {
				kt = sshdtest.KeyRSA
			}
			s := sshdtest.Start(t, sshdtest.WithClientKey(kt, f), sshdtest.WithEncryptedClientKey("correct horse"))
			mustDial(t, s, keyConfig(s))

			for _, tc := range []struct{ pass, want string }{
				{"", "is encrypted and no passphrase is configured"},
				{"wrong horse", "passphrase"},
			} {
				cfg := keyConfig(s)
				cfg.PrivateKeyPassphrase = tc.pass
				_, err := Dial(context.Background(), cfg, zap.NewNop())
				if !IsAuthError(err) || IsConnectionError(err) {
					t.Errorf("passphrase %q: want an auth error, got %v", tc.pass, err)
					continue
				}
				if msg := err.Error(); !strings.Contains(msg, s.ClientKeyFile) || !strings.Contains(msg, tc.want) {
					t.Errorf("passphrase %q: message %q should name %s and say %q", tc.pass, msg, s.ClientKeyFile, tc.want)
				}
			}
		})
	}
}

func TestDialPassword(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.WithPassword())
	cfg := HostConfig{Name: "partner", Address: s.Addr, User: s.User, Password: s.Password, KnownHostsFile: s.KnownHostsFile}
	mustDial(t, s, cfg)
	if n := s.CountLog("Accepted password for " + s.User); n != 1 {
		t.Errorf("sshd logged %d password logins, want 1", n)
	}

	cfg.Password = "not the password"
	_, err := Dial(context.Background(), cfg, zap.NewNop())
	if !IsAuthError(err) || IsHostKeyError(err) || IsConnectionError(err) {
		t.Fatalf("wrong password: %v", err)
	}
	want := `host "partner" (` + s.Addr + `): authentication failed for user "` + s.User + `" (tried password, keyboard-interactive)`
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("message\n %q\nwant prefix\n %q", err, want)
	}
}

func TestDialKeyboardInteractiveOnly(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.WithKeyboardInteractiveOnly())
	cfg := HostConfig{Name: "partner", Address: s.Addr, User: s.User, Password: s.Password, KnownHostsFile: s.KnownHostsFile}
	mustDial(t, s, cfg)
	if n := s.CountLog("Accepted keyboard-interactive/pam for " + s.User); n != 1 {
		t.Errorf("sshd logged %d keyboard-interactive logins, want 1\n%s", n, s.Log())
	}
}

func TestDialAgent(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.WithClientKey(sshdtest.KeyECDSA, sshdtest.FormatOpenSSH))
	sock := serveAgent(t, s.ClientKeyFile)
	cfg := keyConfig(s)
	cfg.PrivateKeyFile = ""
	cfg.Agent, cfg.AgentSocket = true, sock
	mustDial(t, s, cfg)
	if n := s.CountLog("Accepted publickey for " + s.User); n != 1 {
		t.Errorf("sshd logged %d publickey logins, want 1", n)
	}

	cfg.AgentSocket = filepath.Join(t.TempDir(), "no-agent-here")
	_, err := Dial(context.Background(), cfg, zap.NewNop())
	if !IsAuthError(err) || !strings.Contains(err.Error(), "ssh-agent") {
		t.Errorf("missing agent: %v", err)
	}
}

// serveAgent runs an in-process ssh-agent holding the key in keyFile on a
// unix socket and returns the socket path.
func serveAgent(t *testing.T, keyFile string) string {
	t.Helper()
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: raw}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(keyring, c) //nolint:errcheck // ends with the connection
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("agent listener did not stop")
		}
	})
	return sock
}

func TestLoadPrivateKeyErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope $(touch PWNED)")
	if _, err := loadPrivateKey(missing, ""); err == nil || !strings.Contains(err.Error(), "read private key") {
		t.Errorf("missing file: %v", err)
	}
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPrivateKey(garbage, ""); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Errorf("garbage file: %v", err)
	}
	// A passphrase for an unencrypted key is ignored.
	plain := filepath.Join(dir, "plain")
	if _, err := sshdtest.WriteKey(plain, sshdtest.KeyEd25519, sshdtest.FormatOpenSSH, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPrivateKey(plain, "unneeded"); err != nil {
		t.Errorf("unencrypted key with a passphrase: %v", err)
	}
	var de *DialError
	_, err := Dial(context.Background(), HostConfig{Address: "127.0.0.1:1", User: "u", PrivateKeyFile: garbage,
		InsecureIgnoreHostKey: true}, zap.NewNop())
	if !errors.As(err, &de) || de.Op != OpAuth {
		t.Errorf("Dial with an unparsable key: %v", err)
	}
}
