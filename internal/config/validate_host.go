package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
)

func (v *validator) host(h *Host, key string) {
	if v.p.has(key) {
		return // not a mapping: reported, and every check below would repeat it
	}
	if h.Name == "" {
		v.fail(key, "a host needs a name: the key under hosts:")
	}
	switch addr, err := normalizeAddress(h.Address); {
	case h.Address == "":
		v.fail(key+".address", "is required: host or host:port of the SFTP server")
	case err != "":
		v.fail(key+".address", "%s", err)
	default:
		h.Address = addr
	}
	if h.User == "" {
		v.fail(key+".user", "is required: the SSH user name")
	}
	if h.Password == "" && h.PrivateKeyFile == "" && !h.Agent &&
		!v.p.has(key+".password") && !v.p.has(key+".password_file") {
		v.fail(key, "has no way to authenticate: set password (or password_file), private_key_file, or agent: true")
	}
	if h.PrivateKeyFile == "" && (h.PrivateKeyPassphrase != "" || h.PrivateKeyPassphraseFile != "") {
		v.fail(key+".private_key_passphrase", "is set but private_key_file is not")
	}
	if h.CertificateFile != "" {
		if h.PrivateKeyFile == "" {
			v.fail(key+".certificate_file", "is set but private_key_file is not: a certificate is used with the private key it certifies")
		} else if err := checkUserCertificate(h.CertificateFile); err != "" {
			v.fail(key+".certificate_file", "%s", err)
		}
	}
	v.jump(h, key)

	var policies []string
	if v.set(key+".known_hosts_file") && h.KnownHostsFile != "" {
		policies = append(policies, "known_hosts_file")
	}
	if h.HostKeyFingerprint != "" {
		policies = append(policies, "host_key_fingerprint")
	}
	if h.InsecureIgnoreHostKey {
		policies = append(policies, "insecure_ignore_host_key")
	}
	if len(policies) > 1 {
		v.fail(key+"."+policies[1], "%s are alternative host key policies; set only one", strings.Join(policies, " and "))
	}
	if h.HostKeyFingerprint != "" {
		if err := checkFingerprint(h.HostKeyFingerprint); err != "" {
			v.fail(key+".host_key_fingerprint", "%s", err)
		}
	}

	if h.MaxConnections < 1 {
		v.fail(key+".max_connections", "must be at least 1")
	} else if h.MaxConcurrentRequests < h.MaxConnections {
		v.fail(key+".max_concurrent_requests", "(%d) must be at least max_connections (%d)", h.MaxConcurrentRequests, h.MaxConnections)
	}
	if h.ConnectTimeout <= 0 {
		v.fail(key+".connect_timeout", "must be positive, such as 10s")
	}
	if h.RequestTimeout <= 0 {
		v.fail(key+".request_timeout", "must be positive, such as 2m")
	}
	if h.Keepalive < 0 {
		v.fail(key+".keepalive", "must not be negative (0 disables keepalives)")
	}
	known := knownCiphers()
	for i, c := range h.Ciphers {
		ck := index(key+".ciphers", i)
		switch {
		case c == "":
			v.fail(ck, "is empty; name a cipher such as aes256-gcm@openssh.com")
		case !slices.Contains(known, c):
			v.fail(ck, "%q is not a cipher this program supports%s", truncate(c, 60), didYouMean(c, known))
		}
	}
}

// knownCiphers lists every cipher x/crypto/ssh implements, insecure ones
// included: naming one explicitly is the operator's choice.
func knownCiphers() []string {
	return append(ssh.SupportedAlgorithms().Ciphers, ssh.InsecureAlgorithms().Ciphers...)
}

