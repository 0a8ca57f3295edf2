package state

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// Watch is everything the poller needs to scan one watch.
type Watch struct {
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
	// last committed (the poller's encoding; "" in a state written before
	// it was stored).
	Filter string
	// Origin names the remote tree the snapshot is of (host and path; ""
	// in a state written before it was stored).
	Origin string
	// BaselinePending lists the directories (rel paths, sorted) that could
	// not be listed while the watch was baselined: what they hold is
	// recorded silently once they list.
	BaselinePending []string
	// EmitFirst is set after `state reset --emit`: the next scan, a first
	// scan, emits creates whatever the watch's `initial` says.
	EmitFirst bool
}

// Load reads the stored snapshot, pending entries and self-removed markers
// of watch. A watch without state gives an uninitialized Watch with empty
// (non-nil) maps.
func (s *Store) Load(watch string) (*Watch, error) {
	m := mapLoader{}
	w, err := s.LoadInto(watch, m)
	if err != nil {
		return nil, err
	}
	w.Snapshot = diff.Snapshot(m)
	return w, nil
}

// SnapshotLoader receives a stored snapshot in two passes over its keys,
// both in key order and in one read transaction: Size for every key (so
// that the loader can allocate once, at the exact size), then Put for every
// key and entry. A key is only valid during the call.
type SnapshotLoader interface {
	Size(key []byte)
	Put(key []byte, e diff.Entry)
}

// mapLoader loads into a diff.Snapshot.
type mapLoader diff.Snapshot

func (m mapLoader) Size([]byte)                  {}
func (m mapLoader) Put(key []byte, e diff.Entry) { m[string(key)] = e }

// LoadInto is Load that hands the snapshot to l instead of building a map
// (Watch.Snapshot is nil): a caller holding the snapshot in its own form
// never has two copies of a large one at once.
func (s *Store) LoadInto(watch string, l SnapshotLoader) (*Watch, error) {
	w := &Watch{}
	err := s.view("load", func(tx *bolt.Tx) error {
		b, ok, err := openWatch(tx, watch)
		if err != nil || !ok {
			return err
		}
		w.Initialized = b.root.Get([]byte(keyInit)) != nil
		w.Filter = string(b.root.Get([]byte(keyFilter)))
		w.Origin = string(b.root.Get([]byte(keyOrigin)))
		w.EmitFirst = b.root.Get([]byte(keyEmitNext)) != nil
		if v := b.root.Get([]byte(keyBasePend)); v != nil {
			if w.BaselinePending, err = decodeDirs(v); err != nil {
				return fmt.Errorf("%s key: %w: %w", keyBasePend, ErrCorrupt, err)
			}
		}

		if err := b.snap.ForEach(func(k, _ []byte) error {
			l.Size(k)
			return nil
		}); err != nil {
			return err
		}
		if err := b.snap.ForEach(func(k, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("snapshot key %s: %w: %w", keyString(k), ErrCorrupt, err)
			}
			l.Put(k, e)
			return nil
		}); err != nil {
			return err
		}

		w.Pending = make(map[string]diff.Pending, b.pending.Stats().KeyN)
		if err := b.pending.ForEach(func(k, v []byte) error {
			p, err := decodePending(v)
			if err != nil {
				return fmt.Errorf("pending key %s: %w: %w", keyString(k), ErrCorrupt, err)
			}
			w.Pending[string(k)] = p
			return nil
		}); err != nil {
			return err
		}

		w.SelfRemoved = make(map[string]bool, b.self.Stats().KeyN)
		return b.self.ForEach(func(k, v []byte) error {
			w.SelfRemoved[string(k)] = true
			if at, ok := selfDone(v); ok {
				if w.SelfRemovedDone == nil {
					w.SelfRemovedDone = map[string]time.Time{}
				}
				w.SelfRemovedDone[string(k)] = at
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load watch %q from %q: %w", watch, s.path, err)
	}
	if w.Pending == nil {
		w.Pending = map[string]diff.Pending{}
		w.SelfRemoved = map[string]bool{}
	}
	return w, nil
}
