package sftpconn

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// maxKeyboardInteractiveRounds bounds how often a server may prompt before
// the client gives up (a wrong password would otherwise be resent for as
// long as the server keeps asking).
const maxKeyboardInteractiveRounds = 3

// authAttempts records which authentication methods the handshake
// actually used: Dial reports them, and they prove no credential was sent
// before the host key was accepted.
type authAttempts struct {
	mu    sync.Mutex
	tried []string
}

func (a *authAttempts) note(method string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !slices.Contains(a.tried, method) {
		a.tried = append(a.tried, method)
	}
}

func (a *authAttempts) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.tried)
}

// authSetup is the auth methods of one dial and what to release after the
// handshake.
type authSetup struct {
	methods []ssh.AuthMethod
	close   func()
}

// buildAuth returns the methods in the order they are tried: public keys
// (the key file, then the agent's keys, as one "publickey" method since
// x/crypto tries each method name once), password, keyboard-interactive.
func buildAuth(cfg HostConfig, tried *authAttempts) (authSetup, error) {
	setup := authSetup{close: func() {}}
	var signers []ssh.Signer
	if cfg.PrivateKeyFile != "" {
		s, err := loadPrivateKey(cfg.PrivateKeyFile, cfg.PrivateKeyPassphrase)
		if err != nil {
			return setup, err
		}
		if cfg.CertificateFile != "" {
			// The certificate first, then the plain key, as OpenSSH
			// offers them.
			cs, err := loadCertSigner(cfg.CertificateFile, cfg.PrivateKeyFile, s, time.Now())
			if err != nil {
				return setup, err
			}
			signers = append(signers, cs)
		}
		signers = append(signers, s)
	}
	var agentClient agent.ExtendedAgent
	if cfg.Agent {
		sock := cfg.AgentSocket
		if sock == "" {
			sock = os.Getenv("SSH_AUTH_SOCK")
		}
		if sock == "" {
			return setup, errors.New("agent is enabled but SSH_AUTH_SOCK is not set")
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return setup, fmt.Errorf("connect to ssh-agent at %s: %w", sock, err)
		}
		setup.close = func() { conn.Close() }
		agentClient = agent.NewClient(conn)
	}
	if len(signers) > 0 || agentClient != nil {
		setup.methods = append(setup.methods, ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			tried.note("publickey")
			out := slices.Clone(signers)
			if agentClient != nil {
				as, err := agentClient.Signers()
				if err != nil {
					return nil, fmt.Errorf("list ssh-agent keys: %w", err)
				}
				out = append(out, as...)
			}
			return out, nil
		}))
	}
	if cfg.Password != "" {
		pw := cfg.Password
		setup.methods = append(setup.methods,
			ssh.PasswordCallback(func() (string, error) {
				tried.note("password")
				return pw, nil
			}),
			ssh.KeyboardInteractive(keyboardInteractive(cfg.User, pw, tried)))
	}
	if len(setup.methods) == 0 {
		setup.close()
		return setup, errors.New("no authentication configured: set password, private_key_file or agent")
	}
	return setup, nil
}

// keyboardInteractive answers hidden prompts with the password and echoed
// ones (a "login:" question) with the user name, for servers that accept
// passwords only through keyboard-interactive (PAM).
func keyboardInteractive(user, password string, tried *authAttempts) ssh.KeyboardInteractiveChallenge {
	rounds := 0
	return func(_, _ string, questions []string, echos []bool) ([]string, error) {
		tried.note("keyboard-interactive")
		if len(questions) == 0 {
			return nil, nil // an informational round
		}
		rounds++
		if rounds > maxKeyboardInteractiveRounds {
			return nil, fmt.Errorf("server prompted %d times; giving up", rounds-1)
		}
		answers := make([]string, len(questions))
		for i := range questions {
			if i < len(echos) && echos[i] {
				answers[i] = user
			} else {
				answers[i] = password
			}
		}
		return answers, nil
	}
}

// loadPrivateKey parses an OpenSSH or PEM private key file, decrypting it
// with passphrase when it is encrypted.
func loadPrivateKey(path, passphrase string) (ssh.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return s, nil
	case !errors.As(err, &missing):
		return nil, fmt.Errorf("private key %s: %w", path, err)
	case passphrase == "":
		return nil, fmt.Errorf("private key %s is encrypted and no passphrase is configured (private_key_passphrase)", path)
	}
	s, err = ssh.ParsePrivateKeyWithPassphrase(data, []byte(passphrase))
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, x509.IncorrectPasswordError):
		return nil, fmt.Errorf("private key %s: wrong passphrase: %w", path, err)
	default:
		// Legacy PEM decryption has no check value: a wrong passphrase
		// shows up as garbage that does not parse.
		return nil, fmt.Errorf("private key %s: cannot decrypt with the configured passphrase (wrong passphrase?): %w", path, err)
	}
}

