package poller

import (
	"context"
	"slices"
	"strings"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/snapshot"
)

// A rescan does not build a second map of the whole tree. Each listing is
// compared with the stored snapshot as it arrives, and only what can matter
// to diff.Compare is kept: Compare(prev, scan) gives exactly the same Result
// when every key whose stored and scanned entries are identical (Mode and
// Link included), that has no pending record, is not self-removed and is
// present in the scan, is left out of both prev and scan.Entries. Such a key
// passes every step of Compare without effect: pass 1 finds it unchanged,
// pass 2 and the self-removed pass never look it up, pass 3 finds it present,
// and it is no rename candidate. A stored key that is missing from the scan
// beneath a failed directory has no effect either and is left out too.
// Keeping more keys than necessary is always safe; keeping fewer never is.
//
// What is kept (delta.cur, delta.prev):
//   - every entry that is new or differs from its stored entry, with the
//     stored entry in prev;
//   - every stored entry missing from the scan (not beneath a failed dir);
//   - every pending or self-removed key that is present, with its entry.
//
// Finding the missing keys without remembering every key seen: the snapshot
// knows the number of stored entries per parent directory. When a
// listing of directory d has seen as many distinct stored entries of d as
// d holds, none of d's stored entries is missing. Only directories where the
// numbers differ remember which of their stored keys were seen (retained).
// When the stored entries seen over the whole scan add up to the snapshot's
// size, nothing is missing and the snapshot is never walked; otherwise one
// pass over the directories not seen complete collects the stored keys whose
// parent was not listed, or was listed without them.
//
// A baseline over an empty snapshot keeps nothing in cur: every entry goes
// straight into a new snapshot.Tree (fresh), so the first scan of a large
// watch never holds the tree as a map.

// Directory states during one delta scan. Presence is a union over
// listings: a directory whose stored children were all seen stays complete
// whatever later listings hold, and one that remembers the children seen
// goes on remembering them, so a directory reported in several listings (a
// foreign Lister) is judged exactly too.
const (
	dirCounting uint8 = iota // stored children counted in the listing that first had them
	dirComplete              // every stored child was seen
	dirRetained              // the stored children seen are in delta.retained
)

// dirSeen is what one scan saw of the stored children of one directory.
type dirSeen struct {
	seen  int32 // distinct stored children counted (dirCounting)
	first int32 // the listing that first had some
	state uint8
}

// delta is one scan compared with the snapshot as the listings arrive.
type delta struct {
	snap   *snapshot.Tree
	fresh  *snapshot.Tree // a baseline over an empty snapshot: every entry scanned
	filter Filter

	// markers holds the rel paths of the files whose require_marker marker
	// the scan saw (nil without require_marker).
	markers map[string]bool
	// outOfBounds lists the stored files the scan saw outside min_size and
	// max_size: they leave the state silently (finish).
	outOfBounds []string

	cur  diff.Snapshot // scanned entries kept (see above)
	prev diff.Snapshot // their stored entries, and stored entries missing

	dirs       map[string]int32 // parent dir → index into seen
	seen       []dirSeen
	retained   map[string]struct{}
	seenStored int // distinct stored keys seen
	entries    int // entries the scan saw, after filtering
	listing    int32
	kept       []int        // scratch: indexes of the current listing's entries that match
	touched    []touchedDir // scratch: dirs first touched by the current listing
}

type touchedDir struct {
	dir string
	i   int32
}

// newDelta compares a scan with snap; with fresh set (allowed only when
// snap is empty) it collects the scan into a new Tree instead.
func newDelta(snap *snapshot.Tree, fresh bool, f Filter) *delta {
	d := &delta{
		snap:   snap,
		filter: f,
		cur:    diff.Snapshot{},
		prev:   diff.Snapshot{},
		dirs:   map[string]int32{},
	}
	if f.RequiresMarker() {
		d.markers = map[string]bool{}
	}
	if fresh && snap.Len() == 0 {
		d.fresh = snapshot.New()
	}
	return d
}

// parentOf is the rel path of p's directory ("" for the root).
func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// dirIndex returns the index of dir's record, creating it. own is a
// string equal to dir, if the caller has one that is not part of a larger
// string (a listing's Dir): the record's key is that or a copy of dir,
// which may be part of a listing's shared rel paths.
func (d *delta) dirIndex(dir, own string) int32 {
	if i, ok := d.dirs[dir]; ok {
		return i
	}
	i := int32(len(d.seen))
	d.seen = append(d.seen, dirSeen{})
	if own != dir {
		own = strings.Clone(dir)
	}
	d.dirs[own] = i
	return i
}

