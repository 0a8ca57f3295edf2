package daemon

import (
	"github.com/sftpwatchd/sftpwatchd/internal/dispatch"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// storeAdapter lets the dispatcher use the state store: the two Item types
// have the same fields, kept separate so that dispatch does not depend on a
// storage package.
type storeAdapter struct{ *state.Store }

var _ dispatch.Store = storeAdapter{}

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
