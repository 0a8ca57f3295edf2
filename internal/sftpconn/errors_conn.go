package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/sftp3"
)

// Operations a DialError names.
const (
	OpConfig    = "config"    // the HostConfig cannot be used (bad cipher, unreadable key file)
	OpConnect   = "connect"   // TCP connect
	OpHandshake = "handshake" // SSH version exchange and key exchange
	OpHostKey   = "hostkey"   // the server's host key was not accepted
	OpAuth      = "auth"      // authentication failed or could not be attempted
	OpSFTP      = "sftp"      // the sftp subsystem could not be started
)

// DialError is why Dial failed: which host, which address, at which step.
// Through jump hosts, Via names them and Hop the one whose step failed.
type DialError struct {
	Host string // the host's config name
	Addr string // host:port dialled (of Hop, when set)
	Op   string // one of the Op constants
	Err  error
	// Via is the chain of jump hosts the dial went through, outermost
	// first; empty for a direct connection.
	Via []string
	// Hop is the jump host that failed (one of Via); "" when the failing
	// step was Host's own (its address then is as seen from the last of
	// Via).
	Hop string
}

func (e *DialError) Error() string {
	if len(e.Via) == 0 {
		return fmt.Sprintf("host %q (%s): %v", e.Host, e.Addr, e.Err)
	}
	via := make([]string, len(e.Via))
	for i, v := range e.Via {
		via[i] = "hosts." + v
	}
	route := fmt.Sprintf("hosts.%s via %s", e.Host, strings.Join(via, ", "))
	if e.Hop != "" {
		return fmt.Sprintf("%s: jump host hosts.%s (%s) failed: %v", route, e.Hop, e.Addr, e.Err)
	}
	return fmt.Sprintf("%s: hosts.%s (%s, as seen from %s) failed: %v", route, e.Host, e.Addr, via[len(via)-1], e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// permanent reports whether dialling again cannot help without a change of
// configuration or of the server's keys.
func (e *DialError) permanent() bool {
	switch e.Op {
	case OpConfig, OpHostKey, OpAuth:
		return true
	}
	return false
}

// IsAuthError reports whether err is an authentication failure (wrong
// password, key not accepted, undecryptable key file): retrying will not
// help.
func IsAuthError(err error) bool {
	var de *DialError
	return errors.As(err, &de) && de.Op == OpAuth
}

// IsHostKeyError reports whether err is a rejected host key (unknown,
// changed, revoked, or not the pinned fingerprint).
func IsHostKeyError(err error) bool {
	var de *DialError
	if errors.As(err, &de) && de.Op == OpHostKey {
		return true
	}
	var he *HostKeyError
	return errors.As(err, &he)
}

// IsPermanentDialError reports whether err is a dial error retrying cannot
// fix: authentication, host key or configuration.
func IsPermanentDialError(err error) bool {
	var de *DialError
	return errors.As(err, &de) && de.permanent()
}

// ErrPoolClosed is returned by Pool.Do after Pool.Close.
var ErrPoolClosed = errors.New("sftp connection pool is closed")

// ErrKeepaliveTimeout is why a connection was closed when the server
// stopped answering keepalives.
var ErrKeepaliveTimeout = errors.New("server stopped answering keepalives")

// ConnectionError wraps an error from Pool.Do's function that broke the
// connection it ran on. The connection has been dropped; calling Do again
// dials a new one.
type ConnectionError struct {
	Host string
	Err  error
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("host %q: connection lost: %v", e.Host, e.Err)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// IsConnectionError reports whether err means the SSH connection is gone
// or unusable (as opposed to an SFTP status such as "no such file"): EOF,
// a lost SFTP connection, network errors, a failed keepalive, a dial that
// failed for a reason other than auth or host key, a request that got no
// reply within the request timeout (*RequestTimeoutError: the connection
// was closed). An operation that failed this way may succeed on a new
// connection. A context's end (context.Canceled, context.DeadlineExceeded,
// which is also a net.Error) is not a lost connection, unless a dial
// failed by it (connect_timeout).
func IsConnectionError(err error) bool {
	if err == nil {
		return false
	}
	var ce *ConnectionError
	var te *RequestTimeoutError
	if errors.As(err, &ce) || errors.As(err, &te) {
		return true
	}
	if code, ok := statusCode(err); ok {
		// A status from the server: the connection worked.
		return code == uint32(sftp.ErrSSHFxConnectionLost) || code == uint32(sftp.ErrSSHFxNoConnection)
	}
	// Host key and authentication failures are not cured by reconnecting.
	if IsPermanentDialError(err) {
		return false
	}
	var de *DialError
	if errors.As(err, &de) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	var ke *knownhosts.KeyError
	switch {
	case errors.As(err, &ke):
		return false
	case errors.Is(err, sftp.ErrSSHFxConnectionLost),
		errors.Is(err, sftp.ErrSSHFxNoConnection),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.ErrClosedPipe),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, ErrKeepaliveTimeout),
		errors.Is(err, sftp3.ErrProtocol), // the own client's channel got a reply that is not SFTP
		errors.As(err, &ne):
		return true
	}
	return false
}

// statusCode is the SFTP status code of a server's answer in err, from
// either client (a *sftp.StatusError of pkg/sftp, a *sftp3.StatusError of
// our own): false when err holds neither.
func statusCode(err error) (uint32, bool) {
	var own *sftp3.StatusError
	if errors.As(err, &own) {
		return own.Code, true
	}
	var se *sftp.StatusError
	if errors.As(err, &se) {
		return uint32(se.FxCode()), true
	}
	return 0, false
}

// serverAnswered reports whether err is the server's answer to a request,
// as opposed to the request not being answered (connection lost, ctx).
func serverAnswered(err error) bool {
	_, answered := statusCode(err)
	return IsNotExist(err) || IsPermission(err) || answered
}
