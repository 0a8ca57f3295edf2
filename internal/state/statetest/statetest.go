// Package statetest is the conformance suite every state backend must pass
// (restic runs one suite against every backend the same way): what the
// poller, the dispatcher and the admin commands rely on, checked through
// the backend's methods only. The bbolt backend runs it in package state
// (conformance_test.go); another backend (PostgreSQL) calls Run from its
// own tests with its own open function.
//
// What it checks: a commit's snapshot changes and events are stored
// together or not at all; a crash between any two calls loses nothing that
// was committed and leaves nothing half-written; the outbox keeps commit
// order (so the order of the events of one path); step progress (Advance,
// RecordAttempt) survives a reopen; dead letters keep their step, a retry
// keeps the ID and the step, a discard drops them; event IDs increase and
// are never reused, also after a reopen or a reset; the filter coverage
// and origin are stored per watch; reset and delete of a watch; a backup
// copy opens with the same content.
package statetest

import (
	"io"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// Backend is the union of what the consumers of the state use (the
// poller, the dispatcher, the actions' self-removals, the admin commands),
// in the state package's types. *state.Store is one.
type Backend interface {
	// Poller.
	LoadInto(watch string, l state.SnapshotLoader) (*state.Watch, error)
	Load(watch string) (*state.Watch, error)
	Commit(watch string, b state.Batch) ([]event.Event, error)
	ResetSnapshot(watch string) error
	// Self-removals.
	MarkSelfRemoved(watch, relPath string) error
	UnmarkSelfRemoved(watch, relPath string) error
	ConfirmSelfRemoved(watch, relPath string, at time.Time) error
	// Dispatcher.
	Outbox(watch string) ([]state.Item, error)
	Advance(watch, id string, nextStep int, ev event.Event) error
	RecordAttempt(watch, id string, attempts int) error
	Done(watch, id string) error
	DeadLetter(watch, id string, reason string, at time.Time) error
	Counts(watch string) (outbox, dead int, err error)
	// Admin commands.
	Watches() ([]string, error)
	DeadLetters(watch string) ([]state.DeadLetter, error)
	RetryDeadLetter(watch, id string, fromStart bool) error
	DiscardDeadLetter(watch, id string) error
	ResetWatch(watch string, emit bool) error
	DeleteWatch(watch string) error
	PutScanSummary(watch string, sum state.ScanSummary) error
	Info(watch string) (state.WatchInfo, error)
	// WriteTo writes a consistent backup copy; written as state.FileName
	// into an empty directory, it opens (with the suite's open) with the
	// same content.
	WriteTo(w io.Writer) (int64, error)
	// Close releases the backend; open may then open the same dir again.
	Close() error
}

// Crasher is implemented by a backend (or the test's wrapper of one) that
// can end as a killed process would: no cleanup, nothing flushed that was
// not durable already, its lock released. Without it the suite closes the
// backend instead.
type Crasher interface {
	Crash() error
}

// CommitFaulter is implemented by a backend (or the test's wrapper of one)
// that can make its next Commit fail inside its transaction, after all of
// the commit's writes (the worst moment). Without it the suite skips the
// test that needs it.
type CommitFaulter interface {
	FailNextCommit(err error)
}

// Open opens the backend whose data lives in dir (a fresh t.TempDir() or
// a dir the suite opened and closed before). The suite closes what it opens.
type Open func(t *testing.T, dir string) Backend

// Run runs the whole suite against the backend open opens.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"CommitAtomic", testCommitAtomic},
		{"EmptyCommit", testEmptyCommit},
		{"StreamedBaseline", testStreamedBaseline},
		{"CrashBetweenCalls", testCrashBetweenCalls},
		{"OrderPerPath", testOrderPerPath},
		{"StepProgress", testStepProgress},
		{"DeadLetters", testDeadLetters},
		{"IDSequence", testIDSequence},
		{"FilterAndOrigin", testFilterAndOrigin},
		{"SelfRemoved", testSelfRemoved},
		{"ResetAndDelete", testResetAndDelete},
		{"Backup", testBackup},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}
