package sftpconn

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Defaults applied by Dial and NewPool to zero fields of a HostConfig
// (SPEC section 3).
const (
	DefaultPort                  = "22"
	DefaultMaxConnections        = 4
	DefaultMaxConcurrentRequests = 64
	DefaultConnectTimeout        = 10 * time.Second
	DefaultKeepalive             = 30 * time.Second
	DefaultRequestTimeout        = 2 * time.Minute
)

// HostConfig is how to reach and authenticate to one SFTP server. Secrets
// are plain values here: the config package has already read them from
// their *_file keys.
type HostConfig struct {
	Name     string // the host's name in the config, used in messages and metrics
	Address  string // host or host:port; the port defaults to 22
	User     string
	Password string // used for password and keyboard-interactive auth

	PrivateKeyFile       string // OpenSSH or PEM; ed25519, ECDSA or RSA
	PrivateKeyPassphrase string // for an encrypted PrivateKeyFile
	// CertificateFile is an OpenSSH user certificate (ssh-keygen -s) for
	// PrivateKeyFile's key, offered before the plain key. It is read on
	// every dial, so a renewed certificate is used without a restart; one
	// that is expired or not yet valid fails the dial (OpAuth).
	CertificateFile string

	Agent       bool   // offer the keys of a running ssh-agent
	AgentSocket string // default $SSH_AUTH_SOCK

	// Host key verification: HostKeyFingerprint ("SHA256:...") pins one
	// key and takes precedence; otherwise KnownHostsFile (default
	// ~/.ssh/known_hosts) is consulted. InsecureIgnoreHostKey accepts any
	// key, only when set explicitly, and logs a warning on every dial.
	KnownHostsFile        string
	HostKeyFingerprint    string
	InsecureIgnoreHostKey bool

	Ciphers []string // in order of preference; empty = x/crypto's defaults

	MaxConnections        int           // SSH connections a Pool may open (default 4)
	MaxConcurrentRequests int           // Pool.Do calls in flight (default 64)
	ConnectTimeout        time.Duration // TCP connect + SSH handshake + SFTP init (default 10s)
	Keepalive             time.Duration // keepalive@openssh.com interval (default 30s; negative disables)
	// RequestTimeout is how long the server may leave a request (or a
	// download or find listing: its progress) unanswered before the
	// connection is closed (default 2m).
	RequestTimeout time.Duration

	// Jump is the host to connect through, as ssh's ProxyJump: Dial
	// first connects to Jump (its own host key check, auth and timeouts;
	// Jump may have a Jump of its own), then opens a direct-tcpip channel
	// to Address, which is resolved and connected from the jump host. The
	// host key check and auth of this host run over that channel. nil
	// connects directly.
	Jump *HostConfig
}

// withDefaults returns c with zero fields defaulted.
func (c HostConfig) withDefaults() HostConfig {
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxConcurrentRequests <= 0 {
		c.MaxConcurrentRequests = DefaultMaxConcurrentRequests
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	return c
}

// Addr is Address with the port defaulted to 22.
func (c HostConfig) Addr() string {
	if _, _, err := net.SplitHostPort(c.Address); err == nil {
		return c.Address
	}
	h := strings.TrimSuffix(strings.TrimPrefix(c.Address, "["), "]")
	return net.JoinHostPort(h, DefaultPort)
}

// displayName is Name, or the address when the host has no name.
func (c HostConfig) displayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Address
}

// Validate reports settings Dial cannot use, before any network I/O.
func (c HostConfig) Validate() error {
	if c.Address == "" {
		return fmt.Errorf("address is empty")
	}
	if c.User == "" {
		return fmt.Errorf("user is empty")
	}
	if c.Password == "" && c.PrivateKeyFile == "" && !c.Agent {
		return fmt.Errorf("no authentication configured: set password, private_key_file or agent")
	}
	if c.CertificateFile != "" && c.PrivateKeyFile == "" {
		return fmt.Errorf("certificate_file is set but private_key_file is not: a certificate needs its private key")
	}
	if err := c.checkJumpChain(); err != nil {
		return err
	}
	if c.HostKeyFingerprint != "" {
		if _, err := normalizeFingerprint(c.HostKeyFingerprint); err != nil {
			return err
		}
	}
	_, err := c.ciphers()
	return err
}

// maxJumpHops bounds a chain of jump hosts (a guard against a cycle built
// in code; the config package rejects cycles with the key path).
const maxJumpHops = 8

// checkJumpChain refuses a chain of jump hosts that loops or is absurdly
// long.
func (c HostConfig) checkJumpChain() error {
	seen := []string{c.displayName()}
	for j := c.Jump; j != nil; j = j.Jump {
		if slices.Contains(seen, j.displayName()) || len(seen) > maxJumpHops {
			return fmt.Errorf("jump hosts form a loop or a chain longer than %d hops: %s", maxJumpHops,
				strings.Join(append(seen, j.displayName()), " -> "))
		}
		seen = append(seen, j.displayName())
	}
	return nil
}

// route is the chain of host names from the outermost jump host to c, for
// messages: ["bastion", "inner"].
func (c HostConfig) route() []string {
	var out []string
	for j := c.Jump; j != nil && len(out) <= maxJumpHops; j = j.Jump {
		out = append([]string{j.displayName()}, out...)
	}
	return append(out, c.displayName())
}

// ciphers validates Ciphers against what x/crypto implements and returns
// them, or nil for the defaults.
func (c HostConfig) ciphers() ([]string, error) {
	if len(c.Ciphers) == 0 {
		return nil, nil
	}
	known := slices.Concat(ssh.SupportedAlgorithms().Ciphers, ssh.InsecureAlgorithms().Ciphers)
	for _, name := range c.Ciphers {
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("unknown cipher %q (supported: %s)", name,
				strings.Join(ssh.SupportedAlgorithms().Ciphers, ", "))
		}
	}
	return slices.Clone(c.Ciphers), nil
}

// insecureCiphers lists the configured ciphers x/crypto considers weak.
func (c HostConfig) insecureCiphers() []string {
	var out []string
	for _, name := range c.Ciphers {
		if slices.Contains(ssh.InsecureAlgorithms().Ciphers, name) {
			out = append(out, name)
		}
	}
	return out
}

// SecurityOptions are the algorithms a dial with this config offers, in
// order of preference: pysftp's security_options. The host key list is the
// one used when known_hosts has no entry for the host (with an entry, only
// the algorithms of the known keys are offered).
func (c HostConfig) SecurityOptions() ssh.Algorithms {
	a := ssh.SupportedAlgorithms()
	if ciphers, err := c.ciphers(); err == nil && ciphers != nil {
		a.Ciphers = ciphers
	}
	a.HostKeys = preferredHostKeyAlgorithms()
	return a
}
