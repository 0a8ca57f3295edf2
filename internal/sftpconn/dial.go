package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"
)

// maxConcurrentRequestsPerFile is how many read or write requests pkg/sftp
// keeps in flight for one file transfer.
const maxConcurrentRequestsPerFile = 64

// Dial connects to the host, verifies its host key, authenticates and
// starts the sftp subsystem. ctx and cfg.ConnectTimeout bound the whole
// sequence (TCP connect, SSH handshake, SFTP init). The returned Client
// sends keepalives every cfg.Keepalive and closes itself when the server
// stops answering, so pending requests fail instead of hanging. Errors are
// *DialError; classify them with IsAuthError, IsHostKeyError and
// IsConnectionError.
func Dial(ctx context.Context, cfg HostConfig, log *zap.Logger) (*Client, error) {
	c, _, err := dial(ctx, cfg, log)
	return c, err
}

// dial is Dial that also returns a channel closed when the SSH connection
// ends, for any reason: the pool uses it to drop dead connections.
func dial(ctx context.Context, cfg HostConfig, log *zap.Logger) (*Client, <-chan struct{}, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	addr := cfg.Addr()
	fail := func(op string, err error) (*Client, <-chan struct{}, error) {
		return nil, nil, &DialError{Host: cfg.displayName(), Addr: addr, Op: op, Err: err}
	}
	if err := cfg.Validate(); err != nil {
		return fail(OpConfig, err)
	}
	ciphers, err := cfg.ciphers()
	if err != nil {
		return fail(OpConfig, err)
	}
	if weak := cfg.insecureCiphers(); len(weak) > 0 {
		log.Warn("configured ciphers include ones with known weaknesses", zap.Strings("ciphers", weak))
	}
	hk, err := newHostKeyCheck(cfg, addr, log)
	if err != nil {
		return fail(OpConfig, err)
	}
	tried := &authAttempts{}
	auth, err := buildAuth(cfg, tried)
	if err != nil {
		return fail(OpAuth, err)
	}
	defer auth.close() // the agent is only needed during authentication

	dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	timedOut := func(err error) error {
		// The socket deadline may fire a moment before dctx's timer.
		if ctx.Err() == nil && (dctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) {
			return fmt.Errorf("no answer within connect_timeout %v: %w (%w)", cfg.ConnectTimeout, context.DeadlineExceeded, err)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return err
	}

	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return fail(OpConnect, timedOut(err))
	}
	// The handshake and SFTP init have no context of their own: a
	// deadline on the socket, and cutting it when ctx ends, bound them.
	if dl, ok := dctx.Deadline(); ok {
		conn.SetDeadline(dl) //nolint:errcheck // a closed conn fails the handshake anyway
	}
	stopCut := context.AfterFunc(dctx, func() { conn.SetDeadline(time.Unix(1, 0)) }) //nolint:errcheck

	sshCfg := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              auth.methods,
		HostKeyCallback:   hk.HostKeyCallback,
		HostKeyAlgorithms: hk.algorithms,
		ClientVersion:     "SSH-2.0-sftpwatchd",
	}
	sshCfg.Ciphers = ciphers
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, sshCfg)
	if err != nil {
		stopCut()
		conn.Close()
		called, rejected := hk.result()
		switch {
		case rejected != nil:
			return fail(OpHostKey, rejected)
		case called && !IsConnectionError(err) && dctx.Err() == nil:
			// The host key was accepted and the server then refused
			// every credential we offered.
			return fail(OpAuth, fmt.Errorf("authentication failed for user %q (%s): %w", cfg.User, triedText(tried.list()), err))
		default:
			return fail(OpHandshake, fmt.Errorf("SSH handshake: %w", timedOut(err)))
		}
	}
	sshc := ssh.NewClient(sc, chans, reqs)
	auth.close()

	dead := make(chan struct{})
	go func() {
		sshc.Wait() //nolint:errcheck // the reason is seen by the requests that fail
		close(dead)
	}()

	sftpc, err := sftp.NewClient(sshc,
		sftp.UseConcurrentReads(true),
		sftp.UseConcurrentWrites(true),
		sftp.MaxConcurrentRequestsPerFile(maxConcurrentRequestsPerFile))
	stopped := stopCut()
	if err == nil && !stopped {
		err = timedOut(context.DeadlineExceeded) // the cut fired: the socket is poisoned
	}
	if err != nil {
		sshc.Close()
		<-dead
		return fail(OpSFTP, fmt.Errorf("start sftp subsystem: %w", timedOut(err)))
	}
	conn.SetDeadline(time.Time{}) //nolint:errcheck

	if cfg.Keepalive > 0 {
		go keepalive(sshc, cfg.Keepalive, dead, log)
	}
	log.Debug("connected", zap.String("address", addr), zap.String("server_version", string(sshc.ServerVersion())),
		zap.Strings("auth", tried.list()))
	c := NewClient(sshc, sftpc)
	c.watchRequests(cfg.displayName(), cfg.RequestTimeout, log)
	return c, dead, nil
}

// keepalive sends keepalive@openssh.com every interval and closes the
// connection when no reply came for three intervals, so requests blocked
// on a dead server (a frozen NAT entry, a pulled cable) fail. It returns
// when the connection ends (dead is closed).
func keepalive(sshc *ssh.Client, interval time.Duration, dead <-chan struct{}, log *zap.Logger) {
	deadAfter := 3 * interval
	t := time.NewTicker(interval)
	defer t.Stop()
	replies := make(chan struct{}, 1)
	pending := false
	last := time.Now()
	for {
		select {
		case <-dead:
			return
		case <-replies:
			pending = false
			last = time.Now()
		case <-t.C:
			if time.Since(last) > deadAfter {
				log.Warn("closing connection: server stopped answering keepalives",
					zap.Duration("silent_for", time.Since(last).Round(time.Millisecond)))
				sshc.Close()
				return
			}
			if !pending {
				pending = true
				go func() {
					// OpenSSH answers with a failure; any answer proves
					// the server is alive. An error means the
					// connection closed, which dead reports.
					if _, _, err := sshc.SendRequest("keepalive@openssh.com", true, nil); err == nil {
						replies <- struct{}{}
					}
				}()
			}
		}
	}
}

// ServerVersion is the SSH identification string the server sent, e.g.
// "SSH-2.0-OpenSSH_9.2p1 Debian-2", or "" without an SSH connection.
func (c *Client) ServerVersion() string {
	if c.ssh == nil {
		return ""
	}
	return string(c.ssh.ServerVersion())
}

// NegotiatedAlgorithms reports the key exchange, host key, cipher and MAC
// algorithms agreed in the last key exchange; ok is false without an SSH
// connection.
func (c *Client) NegotiatedAlgorithms() (algs ssh.NegotiatedAlgorithms, ok bool) {
	if c.ssh == nil {
		return algs, false
	}
	am, ok := c.ssh.Conn.(ssh.AlgorithmsConnMetadata)
	if !ok {
		return algs, false
	}
	return am.Algorithms(), true
}

// ActiveCiphers returns the ciphers in use for sending and receiving
// (pysftp's active_ciphers), or empty strings without an SSH connection.
func (c *Client) ActiveCiphers() (local, remote string) {
	algs, ok := c.NegotiatedAlgorithms()
	if !ok {
		return "", ""
	}
	return algs.Write.Cipher, algs.Read.Cipher
}
