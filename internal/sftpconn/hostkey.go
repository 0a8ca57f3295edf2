package sftpconn

import (
	"bytes"
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
	Changed    bool
	Known      []string      // "file:line" of the entries known_hosts has for the host
	Pinned     string        // the configured fingerprint, when pinning
	Revoked    bool          // the key (or, for a certificate, its key or CA) is marked @revoked
	RevokedKey ssh.PublicKey // the key the @revoked line names
	// Cert is the certificate the server presented as its host key, when
	// it did; Untrusted: its CA is no @cert-authority for the host.
	Cert      *ssh.Certificate
	Untrusted bool
	// CAOnly: known_hosts has only @cert-authority lines for the host and
	// the server presented a plain key.
	CAOnly bool
	Err    error // the knownhosts or certificate check error, if any
}

func (e *HostKeyError) Error() string {
	offered := e.Offered.Type() + " " + ssh.FingerprintSHA256(e.Offered)
	if e.Cert != nil {
		offered = fmt.Sprintf("host certificate %s for key %s signed by CA %s %s", e.Cert.Type(),
			ssh.FingerprintSHA256(e.Cert.Key), e.Cert.SignatureKey.Type(), ssh.FingerprintSHA256(e.Cert.SignatureKey))
	}
	switch {
	case e.Revoked && e.RevokedKey != nil:
		return fmt.Sprintf("host key for %s is refused: server offered %s, and key %s %s is marked @revoked in known_hosts",
			e.Host, offered, e.RevokedKey.Type(), ssh.FingerprintSHA256(e.RevokedKey))
	case e.Revoked:
		return fmt.Sprintf("host key %s for %s is marked @revoked in known_hosts", offered, e.Host)
	case e.Cert != nil && e.Untrusted && len(e.Known) == 0:
		return fmt.Sprintf("host certificate for %s is unknown: server offered %s, and known_hosts has no entry for the host (add \"@cert-authority HOST_PATTERNS CA_KEY\" or the host's key)",
			e.Host, offered)
	case e.Cert != nil && e.Untrusted:
		return fmt.Sprintf("host certificate for %s is not trusted: server offered %s, and known_hosts has no @cert-authority line for that CA matching the host (entries for the host: %s)",
			e.Host, offered, knownText(e.Known))
	case e.Cert != nil:
		return fmt.Sprintf("host certificate for %s is refused: server offered %s: %v", e.Host, offered, e.Err)
	case e.CAOnly:
		return fmt.Sprintf("host key for %s is unknown: server offered the plain key %s, but known_hosts only trusts host certificates for it (%s); give the server a HostCertificate or add its key",
			e.Host, offered, knownText(e.Known))
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

// knownText joins entry descriptions, or says there are none.
func knownText(known []string) string {
	if len(known) == 0 {
		return "none"
	}
	return strings.Join(known, ", ")
}

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
	known, err := knownFor(cb, file, addr)
	if err != nil {
		return nil, err
	}
	check := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		return known.verify(cb, hostname, remote, key)
	}
	return &hostKeyCheck{callback: check, algorithms: known.algorithms()}, nil
}

// knownEntries is what known_hosts says about one address: its plain host
// keys and the @cert-authority keys trusted to sign its host certificates.
// knownhosts does the matching (host patterns, hashed names, @revoked);
// the file is read here only to tell which matching line carries the
// @cert-authority marker, since knownhosts.KeyError does not say.
type knownEntries struct {
	plain, ca []knownhosts.KnownKey
}

// knownFor probes cb for the entries matching addr, with a key no line
// can match: knownhosts reports every line for the host in its KeyError.
func knownFor(cb ssh.HostKeyCallback, file, addr string) (knownEntries, error) {
	var out knownEntries
	remote := &net.TCPAddr{IP: net.IPv4zero} // unused: the hostname takes precedence
	var ke *knownhosts.KeyError
	if err := cb(addr, remote, probeKey{}); !errors.As(err, &ke) || len(ke.Want) == 0 {
		return out, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return out, fmt.Errorf("read known_hosts file %s: %w", file, err)
	}
	lines := strings.Split(string(data), "\n")
	for _, w := range ke.Want {
		if w.Line >= 1 && w.Line <= len(lines) && strings.HasPrefix(strings.TrimSpace(lines[w.Line-1]), markerCertAuthority) {
			out.ca = append(out.ca, w)
		} else {
			out.plain = append(out.plain, w)
		}
	}
	return out, nil
}

const markerCertAuthority = "@cert-authority"

