package sftpconn

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a host key the server offered and the configuration did
// not accept. The handshake is aborted before any authentication, so no
// password or signature reaches a server that may be an impostor.
type HostKeyError struct {
	Host    string        // address as dialled
	Offered ssh.PublicKey // the key the server presented
	// Changed: known_hosts holds a different key of the same type for
	// the host, or the pinned fingerprint differs. Otherwise the host
	// (or this key type) is simply unknown.
	Changed bool
	Known   []string // "file:line" of the entries known_hosts has for the host
	Pinned  string   // the configured fingerprint, when pinning
	Revoked bool     // the key is marked @revoked
	Err     error    // the knownhosts error, if any
}

func (e *HostKeyError) Error() string {
	offered := e.Offered.Type() + " " + ssh.FingerprintSHA256(e.Offered)
	switch {
	case e.Revoked:
		return fmt.Sprintf("host key %s for %s is marked @revoked in known_hosts", offered, e.Host)
	case e.Pinned != "":
		return fmt.Sprintf("host key for %s changed — possible man-in-the-middle: server offered %s, host_key_fingerprint pins %s",
			e.Host, offered, e.Pinned)
	case e.Changed:
		return fmt.Sprintf("host key for %s changed — possible man-in-the-middle: server offered %s, known_hosts has %s",
			e.Host, offered, strings.Join(e.Known, ", "))
	case len(e.Known) > 0:
		return fmt.Sprintf("host key for %s is unknown: server offered %s, known_hosts only has keys of other types (%s)",
			e.Host, offered, strings.Join(e.Known, ", "))
	default:
		return fmt.Sprintf("host key for %s is unknown: server offered %s, which is not in known_hosts (add it, e.g. with ssh-keyscan, or pin host_key_fingerprint)",
			e.Host, offered)
	}
}

func (e *HostKeyError) Unwrap() error { return e.Err }

// hostKeyCheck verifies the server's key during one handshake and
// remembers why it refused, so Dial can tell a host key failure from an
// authentication failure.
type hostKeyCheck struct {
	callback   ssh.HostKeyCallback
	algorithms []string // for ssh.ClientConfig.HostKeyAlgorithms; nil = defaults

	mu       sync.Mutex
	called   bool
	rejected error
}

// HostKeyCallback is the ssh.HostKeyCallback to install.
func (h *hostKeyCheck) HostKeyCallback(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := h.callback(hostname, remote, key)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.called = true
	h.rejected = err
	return err
}

// result reports whether the callback ran and the error it returned.
func (h *hostKeyCheck) result() (called bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.called, h.rejected
}

// newHostKeyCheck builds the verification the configuration asks for.
func newHostKeyCheck(cfg HostConfig, addr string, log *zap.Logger) (*hostKeyCheck, error) {
	switch {
	case cfg.HostKeyFingerprint != "":
		want, err := normalizeFingerprint(cfg.HostKeyFingerprint)
		if err != nil {
			return nil, err
		}
		return &hostKeyCheck{
			callback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
				got := ssh.FingerprintSHA256(key)
				if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
					return &HostKeyError{Host: addr, Offered: key, Changed: true, Pinned: want}
				}
				return nil
			},
			// A pin names one key; prefer ed25519 as OpenSSH does, so
			// that a server with several keys presents the one most
			// likely pinned.
			algorithms: preferredHostKeyAlgorithms(),
		}, nil
	case cfg.InsecureIgnoreHostKey:
		log.Warn("host key verification is disabled (insecure_ignore_host_key): any server, including a man-in-the-middle, is accepted",
			zap.String("address", addr))
		return &hostKeyCheck{callback: ssh.InsecureIgnoreHostKey()}, nil
	}
	file := cfg.KnownHostsFile
	if file == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("no known_hosts_file configured and no home directory: %w", err)
		}
		file = filepath.Join(home, ".ssh", "known_hosts")
	}
	cb, err := knownhosts.New(file)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts file %s: %w", file, err)
	}
	wrapped := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		if err == nil {
			return nil
		}
		he := &HostKeyError{Host: hostname, Offered: key, Err: err}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			he.Revoked = true
		case errors.As(err, &ke):
			for _, w := range ke.Want {
				he.Known = append(he.Known, fmt.Sprintf("%s %s at %s:%d", w.Key.Type(), ssh.FingerprintSHA256(w.Key), w.Filename, w.Line))
				if w.Key.Type() == key.Type() {
					he.Changed = true
				}
			}
		}
		return he
	}
	return &hostKeyCheck{callback: wrapped, algorithms: knownAlgorithms(cb, addr)}, nil
}

// knownAlgorithms returns the host key algorithms of the keys known_hosts
// holds for addr, so the server is asked for a key we can verify. Without
// this, x/crypto asks for its own first preference (ECDSA, then RSA) and a
// host known by its ed25519 key fails as "changed" — the classic knownhosts
// pitfall. It probes the callback with a key that matches nothing and reads
// the known keys from the KeyError. nil means no entry: offer the defaults.
func knownAlgorithms(cb ssh.HostKeyCallback, addr string) []string {
	remote := &net.TCPAddr{IP: net.IPv4zero} // unused: the hostname takes precedence
	var ke *knownhosts.KeyError
	if err := cb(addr, remote, probeKey{}); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	have := map[string]bool{}
	for _, w := range ke.Want {
		for _, a := range algorithmsForKeyType(w.Key.Type()) {
			have[a] = true
		}
	}
	var out []string
	for _, a := range preferredHostKeyAlgorithms() {
		if have[a] {
			out = append(out, a)
		}
	}
	return out
}

// preferredHostKeyAlgorithms is OpenSSH's client order: ed25519, ECDSA,
// then RSA with SHA-2, and SHA-1 RSA last for old servers.
func preferredHostKeyAlgorithms() []string {
	return []string{
		ssh.KeyAlgoED25519,
		ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
		ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA,
	}
}

// algorithmsForKeyType maps a key type to the signature algorithms a
// server holding such a key may use.
func algorithmsForKeyType(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	if slices.Contains(preferredHostKeyAlgorithms(), t) {
		return []string{t}
	}
	return nil
}

// probeKey is a public key no known_hosts line can match.
type probeKey struct{}

func (probeKey) Type() string                                 { return "sftpwatchd-probe" }
func (probeKey) Marshal() []byte                              { return []byte("\x00\x00\x00\x10sftpwatchd-probe") }
func (probeKey) Verify(data []byte, sig *ssh.Signature) error { return errors.New("probe key") }

// normalizeFingerprint accepts "SHA256:<base64>" with or without the
// padding OpenSSH omits, and returns it in ssh.FingerprintSHA256's form.
func normalizeFingerprint(fp string) (string, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(fp), "SHA256:")
	if !ok {
		return "", fmt.Errorf("host_key_fingerprint %q: want \"SHA256:...\" as printed by ssh-keygen -lf", fp)
	}
	b64 = strings.TrimRight(b64, "=")
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 32 {
		return "", fmt.Errorf("host_key_fingerprint %q: not a base64 SHA-256 digest", fp)
	}
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(raw), nil
}

var _ ssh.PublicKey = probeKey{}
