package state

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// MarkSelfRemoved records that the daemon is about to move or delete
// relPath itself, so the next scan reports no delete for it. Call it
// before the remote operation; Commit consumes the marker
// (Batch.SelfRemovedConsumed) once a scan has seen the path gone.
func (s *Store) MarkSelfRemoved(watch, relPath string) error {
	err := s.update("mark self-removed", func(tx *bolt.Tx) error {
		w, err := ensureWatch(tx, watch)
		if err != nil {
			return err
		}
		// The value is when the mark was set, for inspection, followed by
		// when the removal was confirmed (ConfirmSelfRemoved).
		return w.self.Put([]byte(relPath), binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano())))
	})
	if err != nil {
		return fmt.Errorf("mark %q of watch %q self-removed in %q: %w", relPath, watch, s.path, err)
	}
	return nil
}

// UnmarkSelfRemoved drops the marker of relPath, when the move or delete
// it announced failed. A path without a marker is not an error.
func (s *Store) UnmarkSelfRemoved(watch, relPath string) error {
	err := s.update("unmark self-removed", func(tx *bolt.Tx) error {
		w, ok, err := openWatch(tx, watch)
		if err != nil || !ok {
			return err
		}
		return w.self.Delete([]byte(relPath))
	})
	if err != nil {
		return fmt.Errorf("unmark %q of watch %q self-removed in %q: %w", relPath, watch, s.path, err)
	}
	return nil
}

// ConfirmSelfRemoved records that the move or delete of relPath announced
// by MarkSelfRemoved succeeded (at now): from then on, relPath present in a
// scan that started later was uploaded again, and is a new file. A path
// without a marker is left alone.
func (s *Store) ConfirmSelfRemoved(watch, relPath string, at time.Time) error {
	err := s.update("confirm self-removed", func(tx *bolt.Tx) error {
		w, ok, err := openWatch(tx, watch)
		if err != nil || !ok {
			return err
		}
		v := w.self.Get([]byte(relPath))
		if len(v) < 8 {
			return nil
		}
		return w.self.Put([]byte(relPath), binary.BigEndian.AppendUint64(slices.Clone(v[:8]), uint64(at.UnixNano())))
	})
	if err != nil {
		return fmt.Errorf("confirm %q of watch %q self-removed in %q: %w", relPath, watch, s.path, err)
	}
	return nil
}

// selfDone is when the removal a self-removed marker announced was
// confirmed (ConfirmSelfRemoved), false if it was not.
func selfDone(v []byte) (time.Time, bool) {
	if len(v) != 16 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v[8:]))), true
}
