package sshdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// CA is an OpenSSH certificate authority: a key pair whose signatures
// (ssh-keygen -s) sshd trusts for user keys (TrustedUserCAKeys) or
// clients trust for host keys (@cert-authority in known_hosts).
type CA struct {
	KeyFile   string // private key, OpenSSH format
	PubFile   string // KeyFile + ".pub"
	PublicKey ssh.PublicKey

	t      testing.TB
	keygen string
}

// NewCA generates an ed25519 CA in a temporary directory. It needs
// ssh-keygen; without it the test is skipped (failed under CI).
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		msg := "\n*** ssh-keygen (OpenSSH client) is not installed: SKIPPING a test that signs certificates. ***"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + "\nCI is set, so this is a failure.")
		}
		t.Skip(msg)
	}
	dir, err := os.MkdirTemp("", "sshdtest-ca-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // sshd may read PubFile as another user
		t.Fatal(err)
	}
	ca := &CA{KeyFile: filepath.Join(dir, name), t: t, keygen: keygen}
	key, err := WriteKey(ca.KeyFile, KeyEd25519, FormatOpenSSH, "")
	if err != nil {
		t.Fatalf("sshdtest: CA key: %v", err)
	}
	if ca.PublicKey, err = PublicKey(key); err != nil {
		t.Fatal(err)
	}
	ca.PubFile = ca.KeyFile + ".pub"
	if err := os.WriteFile(ca.PubFile, ssh.MarshalAuthorizedKey(ca.PublicKey), 0o644); err != nil {
		t.Fatal(err)
	}
	return ca
}

// sign runs ssh-keygen -s on pub (written to base+".pub") and returns the
// certificate file (base+"-cert.pub"). validity is ssh-keygen's -V
// ("+1h", "-2h:-1h"); host makes a host certificate (-h).
func (ca *CA) sign(base string, pub ssh.PublicKey, id string, principals []string, validity string, host bool) (string, error) {
	if err := os.WriteFile(base+".pub", ssh.MarshalAuthorizedKey(pub), 0o644); err != nil {
		return "", err
	}
	args := []string{"-q", "-s", ca.KeyFile, "-I", id, "-n", strings.Join(principals, ",")}
	if validity != "" {
		args = append(args, "-V", validity)
	}
	if host {
		args = append(args, "-h")
	}
	args = append(args, base+".pub")
	if out, err := exec.Command(ca.keygen, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ssh-keygen %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return base + "-cert.pub", nil
}

// SignUserKey certifies pub for login as principal, valid for validity
// (ssh-keygen -V, e.g. "+1h" or "-2h:-1h" for an expired one). The
// certificate is written next to a copy of the public key in a fresh
// directory, as name-cert.pub; its path is returned.
func (ca *CA) SignUserKey(pub ssh.PublicKey, name, principal, validity string) string {
	ca.t.Helper()
	dir := ca.t.TempDir()
	cert, err := ca.sign(filepath.Join(dir, name), pub, name, []string{principal}, validity, false)
	if err != nil {
		ca.t.Fatalf("sshdtest: %v", err)
	}
	return cert
}

// KnownHostsLine is the "@cert-authority PATTERNS KEY" line trusting the
// CA for hosts matching patterns (comma-separated, as in known_hosts).
func (ca *CA) KnownHostsLine(patterns string) string {
	return "@cert-authority " + patterns + " " + string(ssh.MarshalAuthorizedKey(ca.PublicKey))
}

// WithTrustedUserCA makes sshd accept user certificates signed by ca
// (TrustedUserCAKeys). With certificatesOnly, the generated client key is
// left out of authorized_keys: only a certificate for it logs in.
func WithTrustedUserCA(ca *CA, certificatesOnly bool) Option {
	return func(o *options) {
		o.extra = append(o.extra, "TrustedUserCAKeys "+ca.PubFile)
		if certificatesOnly {
			o.setup = append(o.setup, func(s *Server, _ *options) error {
				return os.WriteFile(filepath.Join(s.Dir, "authorized_keys"), nil, 0o644)
			})
		}
	}
}

// WithHostCertificate has ca sign sshd's ed25519 host key as a host
// certificate for principals (default the listen host) and makes sshd
// present it (HostCertificate); its path is Server.HostCertificateFile.
func WithHostCertificate(ca *CA, validity string, principals ...string) Option {
	return func(o *options) {
		o.setup = append(o.setup, func(s *Server, o *options) error {
			names := principals
			if len(names) == 0 {
				names = []string{s.Host}
			}
			cert, err := ca.sign(filepath.Join(s.Dir, "ssh_host_"+string(KeyEd25519)+"_key"), s.HostPublicKey,
				"sshdtest host", names, validity, true)
			if err != nil {
				return err
			}
			s.HostCertificateFile = cert
			o.extra = append(o.extra, "HostCertificate "+cert)
			return nil
		})
	}
}