// triedText renders the attempted methods for a message.
func triedText(tried []string) string {
	if len(tried) == 0 {
		return "the server accepted none of the configured methods"
	}
	return "tried " + strings.Join(tried, ", ")
}

// CertificateError is a user certificate (certificate_file) that cannot be
// used: unreadable, not an OpenSSH user certificate, issued for another
// key than private_key_file's, or outside its validity window. Dial
// reports it as an OpAuth failure before connecting.
type CertificateError struct {
	File    string // the certificate file
	KeyFile string // the private key file it must certify
	// Set when the certificate is outside its validity window; a zero
	// ValidBefore means "forever".
	ValidAfter, ValidBefore time.Time
	Now                     time.Time
	Reason                  string // what is wrong, one clause
	Err                     error  // the parse error, if any
}

func (e *CertificateError) Error() string {
	if !e.Now.IsZero() {
		return fmt.Sprintf("certificate_file %s %s: it is %s, now is %s; issue a new certificate (ssh-keygen -s CA -I ID -n USER -V ...)",
			e.File, e.Reason, validityText(e.ValidAfter, e.ValidBefore), e.Now.UTC().Format(time.RFC3339))
	}
	if e.Err != nil {
		return fmt.Sprintf("certificate_file %s %s: %v", e.File, e.Reason, e.Err)
	}
	return fmt.Sprintf("certificate_file %s %s", e.File, e.Reason)
}

func (e *CertificateError) Unwrap() error { return e.Err }

// validityText renders a certificate's validity window; a zero bound is
// open.
func validityText(after, before time.Time) string {
	switch {
	case after.IsZero() && before.IsZero():
		return "valid forever"
	case after.IsZero():
		return "valid until " + before.UTC().Format(time.RFC3339)
	case before.IsZero():
		return "valid from " + after.UTC().Format(time.RFC3339)
	}
	return "valid from " + after.UTC().Format(time.RFC3339) + " until " + before.UTC().Format(time.RFC3339)
}

// certTime converts a certificate's validity bound (seconds since the
// epoch; CertTimeInfinity and anything beyond int64 mean "forever") into
// a time; the zero time for "forever" and for 0 (no lower bound).
func certTime(v uint64) time.Time {
	if v == 0 || v == ssh.CertTimeInfinity || v > 1<<62 {
		return time.Time{}
	}
	return time.Unix(int64(v), 0)
}

// loadCertSigner reads an OpenSSH user certificate and returns the signer
// that offers it with key. The certificate must certify key and be valid
// at now.
func loadCertSigner(certFile, keyFile string, key ssh.Signer, now time.Time) (ssh.Signer, error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, &CertificateError{File: certFile, KeyFile: keyFile, Reason: "cannot be read", Err: err}
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil, &CertificateError{File: certFile, KeyFile: keyFile, Reason: "is not an OpenSSH certificate (the -cert.pub file ssh-keygen -s writes)", Err: err}
	}
	cert, ok := pub.(*ssh.Certificate)
	switch {
	case !ok:
		return nil, &CertificateError{File: certFile, KeyFile: keyFile,
			Reason: fmt.Sprintf("holds a plain %s public key, not a certificate (sign it with ssh-keygen -s)", pub.Type())}
	case cert.CertType != ssh.UserCert:
		return nil, &CertificateError{File: certFile, KeyFile: keyFile,
			Reason: "is a host certificate (ssh-keygen -h); a user certificate is needed"}
	case !bytes.Equal(cert.Key.Marshal(), key.PublicKey().Marshal()):
		return nil, &CertificateError{File: certFile, KeyFile: keyFile,
			Reason: fmt.Sprintf("certifies key %s, but private_key_file %s is key %s; configure the certificate issued for this key",
				ssh.FingerprintSHA256(cert.Key), keyFile, ssh.FingerprintSHA256(key.PublicKey()))}
	}
	after, before := certTime(cert.ValidAfter), certTime(cert.ValidBefore)
	switch {
	case !after.IsZero() && now.Before(after):
		return nil, &CertificateError{File: certFile, KeyFile: keyFile, ValidAfter: after, ValidBefore: before, Now: now,
			Reason: "is not yet valid"}
	case !before.IsZero() && !now.Before(before):
		return nil, &CertificateError{File: certFile, KeyFile: keyFile, ValidAfter: after, ValidBefore: before, Now: now,
			Reason: "has expired"}
	}
	cs, err := ssh.NewCertSigner(cert, key)
	if err != nil {
		return nil, &CertificateError{File: certFile, KeyFile: keyFile, Reason: "cannot be used with private_key_file " + keyFile, Err: err}
	}
	return cs, nil
}
