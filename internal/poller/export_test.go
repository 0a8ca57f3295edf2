package poller

import (
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// FirstScanDelay is how long after Run starts a watch named name with
// interval runs its first scan.
func FirstScanDelay(name string, interval time.Duration) time.Duration {
	t := time.Unix(0, 0)
	return newSchedule(name, interval).first(t).Sub(t)
}

// StateStore is the real bbolt store as a poller Store, adapted as the
// daemon adapts it (the tests run the poller against the real store).
type StateStore struct{ *state.Store }

func (s StateStore) LoadInto(watch string, l SnapshotLoader) (*Stored, error) {
	w, err := s.Store.LoadInto(watch, l)
	if err != nil {
		return nil, err
	}
	st := Stored(*w)
	return &st, nil
}

func (s StateStore) Commit(watch string, b Batch) ([]event.Event, error) {
	return s.Store.Commit(watch, state.Batch(b))
}
