package state

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ResetSnapshot forgets what watch knows of its remote tree: its snapshot,
// pending entries, self-removed markers, baseline-pending directories,
// stored filter and origin, and that it was initialized, so that its next
// scan is a first scan. Its outbox, dead letters and event sequence stay:
// events already committed are still delivered, and IDs are never reused.
// For a watch whose path or host changed (a new tree is a new watch).
func (s *Store) ResetSnapshot(watch string) error {
	err := s.update("reset snapshot", func(tx *bolt.Tx) error { return resetTx(tx, watch) })
	if err != nil {
		return fmt.Errorf("reset snapshot of watch %q in %q: %w", watch, s.path, err)
	}
	return nil
}

// resetTx is ResetSnapshot in transaction tx.
func resetTx(tx *bolt.Tx, watch string) error {
	w, ok, err := openWatch(tx, watch)
	if err != nil || !ok {
		return err
	}
	for _, sub := range []string{bucketSnap, bucketPending, bucketSelf} {
		if err := w.root.DeleteBucket([]byte(sub)); err != nil {
			return fmt.Errorf("bucket %q: %w", sub, err)
		}
	}
	for _, k := range []string{keyInit, keyFilter, keyOrigin, keyBasePend} {
		if err := w.root.Delete([]byte(k)); err != nil {
			return fmt.Errorf("%s key: %w", k, err)
		}
	}
	_, err = ensureWatch(tx, watch)
	return err
}
