package daemon

import (
	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/dispatch"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// storeAdapter lets the dispatcher use the state store: the two Item types
// have the same fields, kept separate so that dispatch does not depend on a
// storage package.
type storeAdapter struct{ *state.Store }

// The SFTP pool is the actions' remote side and the store records their
// self-removals: checked here, where both sides meet.
var (
	_ dispatch.Store       = storeAdapter{}
	_ poller.Store         = pollerStore{}
	_ actions.Remote       = (*sftpconn.Pool)(nil)
	_ actions.SelfRemovals = selfRemovals{}
)

func (s storeAdapter) Outbox(watch string) ([]dispatch.Item, error) {
	items, err := s.Store.Outbox(watch)
	if err != nil {
		return nil, err
	}
	out := make([]dispatch.Item, len(items))
	for i, it := range items {
		out[i] = dispatch.Item(it)
	}
	return out, nil
}

// pollerStore lets the poller use the state store: poller.Stored and
// poller.Batch have the fields of state.Watch and state.Batch, kept
// separate so that the poller does not depend on a storage package.
type pollerStore struct{ *state.Store }

func (s pollerStore) LoadInto(watch string, l poller.SnapshotLoader) (*poller.Stored, error) {
	w, err := s.Store.LoadInto(watch, l)
	if err != nil {
		return nil, err
	}
	st := poller.Stored(*w)
	return &st, nil
}

func (s pollerStore) Commit(watch string, b poller.Batch) ([]event.Event, error) {
	return s.Store.Commit(watch, state.Batch(b))
}
