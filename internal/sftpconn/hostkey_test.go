package sftpconn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// knownHosts writes a known_hosts file with the given lines.
func knownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func otherKey(t *testing.T, kt sshdtest.KeyType) ssh.PublicKey {
	t.Helper()
	k, err := sshdtest.GenerateKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sshdtest.PublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestKnownHostsVariants(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	ed, rsa := s.HostKeys[0], s.HostKeys[1]
	hashed := knownhosts.HashHostname(knownhosts.Normalize(s.Addr))
	for _, tc := range []struct {
		name     string
		lines    []string
		wantAlgo string
	}{
		// Only the ed25519 key known: x/crypto on its own would ask for
		// RSA first and fail as "key mismatch".
		{"bracketed ed25519 only", []string{sshdtest.KnownHostsLine(s.Addr, ed)}, ssh.KeyAlgoED25519},
		{"bracketed rsa only", []string{sshdtest.KnownHostsLine(s.Addr, rsa)}, ssh.KeyAlgoRSASHA512},
		{"hashed", []string{
			"# a comment, then an unrelated host\n",
			sshdtest.KnownHostsLine("example.org:22", otherKey(t, sshdtest.KeyEd25519)),
			hashed + " " + string(ssh.MarshalAuthorizedKey(ed)),
		}, ssh.KeyAlgoED25519},
	} {
		cfg := keyConfig(s)
		cfg.KnownHostsFile = knownHosts(t, tc.lines...)
		c, err := Dial(context.Background(), cfg, zap.NewNop())
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if algs, _ := c.NegotiatedAlgorithms(); algs.HostKey != tc.wantAlgo {
			t.Errorf("%s: negotiated host key %q, want %q", tc.name, algs.HostKey, tc.wantAlgo)
		}
		c.Close()
	}
}

func TestFingerprintPin(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	cfg := keyConfig(s)
	cfg.KnownHostsFile = "/nonexistent/known_hosts"     // the pin takes precedence
	cfg.HostKeyFingerprint = s.HostKeyFingerprint + "=" // padding tolerated
	mustDial(t, s, cfg)

	cfg.HostKeyFingerprint = ssh.FingerprintSHA256(otherKey(t, sshdtest.KeyEd25519))
	_, err := Dial(context.Background(), cfg, zap.NewNop())
	if !IsHostKeyError(err) || IsAuthError(err) || IsConnectionError(err) {
		t.Fatalf("wrong pin: %v", err)
	}
	if !strings.Contains(err.Error(), "changed — possible man-in-the-middle") || !strings.Contains(err.Error(), s.HostKeyFingerprint) {
		t.Errorf("message %q", err)
	}
	if n := s.CountLog("Accepted"); n != 1 {
		t.Errorf("%d logins after a wrong pin, want only the first", n)
	}
}

// The host key is checked before any authentication: a client that would
// fail authentication (wrong password) reports the host key, and sshd never
// sees a password.
func TestUnknownHostKeyAbortsBeforeAuth(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.WithPassword())
	cfg := HostConfig{Name: "partner", Address: s.Addr, User: s.User, Password: "wrong password",
		// Keys for the same IP on another port and another host only.
		KnownHostsFile: knownHosts(t,
			sshdtest.KnownHostsLine("127.0.0.1:1", s.HostPublicKey),
			sshdtest.KnownHostsLine("example.org:22", otherKey(t, sshdtest.KeyRSA)))}
	_, err := Dial(context.Background(), cfg, zap.NewNop())
	if !IsHostKeyError(err) || IsAuthError(err) {
		t.Fatalf("want a host key error, got %v", err)
	}
	var he *HostKeyError
	if !errors.As(err, &he) || he.Changed || !strings.Contains(err.Error(), "is unknown") {
		t.Errorf("want an unknown-host error, got %v", err)
	}
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) != 0 {
		t.Errorf("want the knownhosts.KeyError underneath: %v", err)
	}
	for _, line := range []string{"Failed password", "Failed keyboard-interactive", "Accepted"} {
		if n := s.CountLog(line); n != 0 {
			t.Errorf("sshd saw %d %q: authentication was attempted\n%s", n, line, s.Log())
		}
	}
}

func TestChangedHostKey(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	cfg := keyConfig(s)
	cfg.KnownHostsFile = knownHosts(t, sshdtest.KnownHostsLine(s.Addr, otherKey(t, sshdtest.KeyEd25519)))
	_, err := Dial(context.Background(), cfg, zap.NewNop())
	var he *HostKeyError
	if !IsHostKeyError(err) || !errors.As(err, &he) || !he.Changed {
		t.Fatalf("want a changed host key error, got %v", err)
	}
	want := "host key for " + s.Addr + " changed — possible man-in-the-middle"
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), cfg.KnownHostsFile+":1") {
		t.Errorf("message %q should contain %q and the known_hosts line", err, want)
	}
	if n := s.CountLog("Accepted"); n != 0 {
		t.Errorf("logged in despite a changed host key")
	}

	// A revoked key is refused too.
	cfg.KnownHostsFile = knownHosts(t, sshdtest.KnownHostsLine(s.Addr, s.HostPublicKey),
		"@revoked * "+string(ssh.MarshalAuthorizedKey(s.HostPublicKey)))
	if _, err := Dial(context.Background(), cfg, zap.NewNop()); !IsHostKeyError(err) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked key: %v", err)
	}

	// An unreadable known_hosts file is a configuration error.
	cfg.KnownHostsFile = filepath.Join(t.TempDir(), "missing")
	var de *DialError
	if _, err := Dial(context.Background(), cfg, zap.NewNop()); !errors.As(err, &de) || de.Op != OpConfig {
		t.Errorf("missing known_hosts: %v", err)
	}
}

func TestNormalizeFingerprint(t *testing.T) {
	k := otherKey(t, sshdtest.KeyEd25519)
	fp := ssh.FingerprintSHA256(k)
	for _, in := range []string{fp, fp + "=", " " + fp + "\n"} {
		if got, err := normalizeFingerprint(in); err != nil || got != fp {
			t.Errorf("normalizeFingerprint(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "SHA256:", "MD5:" + fp[7:], "SHA256:AAAA", "SHA256:" + strings.Repeat("!", 43)} {
		if _, err := normalizeFingerprint(in); err == nil {
			t.Errorf("normalizeFingerprint(%q) accepted", in)
		}
	}
}
