package state

import (
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// ErrInitialized is returned by PutSnapshot for a watch whose baseline has
// been committed: from then on, snapshot changes go with their events.
var ErrInitialized = errors.New("watch already initialized")

// baselinePart is how many snapshot entries one transaction of a streamed
// baseline (Batch.Stream) writes: bbolt holds every page a transaction
// touches in memory until it commits, so a baseline of millions of entries
// in one transaction would need hundreds of megabytes at once; a part of
// this size holds a few MB (its map and its transaction's pages) for one
// fsync.
const baselinePart = 25_000

// putStream writes the entries of seq but the last part (up to
// s.baselinePart entries) with PutSnapshot, a part per transaction, and
// returns that last part, for the transaction that marks the watch
// initialized. A watch that is already initialized gets nothing written
// here: all of seq is returned, for the one transaction. If the daemon dies
// in between, the watch is still not initialized and its next scan is a
// baseline again, which removes the stored keys that are gone.
func (s *Store) putStream(watch string, seq iter.Seq2[string, diff.Entry]) (diff.Snapshot, error) {
	part := s.baselinePart
	if part <= 0 {
		part = baselinePart
	}
	set := diff.Snapshot{}
	inParts := true
	for k, e := range seq {
		if !validEntryType(e.Type) {
			return nil, fmt.Errorf("snapshot %q: %w %d", k, errBadEntryType, e.Type)
		}
		if inParts && len(set) == part { // more follow: write this part
			err := s.PutSnapshot(watch, set, slices.Sorted(maps.Keys(set))) // in key order: fewer pages touched
			switch {
			case errors.Is(err, ErrInitialized):
				inParts = false
			case err != nil:
				return nil, err
			default:
				clear(set)
			}
		}
		set[k] = e
	}
	return set, nil
}

// PutSnapshot writes the snapshot entries set[k] for every k of keys
// (sorted, each in set) in one fsynced transaction, without events and
// without marking the watch initialized.
//
// It is how Commit writes a streamed baseline too large for one transaction
// (bbolt holds every page a transaction touches in memory until it
// commits): the baseline goes in parts and the last part with the rest of
// the batch, in the transaction that marks the watch initialized. A crash in between leaves a watch that is not
// initialized, whose next scan is a baseline again; that baseline must
// remove the stored keys that are gone (the poller does).
func (s *Store) PutSnapshot(watch string, set diff.Snapshot, keys []string) error {
	for _, k := range keys {
		if e, ok := set[k]; ok && !validEntryType(e.Type) {
			return fmt.Errorf("put snapshot of watch %q: snapshot %q: %w %d", watch, k, errBadEntryType, e.Type)
		}
	}
	err := s.update("put snapshot", func(tx *bolt.Tx) error {
		w, err := ensureWatch(tx, watch)
		if err != nil {
			return err
		}
		if w.root.Get([]byte(keyInit)) != nil {
			return ErrInitialized
		}
		return putKeys(w.snap, "snapshot", keys, set, appendEntry)
	})
	if err != nil {
		return fmt.Errorf("put snapshot of watch %q to %q: %w", watch, s.path, err)
	}
	return nil
}
