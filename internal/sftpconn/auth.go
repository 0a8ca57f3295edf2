package sftpconn

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"

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