// algorithms returns the host key algorithms to ask the server for, so
// that it presents a key we can verify. Without this, x/crypto asks for
// its own first preference (ECDSA, then RSA) and a host known by its
// ed25519 key fails as "changed" — the classic knownhosts pitfall. With a
// @cert-authority for the host, certificates come first (as OpenSSH
// does), then the plain keys known, or every plain algorithm so that a
// server without a certificate is refused with a clear message rather
// than a failed negotiation. nil means no entry: offer the defaults.
func (k knownEntries) algorithms() []string {
	if len(k.plain) == 0 && len(k.ca) == 0 {
		return nil
	}
	var out []string
	if len(k.ca) > 0 {
		out = append(out, preferredCertAlgorithms()...)
		if len(k.plain) == 0 {
			return append(out, preferredHostKeyAlgorithms()...)
		}
	}
	have := map[string]bool{}
	for _, w := range k.plain {
		for _, a := range algorithmsForKeyType(w.Key.Type()) {
			have[a] = true
		}
	}
	for _, a := range preferredHostKeyAlgorithms() {
		if have[a] {
			out = append(out, a)
		}
	}
	return out
}

// verify checks the server's key as OpenSSH does: a plain key must be a
// plain known_hosts entry for the host (knownhosts alone would also accept
// a @cert-authority key offered as a host key); a certificate must be
// signed by a @cert-authority for the host and be valid (knownhosts'
// CertChecker), or else its plain key must be a plain entry; a key,
// certified key or CA key marked @revoked is refused.
func (k knownEntries) verify(cb ssh.HostKeyCallback, hostname string, remote net.Addr, key ssh.PublicKey) error {
	cert, isCert := key.(*ssh.Certificate)
	err := cb(hostname, remote, key)
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return &HostKeyError{Host: hostname, Offered: key, Revoked: true, RevokedKey: re.Revoked.Key, Err: err}
	case !isCert && err == nil && !k.hasPlain(key):
		err = &knownhosts.KeyError{Want: k.plain}
	case !isCert:
	case err == nil:
		return nil
	default:
		// knownhosts' CertChecker refused the certificate: revoked (the
		// certified key or its CA), signed by a CA not trusted for this
		// host, or invalid (expired, principals, signature).
		for _, rk := range []ssh.PublicKey{cert.Key, cert.SignatureKey} {
			if errors.As(cb(hostname, remote, rk), &re) {
				return &HostKeyError{Host: hostname, Offered: key, Cert: cert, Revoked: true, RevokedKey: rk, Err: err}
			}
		}
		// Not revoked: OpenSSH then falls back to the certified plain
		// key ("Retry with plain key").
		if k.hasPlain(cert.Key) {
			return nil
		}
		if k.hasCA(cert.SignatureKey) {
			return &HostKeyError{Host: hostname, Offered: key, Cert: cert, Known: k.describe(), Err: err}
		}
		return &HostKeyError{Host: hostname, Offered: key, Cert: cert, Untrusted: true, Known: k.describe(), Err: err}
	}
	if err == nil {
		return nil
	}
	he := &HostKeyError{Host: hostname, Offered: key, Err: err}
	var ke *knownhosts.KeyError
	if errors.As(err, &ke) {
		he.Known = k.describe()
		for _, w := range k.plain {
			if w.Key.Type() == key.Type() {
				he.Changed = true
			}
		}
		he.CAOnly = len(k.plain) == 0 && len(k.ca) > 0
	}
	return he
}

func (k knownEntries) hasPlain(key ssh.PublicKey) bool { return containsKey(k.plain, key) }
func (k knownEntries) hasCA(key ssh.PublicKey) bool    { return containsKey(k.ca, key) }

func containsKey(list []knownhosts.KnownKey, key ssh.PublicKey) bool {
	for _, w := range list {
		if bytes.Equal(w.Key.Marshal(), key.Marshal()) {
			return true
		}
	}
	return false
}

// describe lists the entries for a message: "ssh-ed25519 SHA256:… at
// file:line", CA lines marked as such.
func (k knownEntries) describe() []string {
	var out []string
	for _, w := range k.plain {
		out = append(out, fmt.Sprintf("%s %s at %s:%d", w.Key.Type(), ssh.FingerprintSHA256(w.Key), w.Filename, w.Line))
	}
	for _, w := range k.ca {
		out = append(out, fmt.Sprintf("@cert-authority %s %s at %s:%d", w.Key.Type(), ssh.FingerprintSHA256(w.Key), w.Filename, w.Line))
	}
	return out
}

// preferredCertAlgorithms is OpenSSH's client order of host certificate
// algorithms.
func preferredCertAlgorithms() []string {
	return []string{
		ssh.CertAlgoED25519v01,
		ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
		ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01,
	}
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
