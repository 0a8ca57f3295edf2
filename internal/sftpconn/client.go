package sftpconn

import (
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Client is one SFTP session over one SSH connection: the Go counterpart of
// pysftp's Connection. It is safe for concurrent use; pkg/sftp pipelines
// concurrent requests over the one channel.
type Client struct {
	ssh  *ssh.Client // nil when the client was built over a bare pipe (tests)
	sftp *sftp.Client

	lister *dirLister    // the pipelined directory reader, opened on first use
	watch  *requestWatch // the request deadline (deadline.go); nil: none

	// closeChain closes the SSH connection and the jump hosts it runs
	// through, and waits for them; nil for a client built by NewClient.
	closeChain func()

	cwdMu sync.Mutex
	cwd   string // set by Chdir; "" = the server's starting directory
}

// NewClient wraps an established SFTP session. sshc may be nil, in which
// case Execute and the algorithm accessors report that there is no SSH
// connection.
func NewClient(sshc *ssh.Client, sc *sftp.Client) *Client {
	return &Client{ssh: sshc, sftp: sc, lister: newDirLister()}
}

// watchRequests sets the request deadline: a request the server leaves
// unanswered for timeout closes the SSH connection (deadline.go). The
// Client must have an SSH connection, and no request may be in flight.
func (c *Client) watchRequests(host string, timeout time.Duration, log *zap.Logger) {
	c.watch = newRequestWatch(host, timeout, func() {
		log.Warn("closing connection: a request got no reply within request_timeout",
			zap.Duration("request_timeout", timeout))
		c.ssh.Close()
	})
}

// SFTP gives access to the underlying pkg/sftp client (pysftp's sftp_client).
func (c *Client) SFTP() *sftp.Client { return c.sftp }

// SSH gives access to the underlying SSH connection, or nil.
func (c *Client) SSH() *ssh.Client { return c.ssh }

// Close ends the SFTP session, the directory reader's channel and the SSH
// connection under them, and the connections to any jump hosts under that. The SSH connection is closed first: pkg/sftp's
// Close waits for the server to end the session, which a server that
// stopped answering never does.
func (c *Client) Close() error {
	waitLister := c.lister.close()
	var err error
	if c.ssh != nil {
		err = c.ssh.Close()
	}
	if serr := c.sftp.Close(); c.ssh == nil || !IsConnectionError(serr) {
		err = errors.Join(err, serr)
	}
	if c.closeChain != nil {
		c.closeChain()
	}
	waitLister()
	return err
}