// normalizeAddress adds the default port: "host" → "host:22",
// "[::1]" and "::1" → "[::1]:22". It returns what is wrong, or "".
func normalizeAddress(a string) (string, string) {
	if a == "" {
		return "", "is empty"
	}
	if strings.Contains(a, "@") {
		// Not quoted: "user:password@host" would show the password.
		return "", "must be host or host:port, without a scheme, user or path (the value is not shown: it holds an @, perhaps with a password)"
	}
	if strings.ContainsAny(a, " \t\r\n/") {
		return "", fmt.Sprintf("%q must be host or host:port, without a scheme, user or path", truncate(a, 80))
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		// No port (or a bare IPv6 address).
		host = a
		if strings.HasPrefix(a, "[") && strings.HasSuffix(a, "]") {
			host = a[1 : len(a)-1]
		}
		if host == "" || strings.ContainsAny(host, "[]") ||
			(strings.Contains(host, ":") && net.ParseIP(host) == nil) {
			return "", fmt.Sprintf("%q is not a valid host or host:port", truncate(a, 80))
		}
		return net.JoinHostPort(host, DefaultSSHPort), ""
	}
	if host == "" {
		return "", fmt.Sprintf("%q has no host name", truncate(a, 80))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Sprintf("%q has an invalid port (1-65535)", truncate(a, 80))
	}
	return net.JoinHostPort(host, port), ""
}

// checkFingerprint accepts the form ssh-keygen -l prints: "SHA256:" and the
// unpadded base64 of a 32-byte hash (padding is tolerated).
func checkFingerprint(fp string) string {
	const usage = `must look like "SHA256:" followed by base64, as printed by ssh-keygen -lf or ssh-keyscan | ssh-keygen -lf -`
	b64, ok := strings.CutPrefix(fp, "SHA256:")
	if !ok {
		return usage
	}
	sum, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
	if err != nil || len(sum) != 32 {
		return usage + "; the part after SHA256: is not the base64 of a SHA-256 hash"
	}
	return ""
}

// maxCertificateFile bounds what certificate_file may hold.
const maxCertificateFile = 64 << 10

// checkUserCertificate reports what is wrong with an OpenSSH user
// certificate file, or "". Whether it matches the private key and is
// valid now is checked when connecting (the file is read on every dial,
// so a renewed certificate needs no reload).
func checkUserCertificate(path string) string {
	data, err := readLimited(path, maxCertificateFile)
	if err != nil {
		return fmt.Sprintf("cannot read the certificate: %v", err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return fmt.Sprintf("%s is not an OpenSSH certificate (give the -cert.pub file ssh-keygen -s writes): %v", path, err)
	}
	cert, ok := pub.(*ssh.Certificate)
	switch {
	case !ok:
		return fmt.Sprintf("%s holds a plain %s public key, not a certificate; sign the key with ssh-keygen -s CA_KEY -I ID -n USER KEY.pub and give the -cert.pub file", path, pub.Type())
	case cert.CertType != ssh.UserCert:
		return fmt.Sprintf("%s is a host certificate (ssh-keygen -h); give a user certificate", path)
	}
	return ""
}

// maxJumpHops is the longest chain of jump hosts a host may use (as
// sftpconn allows).
const maxJumpHops = 8

// jump checks hosts.NAME.jump: it names another defined host, and
// following jumps from h never comes back to h.
func (v *validator) jump(h *Host, key string) {
	if h.Jump == "" {
		if v.set(key + ".jump") {
			v.fail(key+".jump", "is empty; name another host under hosts: to connect through, or remove the setting")
		}
		return
	}
	jk := key + ".jump"
	if _, ok := v.c.Hosts[h.Jump]; !ok {
		v.fail(jk, "names host %q, which is not defined under hosts:%s", truncate(h.Jump, 60), didYouMean(h.Jump, sortedKeys(v.c.Hosts)))
		return
	}
	chain := []string{h.Name}
	for next := h.Jump; next != ""; next = v.c.Hosts[next].Jump {
		if slices.Contains(chain, next) {
			v.fail(jk, "makes a loop of jump hosts (%s); a jump host must reach its server without going through it",
				strings.Join(append(chain, next), " -> "))
			return
		}
		if _, ok := v.c.Hosts[next]; !ok {
			return // reported at that host's own jump key
		}
		chain = append(chain, next)
		if len(chain) > maxJumpHops+1 {
			v.fail(jk, "starts a chain of more than %d jump hosts (%s)", maxJumpHops, strings.Join(chain, " -> "))
			return
		}
	}
}

// resolveJumps sets every host's JumpHost from its jump key, once the
// config is valid (no unknown names, no loops).
func resolveJumps(c *Config) {
	var resolve func(name string) *Host
	resolve = func(name string) *Host {
		h := c.Hosts[name]
		if h.Jump != "" {
			h.JumpHost = resolve(h.Jump)
		}
		return &h
	}
	for name := range c.Hosts {
		c.Hosts[name] = *resolve(name)
	}
}
