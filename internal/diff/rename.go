package diff

import (
	"cmp"
	"slices"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// pairing records which deletes (b.gone) and new entries (b.news) became
// renames. Nil slices mean "none".
type pairing struct {
	oldPaired, newPaired []bool
}

func (p pairing) old(i int) bool { return p.oldPaired != nil && p.oldPaired[i] }
func (p pairing) new(i int) bool { return p.newPaired != nil && p.newPaired[i] }

// pairRenames pairs stored entries missing from the scan with new entries of
// the same content and emits the renames. Both lists are sorted by path and
// the i-th old path of a given content pairs with the i-th new path of that
// content, so the result does not depend on map iteration order.
func (b *comparer) pairRenames() pairing {
	if !b.opt.DetectRenames || !b.opt.emits(event.Rename) || len(b.gone) == 0 || len(b.news) == 0 {
		return pairing{}
	}
	byPath := func(x, y pathEntry) int { return cmp.Compare(x.path, y.path) }
	slices.SortFunc(b.gone, byPath)
	slices.SortFunc(b.news, byPath)

	candidates := make(map[renameKey][]int, len(b.news))
	for i, n := range b.news {
		k := keyOf(n.entry)
		candidates[k] = append(candidates[k], i)
	}
	p := pairing{oldPaired: make([]bool, len(b.gone)), newPaired: make([]bool, len(b.news))}
	for i, g := range b.gone {
		k := keyOf(g.entry)
		q := candidates[k]
		if len(q) == 0 {
			continue
		}
		j := q[0]
		candidates[k] = q[1:]
		n := b.news[j]
		p.oldPaired[i], p.newPaired[j] = true, true
		b.emit(Change{Type: event.Rename, RelPath: n.path, OldRelPath: g.path, Entry: n.entry, Prev: ptr(g.entry)})
		b.set(n.path, n.entry)
		if _, had := b.pending[n.path]; had {
			b.res.PendingRemoved = append(b.res.PendingRemoved, n.path)
		}
	}
	return p
}

// changeRank orders the changes of one path: the delete of a type change
// comes before the create or rename that fills the path again.
func changeRank(t event.Type) int {
	if t == event.Delete {
		return 0
	}
	return 1
}

func compareChanges(x, y Change) int {
	if c := cmp.Compare(x.RelPath, y.RelPath); c != 0 {
		return c
	}
	return cmp.Compare(changeRank(x.Type), changeRank(y.Type))
}

// finish puts every list of the Result into its documented order.
func (b *comparer) finish() {
	slices.SortFunc(b.res.Changes, compareChanges)
	slices.Sort(b.res.Removed)
	slices.Sort(b.res.PendingRemoved)
	slices.Sort(b.res.SelfRemovedConsumed)
}
