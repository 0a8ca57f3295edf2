package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
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
	dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	h, err := connect(ctx, dctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	sftpc, err := sftp.NewClient(h.ssh,
		sftp.UseConcurrentReads(true),
		sftp.UseConcurrentWrites(true),
		sftp.MaxConcurrentRequestsPerFile(maxConcurrentRequestsPerFile))
	stopped := h.stopCut()
	if err == nil && !stopped {
		err = h.timedOut(context.DeadlineExceeded) // the cut fired: the socket is poisoned
	}
	if err != nil {
		h.ssh.Close()
		<-h.dead
		return nil, nil, h.fail(OpSFTP, fmt.Errorf("start sftp subsystem: %w", h.timedOut(err)))
	}
	h.release()
	c := NewClient(h.ssh, sftpc)
	c.closeChain = h.closeChain
	c.watchRequests(cfg.displayName(), cfg.RequestTimeout, log)
	return c, h.dead, nil
}

// hop is one established SSH connection of a dial, direct or through jump
// hosts, still bounded by the dial's deadline until release.
type hop struct {
	ssh  *ssh.Client
	dead chan struct{} // closed when the connection ended and its jump hosts were closed

	stopCut    func() bool // stops the deadline's cut; false if it already fired
	release    func()      // clears the socket deadline once the dial is done
	closeChain func()      // closes the jump hosts under ssh (after ssh itself); waits for them
	timedOut   func(error) error
	fail       func(op string, err error) error
}

// connect establishes the SSH connection of cfg: through cfg.Jump when set
// (each jump host dialled with its own settings and connect_timeout),
// verifying the host key and authenticating. dctx bounds it; ctx is the
// caller's context (to tell its end from the timeout). Errors are
// *DialError naming the hop that failed.
func connect(ctx, dctx context.Context, cfg HostConfig, log *zap.Logger) (*hop, error) {
	addr := cfg.Addr()
	route := cfg.route()
	fail := func(op string, err error) error {
		return &DialError{Host: cfg.displayName(), Addr: addr, Op: op, Err: err, Via: route[:len(route)-1]}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fail(OpConfig, err)
	}
	ciphers, err := cfg.ciphers()
	if err != nil {
		return nil, fail(OpConfig, err)
	}
	if weak := cfg.insecureCiphers(); len(weak) > 0 {
		log.Warn("configured ciphers include ones with known weaknesses", zap.Strings("ciphers", weak))
	}
	hk, err := newHostKeyCheck(cfg, addr, log)
	if err != nil {
		return nil, fail(OpConfig, err)
	}
	tried := &authAttempts{}
	auth, err := buildAuth(cfg, tried)
	if err != nil {
		return nil, fail(OpAuth, err)
	}
	defer auth.close() // the agent is only needed during authentication

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

	conn, closeJump, err := transport(ctx, dctx, cfg, log)
	if err != nil {
		var de *DialError
		if errors.As(err, &de) {
			return nil, de // a jump host failed: it names itself
		}
		return nil, fail(OpConnect, timedOut(err))
	}
	// The handshake and SFTP init have no context of their own: a
	// deadline on the socket, and cutting it when ctx ends, bound them.
	// A channel through a jump host has no deadlines: it is closed
	// instead.
	cut := func() { conn.SetDeadline(time.Unix(1, 0)) } //nolint:errcheck
	if dl, ok := dctx.Deadline(); ok {
		if conn.SetDeadline(dl) != nil {
			cut = func() { conn.Close() }
		}
	}
	stopCut := context.AfterFunc(dctx, cut)

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
		closeJump()
		called, rejected := hk.result()
		switch {
		case rejected != nil:
			return nil, fail(OpHostKey, rejected)
		case called && !IsConnectionError(err) && dctx.Err() == nil:
			// The host key was accepted and the server then refused
			// every credential we offered.
			return nil, fail(OpAuth, fmt.Errorf("authentication failed for user %q (%s): %w", cfg.User, triedText(tried.list()), err))
		default:
			return nil, fail(OpHandshake, fmt.Errorf("SSH handshake: %w", timedOut(err)))
		}
	}
	sshc := ssh.NewClient(sc, chans, reqs)
	auth.close()

	ended := make(chan struct{})
	dead := make(chan struct{})
	go func() {
		sshc.Wait() //nolint:errcheck // the reason is seen by the requests that fail
		close(ended)
		closeJump() // the whole chain ends with the connection over it
		close(dead)
	}()
	if cfg.Keepalive > 0 {
		go keepalive(sshc, cfg.Keepalive, ended, log)
	}
	log.Debug("connected", zap.String("address", addr), zap.String("server_version", string(sshc.ServerVersion())),
		zap.Strings("auth", tried.list()), zap.Strings("route", route))
	return &hop{
		ssh: sshc, dead: dead, stopCut: stopCut,
		release:    func() { conn.SetDeadline(time.Time{}) }, //nolint:errcheck // a channel has none
		closeChain: func() { sshc.Close(); <-dead },
		timedOut:   timedOut,
		fail:       fail,
	}, nil
}

// transport opens the byte stream the SSH connection of cfg runs over: a
// TCP connection to cfg.Addr(), or, with cfg.Jump, a direct-tcpip channel
// to it from the jump host (dialled first, with its own connect_timeout).
// closeJump closes the jump host's connection (a no-op without one).
// A failing jump host is reported as this host's *DialError naming the
// hop.
func transport(ctx, dctx context.Context, cfg HostConfig, log *zap.Logger) (conn net.Conn, closeJump func(), err error) {
	addr := cfg.Addr()
	if cfg.Jump == nil {
		var d net.Dialer
		conn, err := d.DialContext(dctx, "tcp", addr)
		return conn, func() {}, err
	}
	jcfg := cfg.Jump.withDefaults()
	jctx, cancel := context.WithTimeout(dctx, jcfg.ConnectTimeout) // within this host's connect_timeout too
	defer cancel()
	route := cfg.route()
	j, err := connect(ctx, jctx, jcfg, log.With(zap.String("jump", jcfg.displayName())))
	if err != nil {
		var de *DialError
		if errors.As(err, &de) {
			hopName := de.Hop
			if hopName == "" {
				hopName = de.Host
			}
			return nil, nil, &DialError{Host: cfg.displayName(), Addr: de.Addr, Op: de.Op, Err: de.Err,
				Via: route[:len(route)-1], Hop: hopName}
		}
		return nil, nil, err
	}
	j.stopCut()
	j.release()
	conn, err = j.ssh.DialContext(dctx, "tcp", addr)
	if err != nil {
		j.closeChain()
		return nil, nil, fmt.Errorf("open a channel to %s from jump host %q (is the address right as seen from %s, and does its sshd allow TCP forwarding?): %w",
			addr, jcfg.displayName(), jcfg.displayName(), err)
	}
	return &jumpConn{Conn: conn, jump: j.ssh}, j.closeChain, nil
}

// jumpConn is a channel through a jump host that closes the jump host's
// connection when it is closed: closing the channel alone waits for the
// jump host to confirm, which a jump host that hangs never does, so a
// request timeout or a missed keepalive would not end the connection.
type jumpConn struct {
	net.Conn
	jump *ssh.Client
	once sync.Once
}

func (c *jumpConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.jump.Close() })
	return err
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
