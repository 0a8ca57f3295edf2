package actions

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// Action is one step of a watch's chain.
//
// Run performs the step for ev. It may update ev (download sets
// ev.LocalPath); the dispatcher persists the updated event before the next
// step runs, so later steps, and redeliveries after a restart, see it.
// Run must honour ctx: when ctx is done it returns promptly.
// An error wrapped with Permanent is not retried; an error carrying a
// RetryAfter hint delays the next attempt by at least that much.
type Action interface {
	// Type is the config name of the action ("download", "exec", …).
	Type() string
	// Handles reports whether the action runs for events of type t
	// (its `events:` list, or the SPEC default for its type).
	Handles(t event.Type) bool
	Run(ctx context.Context, ev *event.Event) error
}

// Closer is implemented by actions that hold resources.
type Closer interface {
	Close() error
}

// Starter is implemented by actions that have work to do before they run
// their first event (download removes the temporary files a crashed
// process left in dest). Whoever delivers the chain calls Start once before
// its first step; an error is logged and delivery goes on.
type Starter interface {
	Start(ctx context.Context) error
}

// Orderer is implemented by actions whose effect for an event is addressed
// by something other than the event's rel_path (download with flatten writes
// dest/<name> for every rel_path ending in <name>). Events that share a key,
// or a rel_path, are delivered in commit order, one at a time. OrderKeys
// returns the extra keys for ev (nil when there are none); they must depend
// only on the event and the action's config.
type Orderer interface {
	OrderKeys(ev *event.Event) []string
}

// ErrSuperseded is wrapped by step errors for an event a later change of the
// same path has overtaken: the remote file is gone, or its type, size or
// mtime are no longer the event's. The event ends as superseded (its
// remaining steps do not run, it is not a dead letter): the later event,
// which the poller emits for the change, carries the news. Classify it with
// errors.Is, before IsPermanent.
var ErrSuperseded = errors.New("superseded by a later change")

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the event goes to the dead-letter
// store at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err (or any error it wraps) was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// RetryAfterError asks the dispatcher to wait at least After before the next
// attempt (an HTTP Retry-After, say).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns the delay an error asks for, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RetryAfterError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}
