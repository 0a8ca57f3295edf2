package dispatch

import (
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// Item is one event of the outbox with its progress.
type Item struct {
	Event event.Event
	// Step is the index in the watch's action chain of the next step to run;
	// steps before it finished before.
	Step int
	// Attempts counts the failed attempts of step Step.
	Attempts int
}

// Store is the part of the state store the dispatcher uses. All methods must
// be safe for concurrent use; each write is durable when it returns nil.
//
// A method returning an error is assumed to have changed nothing: the
// dispatcher logs it and tries the same write again later. An event leaves the
// outbox only through Done or DeadLetter.
type Store interface {
	// Outbox returns the watch's undelivered events in commit order.
	Outbox(watch string) ([]Item, error)
	// Advance records that every step before nextStep finished, stores ev
	// (actions may have updated it, e.g. LocalPath) and resets the attempt
	// count to 0: attempts count the failures of the current step.
	Advance(watch, id string, nextStep int, ev event.Event) error
	// RecordAttempt stores the number of failed attempts of the current step.
	RecordAttempt(watch, id string, attempts int) error
	// Done removes a delivered event from the outbox.
	Done(watch, id string) error
	// DeadLetter moves an event from the outbox to the dead-letter store.
	DeadLetter(watch, id string, reason string, at time.Time) error
	// Counts returns the sizes of the outbox and of the dead-letter store.
	Counts(watch string) (outbox, dead int, err error)
}
