package sftpconn

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// cancelGrace is how long a cancelled Execute waits for the session to end.
const cancelGrace = 250 * time.Millisecond

// Execute runs cmd on the server in a new SSH session and returns its
// combined stdout and stderr (pysftp's execute). The command goes to the
// user's login shell as a single string: quoting is the caller's business,
// and it runs without regard to the working directory set by Chdir. A
// non-zero exit is an error (*ssh.ExitError) returned together with the
// output. Cancelling ctx sends SIGKILL to the command, closes the session
// and returns an error wrapping ctx.Err(). It fails
// with ErrNoSSH on a client that has no SSH connection.
func (c *Client) Execute(ctx context.Context, cmd string) ([]byte, error) {
	var out lockedBuffer
	err := c.Run(ctx, cmd, &out, &out)
	return out.Bytes(), err
}

// Run runs cmd on the server in a new SSH session like Execute, streaming
// its stdout and stderr to the two writers (which may be the same one;
// x/crypto/ssh writes each from its own goroutine). It returns once the
// command has ended and both streams have been copied; a non-zero exit is
// an *ssh.ExitError, a session that ended without an exit status (the
// connection broke, the command was killed by a signal) an
// *ssh.ExitMissingError or an I/O error. Cancelling ctx kills the command
// as Execute does; the writers may then still be written to for a short
// while after Run returned, so the caller must not read them unlocked.
func (c *Client) Run(ctx context.Context, cmd string, stdout, stderr io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.ssh == nil {
		return fmt.Errorf("execute: %w", ErrNoSSH)
	}
	sess, err := c.ssh.NewSession()
	if err != nil {
		return fmt.Errorf("execute: new session: %w", err)
	}
	defer sess.Close()

	sess.Stdout = stdout
	sess.Stderr = stderr
	done := make(chan error, 1)
	go func() { done <- sess.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Ask for the command to be killed (OpenSSH honours signal requests)
		// and close the channel; Run may only end when the command does, so
		// wait for it briefly and otherwise leave it to finish on its own.
		_ = sess.Signal(ssh.SIGKILL)
		sess.Close()
		t := time.NewTimer(cancelGrace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
		return fmt.Errorf("execute: %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("execute: %w", err)
	}
	return nil
}

// lockedBuffer is the combined output: x/crypto/ssh copies stdout and
// stderr from two goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// RunTimed is Run under the request deadline: the command's output must
// keep coming, each write to stdout or stderr counting as progress; a
// command silent for longer than the request timeout fails with a
// *RequestTimeoutError (the connection is closed). The find lister runs
// find this way.
func (c *Client) RunTimed(ctx context.Context, cmd string, stdout, stderr io.Writer) error {
	rq := c.watch.start()
	return rq.end(c.Run(ctx, cmd, progressWriter{rq, stdout}, progressWriter{rq, stderr}))
}
