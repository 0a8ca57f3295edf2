package sftpconn

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// TestDialUserCertificate: sshd trusts only certificates of the user CA
// (the plain key is not in authorized_keys); the certificate logs in, the
// plain key alone does not, and an expired, not-yet-valid or foreign
// certificate fails before connecting with an error naming the file and
// the validity window.
func TestDialUserCertificate(t *testing.T) {
	t.Parallel()
	ca := sshdtest.NewCA(t, "user_ca")
	s := sshdtest.Start(t, sshdtest.WithTrustedUserCA(ca, true))

	plain := keyConfig(s)
	_, err := Dial(context.Background(), plain, zaptest.NewLogger(t))
	if !IsAuthError(err) {
		t.Fatalf("plain key without certificate: err = %v, want an auth error (the key is not authorised)", err)
	}

	cfg := keyConfig(s)
	cfg.CertificateFile = ca.SignUserKey(s.ClientPublicKey, "id", s.User, "+1h")
	mustDial(t, s, cfg)
	if n := s.CountLog("Accepted publickey for " + s.User); n != 1 {
		t.Errorf("sshd logged %d certificate logins, want 1:\n%s", n, s.Log())
	}
	if !strings.Contains(s.Log(), "ED25519-CERT") {
		t.Errorf("sshd log does not show a certificate login:\n%s", s.Log())
	}

	for _, tc := range []struct {
		name, validity string
		want           []string
	}{
		{"expired", "-2h:-1h", []string{"has expired", "valid from ", " until ", "now is "}},
		{"not yet valid", "+1h:+2h", []string{"is not yet valid", "valid from "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := keyConfig(s)
			cfg.CertificateFile = ca.SignUserKey(s.ClientPublicKey, "id", s.User, tc.validity)
			_, err := Dial(context.Background(), cfg, zaptest.NewLogger(t))
			var ce *CertificateError
			if !errors.As(err, &ce) || !IsAuthError(err) || !IsPermanentDialError(err) {
				t.Fatalf("err = %v, want a permanent auth *CertificateError", err)
			}
			for _, w := range append(tc.want, cfg.CertificateFile) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			// Checked before connecting: a server that is not there is
			// never asked.
			port, err := sshdtest.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			cfg.Address = "127.0.0.1:" + itoa(port)
			if _, err := Dial(context.Background(), cfg, zaptest.NewLogger(t)); !errors.As(err, &ce) {
				t.Errorf("dial of a closed port with an unusable certificate: err = %v, want the *CertificateError", err)
			}
		})
	}

	t.Run("other key", func(t *testing.T) {
		other, err := sshdtest.WriteKey(filepath.Join(t.TempDir(), "other"), sshdtest.KeyEd25519, sshdtest.FormatOpenSSH, "")
		if err != nil {
			t.Fatal(err)
		}
		otherPub, err := sshdtest.PublicKey(other)
		if err != nil {
			t.Fatal(err)
		}
		cfg := keyConfig(s)
		cfg.CertificateFile = ca.SignUserKey(otherPub, "other", s.User, "+1h")
		_, err = Dial(context.Background(), cfg, zaptest.NewLogger(t))
		var ce *CertificateError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v, want *CertificateError", err)
		}
		for _, w := range []string{cfg.CertificateFile, cfg.PrivateKeyFile, ssh.FingerprintSHA256(otherPub), ssh.FingerprintSHA256(s.ClientPublicKey)} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not name %q", err, w)
			}
		}
	})
}

