package daemon

import (
	"context"
	"sync"

	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// countingLister tells report, after every directory a walk lists, how many
// directories were listed and entries seen so far in that walk (before the
// watch's filters).
type countingLister struct {
	poller.Lister
	report func(dirs, entries int)
}

var _ poller.Lister = (*countingLister)(nil)

func (l *countingLister) Walk(ctx context.Context, root string, opt sftpconn.WalkOptions, fn func(sftpconn.DirListing) error) error {
	var mu sync.Mutex
	dirs, entries := 0, 0
	return l.Lister.Walk(ctx, root, opt, func(d sftpconn.DirListing) error {
		mu.Lock()
		if d.Err == nil {
			dirs++
			entries += len(d.Entries)
		}
		nd, ne := dirs, entries
		mu.Unlock()
		l.report(nd, ne)
		return fn(d)
	})
}
