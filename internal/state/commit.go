package state

import (
	"encoding/binary"
	"fmt"
	"iter"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// Batch is what one scan changes. Removals are applied before upserts, so
// a path in both Removed and Set ends up set (likewise for pending).
type Batch struct {
	Set                 diff.Snapshot
	Removed             []string
	PendingSet          map[string]diff.Pending
	PendingRemoved      []string
	SelfRemovedConsumed []string
	// Events get their IDs from Commit; they must not carry one already.
	// An empty Watch field is set to the watch committed to.
	Events []event.Event
	// Filter and Origin, when not empty, replace the stored ones (see
	// Watch).
	Filter, Origin string
	// BaselinePending replaces the stored list when SetBaselinePending is
	// set (an empty list removes it).
	BaselinePending    []string
	SetBaselinePending bool
	// Stream holds more entries to set, as a sequence (a baseline's whole
	// tree, without a second copy of it in a map). For a watch that is not
	// initialized, Commit writes them in parts of baselinePart entries, a
	// transaction each (see PutSnapshot), and the last part with the rest of
	// the batch; for an initialized watch, all in the one transaction.
	Stream iter.Seq2[string, diff.Entry]
}

// Empty reports whether b changes nothing.
func (b *Batch) Empty() bool {
	return len(b.Set) == 0 && len(b.Removed) == 0 && len(b.PendingSet) == 0 &&
		len(b.PendingRemoved) == 0 && len(b.SelfRemovedConsumed) == 0 && len(b.Events) == 0 &&
		b.Filter == "" && b.Origin == "" && !b.SetBaselinePending && b.Stream == nil
}

// Commit applies one scan's changes to watch and appends its events to the
// outbox, all in one fsynced transaction: after a crash either all of it
// is on disk or none of it is. It gives each event the ID
// "<watch>-<12-digit sequence>" (the sequence never reuses a number) and
// returns the events with their IDs, in outbox order. It marks the watch
// initialized. An empty batch for an initialized watch writes nothing.
func (s *Store) Commit(watch string, b Batch) ([]event.Event, error) {
	if err := b.validate(); err != nil {
		return nil, fmt.Errorf("commit watch %q: %w", watch, err)
	}
	if b.Empty() {
		var initialized bool
		err := s.view("commit", func(tx *bolt.Tx) error {
			if root := watchBucket(tx, watch); root != nil {
				initialized = root.Get([]byte(keyInit)) != nil
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("commit watch %q to %q: %w", watch, s.path, err)
		}
		if initialized {
			return nil, nil
		}
	}

	var rest diff.Snapshot
	if b.Stream != nil {
		var err error
		if rest, err = s.putStream(watch, b.Stream); err != nil {
			return nil, fmt.Errorf("commit watch %q to %q: %w", watch, s.path, err)
		}
	}

	events := slices.Clone(b.Events)
	err := s.update("commit", func(tx *bolt.Tx) error {
		w, err := ensureWatch(tx, watch)
		if err != nil {
			return err
		}
		if err := putEntries(w.snap, "snapshot", b.Removed, b.Set, appendEntry); err != nil {
			return err
		}
		if err := putEntries(w.snap, "snapshot", nil, rest, appendEntry); err != nil {
			return err
		}
		if err := putEntries(w.pending, "pending", b.PendingRemoved, b.PendingSet, appendPending); err != nil {
			return err
		}
		for _, p := range b.SelfRemovedConsumed {
			if err := w.self.Delete([]byte(p)); err != nil {
				return fmt.Errorf("self-removed key %q: %w", p, err)
			}
		}
		for i := range events {
			n, err := w.seq.NextSequence()
			if err != nil {
				return fmt.Errorf("event sequence: %w", err)
			}
			ev := &events[i]
			ev.ID = eventID(watch, n)
			if ev.Watch == "" {
				ev.Watch = watch
			}
			v, err := encodeRecord(record{Event: *ev})
			if err != nil {
				return fmt.Errorf("encode event %s (%s %q): %w", ev.ID, ev.Type, ev.RelPath, err)
			}
			if err := w.outbox.Put(seqKey(n), v); err != nil {
				return fmt.Errorf("outbox key %d: %w", n, err)
			}
		}
		if err := b.putMeta(w.root); err != nil {
			return err
		}
		if err := w.root.Delete([]byte(keyEmitNext)); err != nil {
			return err
		}
		if err := w.root.Put([]byte(keyInit), binary.BigEndian.AppendUint64(nil, uint64(time.Now().Unix()))); err != nil {
			return err
		}
		if s.commitHook != nil {
			return s.commitHook()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("commit watch %q to %q: %w", watch, s.path, err)
	}
	return events, nil
}

// putMeta writes the batch's filter, origin and baseline-pending list.
func (b *Batch) putMeta(root *bolt.Bucket) error {
	for k, v := range map[string]string{keyFilter: b.Filter, keyOrigin: b.Origin} {
		if v == "" {
			continue
		}
		if err := root.Put([]byte(k), []byte(v)); err != nil {
			return fmt.Errorf("%s key: %w", k, err)
		}
	}
	if !b.SetBaselinePending {
		return nil
	}
	if len(b.BaselinePending) == 0 {
		return root.Delete([]byte(keyBasePend))
	}
	v, err := encodeDirs(b.BaselinePending)
	if err != nil {
		return fmt.Errorf("%s key: %w", keyBasePend, err)
	}
	return root.Put([]byte(keyBasePend), v)
}

func (b *Batch) validate() error {
	for p, e := range b.Set {
		if !validEntryType(e.Type) {
			return fmt.Errorf("snapshot %q: %w %d", p, errBadEntryType, e.Type)
		}
	}
	for p, e := range b.PendingSet {
		if !validEntryType(e.Entry.Type) {
			return fmt.Errorf("pending %q: %w %d", p, errBadEntryType, e.Entry.Type)
		}
	}
	for i := range b.Events {
		if b.Events[i].ID != "" {
			return fmt.Errorf("event %d (%q) already has ID %q", i, b.Events[i].RelPath, b.Events[i].ID)
		}
	}
	return nil
}

// putEntries deletes removed keys, then writes set in key order.
func putEntries[V any](bk *bolt.Bucket, what string, removed []string, set map[string]V, enc func([]byte, V) []byte) error {
	for _, p := range removed {
		if err := bk.Delete([]byte(p)); err != nil {
			return fmt.Errorf("delete %s key %q: %w", what, p, err)
		}
	}
	if len(set) == 0 {
		return nil
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return putKeys(bk, what, keys, set, enc)
}

// putKeys writes set[k] for every k of keys (sorted). bbolt keeps
// references to keys and values until the transaction ends, so they are
// carved out of one arena instead of two allocations per entry. The arena
// is only ever appended to: when it grows, slices already handed to bbolt
// keep the old backing array, which nothing writes to again.
func putKeys[V any](bk *bolt.Bucket, what string, keys []string, set map[string]V, enc func([]byte, V) []byte) error {
	size := 0
	for _, k := range keys {
		size += len(k) + pendingPrefix + entryHeaderSize
	}
	arena := make([]byte, 0, size)
	for _, k := range keys {
		v, ok := set[k]
		if !ok {
			return fmt.Errorf("put %s key %q: not in the set", what, k)
		}
		start := len(arena)
		arena = append(arena, k...)
		mid := len(arena)
		arena = enc(arena, v)
		end := len(arena)
		if err := bk.Put(arena[start:mid:mid], arena[mid:end:end]); err != nil {
			return fmt.Errorf("put %s key %q: %w", what, k, err)
		}
	}
	return nil
}