// visit compares one complete listing with the snapshot.
func (d *delta) visit(l sftpconn.DirListing, f Filter) {
	d.listing++
	d.kept = d.kept[:0]
	for i := range l.Entries {
		e := &l.Entries[i]
		typ := entryType(e.Type)
		if d.markers != nil {
			if marked, ok := f.MarkerOf(e.RelPath, typ); ok {
				d.markers[strings.Clone(marked)] = true
			}
		}
		if f.Match(e.RelPath, typ) && (d.fresh == nil || f.Sized(typ, e.Size)) {
			d.kept = append(d.kept, i)
		}
	}
	d.entries += len(d.kept)
	if len(d.kept) == 0 {
		return
	}
	if d.fresh != nil {
		nameBytes := 0
		for _, i := range d.kept {
			nameBytes += len(l.Entries[i].Name)
		}
		d.fresh.Grow(l.Dir, len(d.kept), nameBytes) // one listing is one directory
		for _, i := range d.kept {
			d.fresh.Set(l.Entries[i].RelPath, entryOf(&l.Entries[i]))
		}
		return
	}
	// Look the entries up with a cursor on the first one's directory: a
	// listing sorted by name is merged with the stored names. Entries of
	// other directories (a foreign Lister) are looked up all the same.
	c := d.snap.Cursor(parentOf(l.Entries[d.kept[0]].RelPath))
	// sorted holds while the listing is of one directory and every stored
	// key was found after the one before: no duplicates so far, so stored
	// children are counted instead of retained.
	sorted := true
	d.touched = d.touched[:0]
	lastDir, last := "", int32(-1)
	for k, i := range d.kept {
		e := &l.Entries[i]
		s, stored := c.Get(e.RelPath)
		if sorted && !c.Increasing() {
			sorted = false
			d.uncount(l, d.kept[:k])
		}
		ent := entryOf(e)
		if !stored {
			d.cur[strings.Clone(e.RelPath)] = ent
			continue
		}
		dir := parentOf(e.RelPath)
		if last < 0 || dir != lastDir {
			lastDir, last = dir, d.dirIndex(dir, l.Dir)
			if ds := &d.seen[last]; ds.first == 0 {
				ds.first = d.listing
				d.touched = append(d.touched, touchedDir{dir, last})
			}
		}
		ds := &d.seen[last]
		switch {
		case ds.state == dirComplete:
			// every stored child was seen in an earlier listing
		case sorted && ds.state == dirCounting && ds.first == d.listing:
			ds.seen++ // no duplicates within this listing so far
			d.seenStored++
		default:
			ds.state = dirRetained
			if d.retain(e.RelPath) {
				d.seenStored++
			}
		}
		switch {
		case s != ent:
			p := strings.Clone(e.RelPath)
			d.cur[p], d.prev[p] = ent, s
		case len(d.cur) > 0 && (!sorted || ds.first != d.listing):
			// A duplicate of a key seen changed before: the last sighting
			// wins, as in a full scan's map.
			delete(d.cur, e.RelPath)
			delete(d.prev, e.RelPath)
		}
	}
	// A directory whose stored children were not all seen remembers which
	// ones were, while the listing is at hand.
	for _, t := range d.touched {
		ds := &d.seen[t.i]
		if ds.state != dirCounting {
			continue
		}
		if int(ds.seen) == d.snap.DirLen(t.dir) {
			ds.state = dirComplete
			continue
		}
		ds.state = dirRetained
		for _, i := range d.kept {
			if p := l.Entries[i].RelPath; parentOf(p) == t.dir && d.snap.Has(p) {
				d.retain(p)
			}
		}
	}
}

// uncount turns the children counted so far in this listing (its entries
// done, the kept indexes done) into retained keys: the listing turned out
// to hold a duplicate or another directory, so from here on its stored
// keys are recorded, and the counts would not tell which were seen.
func (d *delta) uncount(l sftpconn.DirListing, done []int) {
	for _, t := range d.touched {
		ds := &d.seen[t.i]
		if ds.state != dirCounting || ds.first != d.listing {
			continue
		}
		d.seenStored -= int(ds.seen)
		ds.seen, ds.state = 0, dirRetained
		for _, i := range done {
			if p := l.Entries[i].RelPath; parentOf(p) == t.dir && d.snap.Has(p) && d.retain(p) {
				d.seenStored++
			}
		}
	}
}