// TestDialHostCertificate: the server presents a host certificate and
// known_hosts holds only the @cert-authority line for it; @revoked lines
// for the host key or the CA refuse it, a CA for other hosts or another CA
// is not trusted, and the CA key itself is no plain host key.
func TestDialHostCertificate(t *testing.T) {
	t.Parallel()
	hostCA := sshdtest.NewCA(t, "host_ca")
	s := sshdtest.Start(t, sshdtest.WithHostCertificate(hostCA, "+1h", "127.0.0.1"))
	pattern := "[127.0.0.1]:" + itoa(s.Port) + ",127.0.0.1"

	cfg := keyConfig(s)
	cfg.KnownHostsFile = knownHosts(t, hostCA.KnownHostsLine(pattern))
	c := mustDial(t, s, cfg)
	algs, _ := c.NegotiatedAlgorithms()
	if algs.HostKey != ssh.CertAlgoED25519v01 {
		t.Errorf("host key algorithm %q, want %s", algs.HostKey, ssh.CertAlgoED25519v01)
	}

	wild := cfg
	wild.KnownHostsFile = knownHosts(t, hostCA.KnownHostsLine("[127.0.0.*]:"+itoa(s.Port)))
	mustDial(t, s, wild)

	refused := func(t *testing.T, known string, want ...string) {
		t.Helper()
		cfg := keyConfig(s)
		cfg.KnownHostsFile = known
		before := s.CountLog("Accepted publickey")
		_, err := Dial(context.Background(), cfg, zaptest.NewLogger(t))
		if !IsHostKeyError(err) || !IsPermanentDialError(err) {
			t.Fatalf("err = %v, want a permanent host key error", err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not contain %q", err, w)
			}
		}
		if s.CountLog("Accepted publickey") != before {
			t.Errorf("credentials reached a server whose host key was refused")
		}
	}
	caLine := hostCA.KnownHostsLine(pattern)
	t.Run("revoked host key", func(t *testing.T) {
		refused(t, knownHosts(t, caLine, "@revoked * "+string(ssh.MarshalAuthorizedKey(s.HostPublicKey))),
			"@revoked", ssh.FingerprintSHA256(s.HostPublicKey))
	})
	t.Run("revoked CA", func(t *testing.T) {
		refused(t, knownHosts(t, caLine, "@revoked * "+string(ssh.MarshalAuthorizedKey(hostCA.PublicKey))),
			"@revoked", ssh.FingerprintSHA256(hostCA.PublicKey))
	})
	t.Run("revoked despite a plain entry", func(t *testing.T) {
		refused(t, knownHosts(t, caLine, sshdtest.KnownHostsLine(s.Addr, s.HostPublicKey),
			"@revoked * "+string(ssh.MarshalAuthorizedKey(s.HostPublicKey))), "@revoked")
	})
	t.Run("CA for other hosts", func(t *testing.T) {
		refused(t, knownHosts(t, hostCA.KnownHostsLine("[127.0.0.1]:1,example.com")), "is unknown")
	})
	t.Run("other CA", func(t *testing.T) {
		other := sshdtest.NewCA(t, "other_ca")
		refused(t, knownHosts(t, other.KnownHostsLine(pattern)), "is not trusted", ssh.FingerprintSHA256(hostCA.PublicKey))
	})
	t.Run("wrong principal", func(t *testing.T) {
		other := sshdtest.Start(t, sshdtest.WithHostCertificate(hostCA, "+1h", "sftp.example.com"))
		cfg := keyConfig(other)
		cfg.KnownHostsFile = knownHosts(t, hostCA.KnownHostsLine("[127.0.0.1]:"+itoa(other.Port)))
		_, err := Dial(context.Background(), cfg, zaptest.NewLogger(t))
		if !IsHostKeyError(err) || !strings.Contains(err.Error(), "principal") {
			t.Fatalf("err = %v, want a host certificate refused for its principals", err)
		}
	})
	t.Run("expired host certificate", func(t *testing.T) {
		other := sshdtest.Start(t, sshdtest.WithHostCertificate(hostCA, "-2h:-1h"))
		cfg := keyConfig(other)
		cfg.KnownHostsFile = knownHosts(t, hostCA.KnownHostsLine("[127.0.0.1]:"+itoa(other.Port)))
		_, err := Dial(context.Background(), cfg, zaptest.NewLogger(t))
		if !IsHostKeyError(err) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("err = %v, want an expired host certificate refused", err)
		}
		// With a plain entry for the key, OpenSSH retries with the plain
		// key; so do we.
		cfg.KnownHostsFile = knownHosts(t, hostCA.KnownHostsLine("[127.0.0.1]:"+itoa(other.Port)),
			sshdtest.KnownHostsLine(other.Addr, other.HostPublicKey))
		mustDial(t, other, cfg)
	})
	t.Run("server without certificate", func(t *testing.T) {
		plain := sshdtest.Start(t)
		cfg := keyConfig(plain)
		cfg.KnownHostsFile = knownHosts(t, hostCA.KnownHostsLine("[127.0.0.1]:"+itoa(plain.Port)))
		_, err := Dial(context.Background(), cfg, zaptest.NewLogger(t))
		if !IsHostKeyError(err) || !strings.Contains(err.Error(), "only trusts host certificates") {
			t.Fatalf("err = %v, want a plain key refused where only a CA is known", err)
		}
	})
	t.Run("CA key offered as plain host key", func(t *testing.T) {
		// known_hosts trusts the server's own host key as a CA: OpenSSH
		// does not take a CA key for a host key, and neither do we.
		plain := sshdtest.Start(t)
		cfg := keyConfig(plain)
		line := "@cert-authority [127.0.0.1]:" + itoa(plain.Port) + " " + string(ssh.MarshalAuthorizedKey(plain.HostPublicKey))
		cfg.KnownHostsFile = knownHosts(t, line)
		_, err := Dial(context.Background(), cfg, zaptest.NewLogger(t))
		if !IsHostKeyError(err) {
			t.Fatalf("err = %v, want the CA key refused as a plain host key", err)
		}
	})
	t.Run("pin and plain entries still work", func(t *testing.T) {
		pin := keyConfig(s)
		pin.KnownHostsFile, pin.HostKeyFingerprint = "", s.HostKeyFingerprint
		mustDial(t, s, pin)
		mustDial(t, s, keyConfig(s)) // plain known_hosts lines: the certificate falls back to its key
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
