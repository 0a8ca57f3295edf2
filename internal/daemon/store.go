package daemon

import (
	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/dispatch"
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