// retain records that stored key p was seen; false if it already was.
func (d *delta) retain(p string) bool {
	if d.retained == nil {
		d.retained = map[string]struct{}{}
	}
	if _, ok := d.retained[p]; ok {
		return false
	}
	d.retained[strings.Clone(p)] = struct{}{}
	return true
}

// present reports whether stored key p was seen by the scan; only valid
// once the walk is over, and only for keys of the snapshot.
func (d *delta) present(p string) bool {
	if !d.mayMiss() {
		return true
	}
	i, listed := d.dirs[parentOf(p)]
	if !listed {
		return false
	}
	if d.seen[i].state == dirRetained {
		_, ok := d.retained[p]
		return ok
	}
	return true // dirComplete: every stored child was seen
}

// mayMiss reports whether some stored key is missing from the scan.
func (d *delta) mayMiss() bool { return d.seenStored != d.snap.Len() }

// finish adds the stored keys missing from the scan (unless beneath a
// failed directory) and the present pending and self-removed keys, and
// returns the reduced inputs of diff.Compare.
func (d *delta) finish(failed []string, pending map[string]diff.Pending, self map[string]bool) (prev diff.Snapshot, scan diff.Scan) {
	if d.mayMiss() {
		fs := newFailedDirs(failed)
		for dir := range d.snap.Dirs() {
			if i, listed := d.dirs[dir]; listed && d.seen[i].state == dirComplete {
				continue
			}
			for p, s := range d.snap.In(dir) {
				if _, kept := d.cur[p]; kept || d.present(p) || fs.covers(p) {
					continue
				}
				d.prev[p] = s
			}
		}
	}
	for p := range pending {
		d.keepPresent(p)
	}
	for p, on := range self {
		if on {
			d.keepPresent(p)
		}
	}
	d.dropOutOfBounds()
	return d.prev, diff.Scan{Entries: d.cur, Failed: failed}
}

// dropOutOfBounds takes the files outside min_size and max_size out of the
// scan: they are not covered. Stored entries are always within the bounds
// they were stored under (a change of the bounds is a filter change, see
// changeFilter), so one outside them now has changed and is in cur: it
// leaves prev too, so that its disappearance from the scan is no delete, and
// is listed in outOfBounds for the commit to drop it silently. A pending
// record of such a file is dropped by Compare, as for a file gone before it
// settled. A file that grows back into range is new: a create.
func (d *delta) dropOutOfBounds() {
	for p, e := range d.cur {
		if d.filter.Sized(e.Type, e.Size) {
			continue
		}
		delete(d.cur, p)
		if _, stored := d.prev[p]; stored {
			delete(d.prev, p)
			d.outOfBounds = append(d.outOfBounds, p)
		}
	}
	slices.Sort(d.outOfBounds)
}

// keepPresent keeps stored key p in prev and cur when the scan saw it
// unchanged (a changed or new key is kept already; a missing one was added
// by finish unless a failed directory hides it).
func (d *delta) keepPresent(p string) {
	if _, kept := d.cur[p]; kept {
		return
	}
	s, stored := d.snap.Get(p)
	if !stored || !d.present(p) {
		return
	}
	d.prev[p], d.cur[p] = s, s
}

// failedDirs answers "is p beneath a directory that could not be listed?"
// for the poller's own use. It only needs to be conservative: a key it does
// not recognise as covered is handed to Compare, which decides exactly.
type failedDirs map[string]struct{}

func newFailedDirs(failed []string) failedDirs {
	if len(failed) == 0 {
		return nil
	}
	fs := make(failedDirs, len(failed))
	for _, f := range failed {
		fs[f] = struct{}{}
	}
	return fs
}

func (fs failedDirs) covers(p string) bool {
	if len(fs) == 0 {
		return false
	}
	for {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			_, root := fs[""]
			return root
		}
		p = p[:i]
		if _, ok := fs[p]; ok {
			return true
		}
	}
}

// scanDelta lists the watch's tree and compares it with snap as the
// listings arrive (fresh: see newDelta). snap must not change until it
// returns.
func scanDelta(ctx context.Context, l Lister, w config.Watch, snap *snapshot.Tree, fresh bool) (*delta, walkOutcome, error) {
	f, err := NewFilter(w)
	if err != nil {
		return nil, walkOutcome{}, err
	}
	d := newDelta(snap, fresh, f)
	wo, err := walkTree(ctx, l, w, d.visit, func(int) {})
	if err != nil {
		return nil, walkOutcome{}, err
	}
	return d, wo, nil
}
