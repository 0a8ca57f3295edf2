package poller

import (
	"iter"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// Store is the part of the state a poller uses, in the poller's own types:
// any backend that keeps these promises will do (the backends' shared
// conformance suite checks them). Each write is durable when it returns nil;
// a write that returns an error changed nothing the poller relies on.
type Store interface {
	// LoadInto hands the watch's stored snapshot to l and returns the rest
	// of its state (Snapshot nil). A watch without state gives an
	// uninitialized Stored with empty maps.
	LoadInto(watch string, l SnapshotLoader) (*Stored, error)
	// Commit applies one scan's changes and appends its events to the
	// outbox atomically, marks the watch initialized, and returns the events
	// with their IDs in outbox order.
	Commit(watch string, b Batch) ([]event.Event, error)
	// ResetSnapshot forgets what the watch knows of its remote tree (its
	// next scan is a first scan); its outbox and event IDs stay.
	ResetSnapshot(watch string) error
}

// SnapshotLoader receives a stored snapshot in two passes over its keys, in
// key order: Size for every key (to allocate once), then Put for every key
// and entry. A key is only valid during the call. (*snapshot.Loader is one.)
type SnapshotLoader interface {
	Size(key []byte)
	Put(key []byte, e diff.Entry)
}

// Stored is what the state holds of one watch.
type Stored struct {
	// Initialized is true once a scan of the watch has been committed; a
	// watch that is not initialized takes its first scan as the baseline
	// (or as creates, per its `initial` setting).
	Initialized bool
	Snapshot    diff.Snapshot
	Pending     map[string]diff.Pending
	// SelfRemoved holds paths the daemon moved or deleted itself.
	SelfRemoved map[string]bool
	// SelfRemovedDone holds, for the self-removed paths whose removal was
	// confirmed, when it was.
	SelfRemovedDone map[string]time.Time
	// Filter is what decided the watch's coverage when the snapshot was
	// last committed (coverage encoding; "" if never stored).
	Filter string
	// Origin names the remote tree the snapshot is of (host and path).
	Origin string
	// BaselinePending lists the directories (rel paths, sorted) that could
	// not be listed while the watch was baselined.
	BaselinePending []string
	// EmitFirst is set after `state reset --emit`: the next scan, a first
	// scan, emits creates whatever the watch's `initial` says.
	EmitFirst bool
}

// Batch is what one scan commits. Removals are applied before upserts.
type Batch struct {
	Set                 diff.Snapshot
	Removed             []string
	PendingSet          map[string]diff.Pending
	PendingRemoved      []string
	SelfRemovedConsumed []string
	// Events get their IDs from Commit.
	Events []event.Event
	// Filter and Origin, when not empty, replace the stored ones.
	Filter, Origin string
	// BaselinePending replaces the stored list when SetBaselinePending is
	// set (an empty list removes it).
	BaselinePending    []string
	SetBaselinePending bool
	// Stream holds more entries to set, as a sequence: a baseline's whole
	// tree. For a watch that is not initialized the store may write them
	// in several parts before the rest of the batch (how large a part is,
	// is its business); if the commit then fails, parts may stay stored in
	// a watch that is still not initialized, and the next baseline must
	// remove what is gone (the poller reloads and does).
	Stream iter.Seq2[string, diff.Entry]
}

// ScanSummary is what one scan did, for `status`.
type ScanSummary struct {
	Time     time.Time
	Result   string // ok | partial | error
	Duration time.Duration
	Entries  int    // entries in the snapshot after the scan
	Error    string // why it failed or was partial
}
