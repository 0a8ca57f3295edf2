package state

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// watchBucket returns the bucket of watch, or nil when it has no state.
func watchBucket(tx *bolt.Tx, watch string) *bolt.Bucket {
	ws := tx.Bucket([]byte(bucketWatches))
	if ws == nil {
		return nil
	}
	return ws.Bucket([]byte(watch))
}

// watchBuckets are the sub-buckets of one watch.
type watchBuckets struct {
	root, snap, pending, self, outbox, dead, seq *bolt.Bucket
}

// openWatch returns the buckets of watch in a read transaction, ok false
// when the watch has no state.
func openWatch(tx *bolt.Tx, watch string) (watchBuckets, bool, error) {
	root := watchBucket(tx, watch)
	if root == nil {
		return watchBuckets{}, false, nil
	}
	w := watchBuckets{root: root}
	for _, sub := range []struct {
		name string
		b    **bolt.Bucket
	}{
		{bucketSnap, &w.snap}, {bucketPending, &w.pending}, {bucketSelf, &w.self},
		{bucketOutbox, &w.outbox}, {bucketDead, &w.dead}, {bucketSeq, &w.seq},
	} {
		if *sub.b = root.Bucket([]byte(sub.name)); *sub.b == nil {
			return watchBuckets{}, false, fmt.Errorf("watch %q: %q bucket missing: %w", watch, sub.name, ErrCorrupt)
		}
	}
	return w, true, nil
}

// ensureWatch returns the buckets of watch in a write transaction,
// creating them when missing.
func ensureWatch(tx *bolt.Tx, watch string) (watchBuckets, error) {
	if watch == "" {
		return watchBuckets{}, fmt.Errorf("empty watch name")
	}
	ws := tx.Bucket([]byte(bucketWatches))
	if ws == nil {
		return watchBuckets{}, fmt.Errorf("%q bucket missing: %w", bucketWatches, ErrCorrupt)
	}
	root, err := ws.CreateBucketIfNotExists([]byte(watch))
	if err != nil {
		return watchBuckets{}, fmt.Errorf("watch %q: %w", watch, err)
	}
	w := watchBuckets{root: root}
	for _, sub := range []struct {
		name string
		b    **bolt.Bucket
	}{
		{bucketSnap, &w.snap}, {bucketPending, &w.pending}, {bucketSelf, &w.self},
		{bucketOutbox, &w.outbox}, {bucketDead, &w.dead}, {bucketSeq, &w.seq},
	} {
		if *sub.b, err = root.CreateBucketIfNotExists([]byte(sub.name)); err != nil {
			return watchBuckets{}, fmt.Errorf("watch %q: bucket %q: %w", watch, sub.name, err)
		}
	}
	// Outbox and dead letters are appended to in key order, and a baseline
	// writes the snapshot in parts of sorted keys: pack pages (bbolt's
	// default of half-full pages made a 1,000,000-entry snapshot 151 MB).
	w.outbox.FillPercent = 0.9
	w.dead.FillPercent = 0.9
	w.snap.FillPercent = 0.9
	return w, nil
}

// Watches lists the watches that have state, in byte order of their names.
func (s *Store) Watches() ([]string, error) {
	var names []string
	err := s.view("list watches", func(tx *bolt.Tx) error {
		ws := tx.Bucket([]byte(bucketWatches))
		if ws == nil {
			return fmt.Errorf("%q bucket missing: %w", bucketWatches, ErrCorrupt)
		}
		return ws.ForEachBucket(func(k []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list watches in %q: %w", s.path, err)
	}
	return names, nil
}
