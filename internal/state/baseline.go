package state

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// ErrInitialized is returned by PutSnapshot for a watch whose baseline has
// been committed: from then on, snapshot changes go with their events.
var ErrInitialized = errors.New("watch already initialized")

// PutSnapshot writes the snapshot entries set[k] for every k of keys
// (sorted, each in set) in one fsynced transaction, without events and
// without marking the watch initialized.
//
// It is for a baseline too large for one transaction (bbolt holds every
// page a transaction touches in memory until it commits): the caller writes
// the baseline in parts and commits the last part with Commit, which marks
// the watch initialized. A crash in between leaves a watch that is not
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
