package state

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// Item is one event waiting in the outbox.
type Item struct {
	Event event.Event
	// Step is the index of the next action step to run.
	Step int
	// Attempts counts the failed attempts of that step so far.
	Attempts int
}

// DeadLetter is an event that ran out of attempts (or failed permanently),
// with the step and attempt count it stopped at.
type DeadLetter struct {
	Item
	Reason string
	At     time.Time
}

// idKey maps an event ID of watch back to its outbox key. IDs not of the
// form Commit produces are ErrNotFound.
func idKey(watch, id string) ([]byte, error) {
	digits, ok := strings.CutPrefix(id, watch+"-")
	if ok {
		if n, err := strconv.ParseUint(digits, 10, 64); err == nil && eventID(watch, n) == id {
			return seqKey(n), nil
		}
	}
	return nil, fmt.Errorf("event %q of watch %q: %w", id, watch, ErrNotFound)
}

// Outbox returns the events of watch still to deliver, in commit order.
func (s *Store) Outbox(watch string) ([]Item, error) {
	var items []Item
	err := s.view("read outbox", func(tx *bolt.Tx) error {
		w, ok, err := openWatch(tx, watch)
		if err != nil || !ok {
			return err
		}
		items = make([]Item, 0, w.outbox.Stats().KeyN)
		return w.outbox.ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("outbox key %x: %w: %w", k, ErrCorrupt, err)
			}
			items = append(items, Item{Event: r.Event, Step: r.Step, Attempts: r.Attempts})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("outbox of watch %q in %q: %w", watch, s.path, err)
	}
	return items, nil
}

// DeadLetters returns the dead letters of watch, in commit order.
func (s *Store) DeadLetters(watch string) ([]DeadLetter, error) {
	var dead []DeadLetter
	err := s.view("read dead letters", func(tx *bolt.Tx) error {
		w, ok, err := openWatch(tx, watch)
		if err != nil || !ok {
			return err
		}
		dead = make([]DeadLetter, 0, w.dead.Stats().KeyN)
		return w.dead.ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("dead-letter key %x: %w: %w", k, ErrCorrupt, err)
			}
			dead = append(dead, DeadLetter{Item: Item{Event: r.Event, Step: r.Step, Attempts: r.Attempts}, Reason: r.Reason, At: r.At})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("dead letters of watch %q in %q: %w", watch, s.path, err)
	}
	return dead, nil
}

// Counts returns how many events of watch wait in the outbox and how many
// are dead letters. It reads page headers, not values.
func (s *Store) Counts(watch string) (outbox, dead int, err error) {
	err = s.view("count", func(tx *bolt.Tx) error {
		w, ok, err := openWatch(tx, watch)
		if err != nil || !ok {
			return err
		}
		outbox, dead = w.outbox.Stats().KeyN, w.dead.Stats().KeyN
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count events of watch %q in %q: %w", watch, s.path, err)
	}
	return outbox, dead, nil
}

// Advance records that the step before nextStep finished for event id: the
// event (possibly updated by the step, e.g. LocalPath) and nextStep are
// persisted and the attempt count is reset.
func (s *Store) Advance(watch, id string, nextStep int, ev event.Event) error {
	if nextStep < 0 {
		return fmt.Errorf("advance event %q of watch %q: negative step %d", id, watch, nextStep)
	}
	if ev.ID != id {
		return fmt.Errorf("advance event %q of watch %q: event carries ID %q", id, watch, ev.ID)
	}
	return s.modify("advance", watch, id, func(r *record) {
		r.Event = ev
		r.Step = nextStep
		r.Attempts = 0
	})
}

// RecordAttempt persists the failed-attempt count of the current step of
// event id.
func (s *Store) RecordAttempt(watch, id string, attempts int) error {
	return s.modify("record attempt", watch, id, func(r *record) { r.Attempts = attempts })
}

// modify rewrites the outbox record of id in one transaction.
func (s *Store) modify(op, watch, id string, fn func(*record)) error {
	key, err := idKey(watch, id)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err = s.update(op, func(tx *bolt.Tx) error {
		w, r, err := getOutbox(tx, watch, id, key)
		if err != nil {
			return err
		}
		fn(&r)
		v, err := encodeRecord(r)
		if err != nil {
			return fmt.Errorf("encode event %q: %w", id, err)
		}
		return w.outbox.Put(key, v)
	})
	if err != nil {
		return fmt.Errorf("%s event %q of watch %q in %q: %w", op, id, watch, s.path, err)
	}
	return nil
}

// getOutbox reads the outbox record of id.
func getOutbox(tx *bolt.Tx, watch, id string, key []byte) (watchBuckets, record, error) {
	return getRecord(tx, watch, id, key, "outbox", "outbox", func(w watchBuckets) *bolt.Bucket { return w.outbox })
}

// getRecord reads the record of id from the bucket of watch that pick
// chooses (the outbox or the dead letters), named store in errors.
func getRecord(tx *bolt.Tx, watch, id string, key []byte, store, keyName string, pick func(watchBuckets) *bolt.Bucket) (watchBuckets, record, error) {
	w, ok, err := openWatch(tx, watch)
	if err != nil {
		return watchBuckets{}, record{}, err
	}
	var v []byte
	if ok {
		v = pick(w).Get(key)
	}
	if v == nil {
		return watchBuckets{}, record{}, fmt.Errorf("%s: %w", store, ErrNotFound)
	}
	r, err := decodeRecord(v)
	if err != nil {
		return watchBuckets{}, record{}, fmt.Errorf("%s key %x: %w: %w", keyName, key, ErrCorrupt, err)
	}
	if r.Event.ID != id {
		return watchBuckets{}, record{}, fmt.Errorf("%s key %x holds event %q: %w", keyName, key, r.Event.ID, ErrCorrupt)
	}
	return w, r, nil
}

// Done removes event id from the outbox: every step ran.
func (s *Store) Done(watch, id string) error {
	key, err := idKey(watch, id)
	if err != nil {
		return fmt.Errorf("done: %w", err)
	}
	err = s.update("done", func(tx *bolt.Tx) error {
		w, ok, err := openWatch(tx, watch)
		if err != nil {
			return err
		}
		if !ok || w.outbox.Get(key) == nil {
			return fmt.Errorf("outbox: %w", ErrNotFound)
		}
		return w.outbox.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("done event %q of watch %q in %q: %w", id, watch, s.path, err)
	}
	return nil
}

// DeadLetter moves event id from the outbox to the dead letters, keeping
// its step and attempt count, with reason and time, in one transaction.
func (s *Store) DeadLetter(watch, id string, reason string, at time.Time) error {
	key, err := idKey(watch, id)
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	err = s.update("dead letter", func(tx *bolt.Tx) error {
		w, r, err := getOutbox(tx, watch, id, key)
		if err != nil {
			return err
		}
		r.Reason, r.At = reason, at
		v, err := encodeRecord(r)
		if err != nil {
			return fmt.Errorf("encode event %q: %w", id, err)
		}
		if err := w.dead.Put(key, v); err != nil {
			return err
		}
		return w.outbox.Delete(key)
	})
	if err != nil {
		return fmt.Errorf("dead letter event %q of watch %q in %q: %w", id, watch, s.path, err)
	}
	return nil
}
