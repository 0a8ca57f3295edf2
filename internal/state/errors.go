package state

import (
	"errors"
	"fmt"
)

// Errors callers classify with errors.Is.
var (
	// ErrLocked: the state directory is held by another process (or another
	// Store in this process).
	ErrLocked = errors.New("state dir is in use")
	// ErrNotStateFile: state.db exists but is not an sftpwatchd state file.
	ErrNotStateFile = errors.New("not an sftpwatchd state file")
	// ErrEmpty: state.db exists but is empty (0 bytes), which sftpwatchd
	// never leaves behind: it was truncated, and is refused rather than
	// taken as a fresh start.
	ErrEmpty = errors.New("empty")
	// ErrNewerFormat: state.db was written by a newer sftpwatchd whose format
	// this build cannot read.
	ErrNewerFormat = errors.New("written by a newer version of sftpwatchd")
	// ErrCorrupt: state.db is an sftpwatchd state file, but some of its
	// content cannot be read.
	ErrCorrupt = errors.New("corrupt")
	// ErrNotFound: the outbox (or dead-letter store) holds no event with
	// the given ID.
	ErrNotFound = errors.New("not found")
)

// lockedError names the directory that is in use. It matches ErrLocked and
// unwraps to the backend's own error.
type lockedError struct {
	dir   string
	cause error
}

func (e *lockedError) Error() string {
	return fmt.Sprintf("state dir %q is in use by another sftpwatchd process", e.dir)
}

func (e *lockedError) Is(target error) bool { return target == ErrLocked }
func (e *lockedError) Unwrap() error        { return e.cause }

// panicError is a panic (or memory fault) inside bbolt, which a damaged
// file can cause, turned into an error. It matches ErrCorrupt.
type panicError struct{ value any }

func (e *panicError) Error() string {
	return fmt.Sprintf("state file is corrupt: %v", e.value)
}

func (e *panicError) Is(target error) bool { return target == ErrCorrupt }

// keyString renders a stored key for an error message: quoted, and cut
// short when a damaged file makes it huge.
func keyString(k []byte) string {
	const maxKey = 256
	if len(k) > maxKey {
		return fmt.Sprintf("%q… (%d bytes)", k[:maxKey], len(k))
	}
	return fmt.Sprintf("%q", k)
}
