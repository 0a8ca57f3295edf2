package diff

import (
	"math"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// Scan is one listing of a watch's tree.
type Scan struct {
	// Entries is every entry this scan saw, already filtered by the watch's
	// include/exclude/types. Entries that are present are trusted wherever
	// they are, even beneath a failed directory: what was seen is true.
	Entries Snapshot
	// Failed lists the rel paths of directories whose listing did not
	// complete ("" is the watch root). Absence from Entries means nothing
	// for anything beneath them: such entries keep their stored state and
	// their pending records.
	Failed []string
}

// Options are the per-watch knobs of Compare.
type Options struct {
	// Settle is how long a new or changed entry's content (Type, Size,
	// MTime, Link) must stay the same before it is reported. <= 0 reports at
	// the first sighting (subject to MinAge).
	Settle time.Duration
	// MinAge is how old an entry's MTime must be before a create or modify
	// is reported. <= 0 disables the check (clock skew is then irrelevant).
	MinAge time.Duration
	// DetectRenames pairs deletes and new entries into renames (see Compare).
	// Pairing also requires event.Rename to be enabled in Events.
	DetectRenames bool
	// Events selects which change types are emitted; nil means all. A change
	// of a type not selected still moves the snapshot and pending records
	// exactly as if it had been emitted, so it is never delivered later.
	Events map[event.Type]bool
	// RequireRelease holds creates and modifies of files back until their
	// path is in Released as well as settled (require_marker: Released
	// holds the files whose marker the scan saw). A held file keeps its
	// pending record and settle clock, and is reported by the first Compare
	// that finds it settled and released. Directories and symlinks, deletes
	// and renames are not held.
	RequireRelease bool
	Released       map[string]bool
}

func (o Options) emits(t event.Type) bool { return o.Events == nil || o.Events[t] }

// Change is one reportable difference.
type Change struct {
	Type    event.Type
	RelPath string
	// Entry holds the new attributes; for a delete, the last known ones.
	Entry Entry
	// Prev holds the stored attributes before the change: set for modify,
	// delete (equal to Entry) and rename (the old entry); nil for create.
	Prev *Entry
	// OldRelPath is the old location of a rename; empty otherwise.
	OldRelPath string
}

// Result is everything one Compare decided. The caller commits Changes (as
// events), the snapshot and pending updates and the self-removed
// consumption in one transaction, or applies them in memory with Apply.
//
// Set and Removed are disjoint, as are PendingSet and PendingRemoved. All
// slices are sorted; the maps are nil when empty.
type Result struct {
	// Changes is sorted by RelPath and, for one RelPath, delete first: the
	// only way one path carries two changes is a type change (delete of the
	// old entry, then create of — or rename into — the new one).
	Changes []Change
	// Set holds the snapshot entries whose stored value must change: newly
	// reported entries, reported modifies and renames, and silent mode-only
	// updates. An unchanged entry never appears here.
	Set Snapshot
	// Removed lists snapshot keys to delete.
	Removed []string
	// PendingSet holds pending records to write (new, or content changed so
	// that the settle clock restarts).
	PendingSet map[string]Pending
	// PendingRemoved lists pending keys to delete.
	PendingRemoved []string
	// SelfRemovedConsumed lists the keys of the selfRemoved set that this
	// scan confirmed gone; the caller forgets them.
	SelfRemovedConsumed []string
}

// Empty reports whether r has nothing to commit at all. An unchanged rescan
// yields an Empty Result, which lets the caller skip its write entirely.
func (r Result) Empty() bool {
	return len(r.Changes) == 0 && len(r.Set) == 0 && len(r.Removed) == 0 &&
		len(r.PendingSet) == 0 && len(r.PendingRemoved) == 0 && len(r.SelfRemovedConsumed) == 0
}

// Apply applies r to in-memory copies of the snapshot and the pending
// records, as committing r would. snap and pend must be non-nil whenever r
// has entries to set in them (they are the caller's maps, updated in place).
func Apply(snap Snapshot, pend map[string]Pending, r Result) {
	for _, k := range r.Removed {
		delete(snap, k)
	}
	for k, e := range r.Set {
		snap[k] = e
	}
	for _, k := range r.PendingRemoved {
		delete(pend, k)
	}
	for k, p := range r.PendingSet {
		pend[k] = p
	}
}

// Compare compares scan with the committed snapshot prev (what events have
// already been emitted for) and the pending records, at time now.
//
// Rules (SPEC section 4):
//   - A modify is a change of Size or MTime (or Link for a symlink). A
//     Mode-only change emits nothing; the new mode is stored silently via
//     Set. A Type change is a delete of the old entry and a create of the new.
//   - Creates and modifies are held back until the entry's content has been
//     unchanged for Settle (measured from Pending.Since) and now - MTime >=
//     MinAge. The first sighting writes a pending record with Since = now
//     (unless it is reportable at once); a content change while pending
//     rewrites it and restarts the clock; an unchanged unsettled entry writes
//     nothing. A create that keeps changing is one create with the final
//     attributes; an entry created and deleted before settling yields
//     nothing; a modify that reverts to the stored content yields nothing.
//     A pending record whose Since lies in the future (the clock went back)
//     is restarted at now.
//   - A stored entry missing from the scan is deleted at once, unless a
//     directory in scan.Failed is its parent or an ancestor (a failed root
//     suppresses every delete). Missing pending records are dropped under
//     the same condition. A missing entry whose key is in selfRemoved is
//     dropped silently and listed in SelfRemovedConsumed; keys still present
//     in the scan, or beneath a failed directory, are not consumed.
//   - With renames enabled, a delete of an entry missing from the scan and a
//     new entry of this scan with the same content (Type, Size, MTime, and
//     Link for symlinks) pair into one rename. The entry settled under its
//     old name, so a rename is reported at once (neither Settle nor MinAge
//     applies), whether or not the new entry was pending. Pairing is
//     one-to-one and deterministic: among deletes and new entries with equal
//     content, the i-th smallest old path (byte order) pairs with the i-th
//     smallest new path; the rest stay deletes and creates. The old entry of
//     a type change (its path is still present with another type) is never a
//     rename source, so no change ever refers to a path that a later change
//     in the same Result reuses. A directory rename pairs the directory
//     itself; its descendants pair individually when their content matches.
//
// Compare never panics on any input and, when nothing changed, allocates
// nothing.
func Compare(prev Snapshot, scan Scan, pending map[string]Pending, selfRemoved map[string]bool, now time.Time, opt Options) Result {
	b := comparer{
		prev:    prev,
		cur:     scan.Entries,
		pending: pending,
		failed:  newFailedSet(scan.Failed),
		opt:     opt,
		nowNano: now.UnixNano(),
		nowSec:  now.Unix(),
		nowSub:  int64(now.Nanosecond()),
	}
	b.run(selfRemoved)
	return b.res
}

// comparer holds the inputs and the Result under construction of one Compare.
type comparer struct {
	prev    Snapshot
	cur     Snapshot
	pending map[string]Pending
	failed  failedSet
	opt     Options

	nowNano, nowSec, nowSub int64

	// Collected in the scan pass, resolved after rename pairing.
	news        []pathEntry // present, not stored with this type: create/rename candidates
	typeChanged []pathEntry // stored entries whose path now holds another type
	gone        []pathEntry // stored entries missing from the scan, to be deleted

	res Result
}

type pathEntry struct {
	path  string
	entry Entry
}

func (b *comparer) run(selfRemoved map[string]bool) {
	// Pass 1: everything the scan saw. The unchanged case is one lookup and
	// one comparison per entry, with no allocation.
	matched := 0
	for p, c := range b.cur {
		s, stored := b.prev[p]
		if !stored {
			b.news = append(b.news, pathEntry{p, c})
			continue
		}
		matched++
		switch {
		case sameContent(s, c):
			if s.Mode != c.Mode {
				b.set(p, c) // mode-only: silent
			}
		case s.Type == c.Type:
			if b.ready(p, c) {
				b.emit(Change{Type: event.Modify, RelPath: p, Entry: c, Prev: ptr(s)})
				b.set(p, c)
			}
		default:
			b.typeChanged = append(b.typeChanged, pathEntry{p, s})
			b.news = append(b.news, pathEntry{p, c})
		}
	}

	// Pass 2: pending records. Present ones whose content equals the stored
	// entry reverted (pass 1 skipped them); missing ones are dropped unless
	// a failed directory hides them. The rest were handled in pass 1.
	for p := range b.pending {
		if c, ok := b.cur[p]; ok {
			if s, stored := b.prev[p]; stored && sameContent(s, c) {
				b.res.PendingRemoved = append(b.res.PendingRemoved, p)
			}
			continue
		}
		if !b.failed.covers(p) {
			b.res.PendingRemoved = append(b.res.PendingRemoved, p)
		}
	}

	// Pass 3: stored entries the scan did not see (skipped when every stored
	// key was matched in pass 1).
	if matched < len(b.prev) {
		for p, s := range b.prev {
			if _, ok := b.cur[p]; ok || b.failed.covers(p) {
				continue
			}
			b.res.Removed = append(b.res.Removed, p)
			if selfRemoved[p] {
				b.res.SelfRemovedConsumed = append(b.res.SelfRemovedConsumed, p)
				continue
			}
			b.gone = append(b.gone, pathEntry{p, s})
		}
	}
	// Self-removed keys that were never stored (or already dropped) and are
	// confirmed gone are consumed too, so the set cannot grow forever.
	for p, on := range selfRemoved {
		if !on {
			continue
		}
		if _, stored := b.prev[p]; stored {
			continue // decided in pass 3
		}
		if _, ok := b.cur[p]; ok || b.failed.covers(p) {
			continue
		}
		b.res.SelfRemovedConsumed = append(b.res.SelfRemovedConsumed, p)
	}

	b.resolve()
	b.finish()
}

// resolve pairs renames, then turns what is left into deletes, creates and
// pending records.
func (b *comparer) resolve() {
	paired := b.pairRenames()
	for i, g := range b.gone {
		if paired.old(i) {
			continue
		}
		b.emit(Change{Type: event.Delete, RelPath: g.path, Entry: g.entry, Prev: ptr(g.entry)})
	}
	for i, n := range b.news {
		if paired.new(i) {
			continue
		}
		if b.ready(n.path, n.entry) {
			b.emit(Change{Type: event.Create, RelPath: n.path, Entry: n.entry})
			b.set(n.path, n.entry)
		}
	}
	for _, t := range b.typeChanged {
		b.emit(Change{Type: event.Delete, RelPath: t.path, Entry: t.entry, Prev: ptr(t.entry)})
		if _, replaced := b.res.Set[t.path]; !replaced {
			b.res.Removed = append(b.res.Removed, t.path)
		}
	}
}

// ready decides whether the new or changed entry c at p is reportable now.
// If it is, any pending record for p is removed; if not, the pending record
// needed to keep its settle clock is written (only when it differs from the
// stored one).
func (b *comparer) ready(p string, c Entry) bool {
	pe, had := b.pending[p]
	since, write := b.nowNano, true
	if had && sameContent(pe.Entry, c) {
		since, write = pe.Since, false
		if since > b.nowNano { // the clock went back: restart
			since, write = b.nowNano, true
		}
	}
	if b.settled(since) && b.oldEnough(c.MTime) && b.released(p, c) {
		if had {
			b.res.PendingRemoved = append(b.res.PendingRemoved, p)
		}
		return true
	}
	if write {
		if b.res.PendingSet == nil {
			b.res.PendingSet = make(map[string]Pending)
		}
		b.res.PendingSet[p] = Pending{Entry: c, Since: since}
	}
	return false
}

// released reports whether the entry c at p may be reported as far as
// RequireRelease goes.
func (b *comparer) released(p string, c Entry) bool {
	return !b.opt.RequireRelease || c.Type != File || b.opt.Released[p]
}

// settled reports whether content unchanged since since (<= now) has been
// stable for Settle.
func (b *comparer) settled(since int64) bool {
	if b.opt.Settle <= 0 {
		return true
	}
	if since > b.nowNano {
		return false
	}
	return uint64(b.nowNano)-uint64(since) >= uint64(b.opt.Settle) // exact: now >= since
}

// oldEnough reports whether now - mtime >= MinAge, without overflow for any
// mtime.
func (b *comparer) oldEnough(mtime int64) bool {
	if b.opt.MinAge <= 0 {
		return true
	}
	if mtime > b.nowSec {
		return false
	}
	d := uint64(b.nowSec) - uint64(mtime) // exact: nowSec >= mtime
	if d >= uint64(math.MaxInt64/int64(time.Second)) {
		return true
	}
	return time.Duration(d)*time.Second+time.Duration(b.nowSub) >= b.opt.MinAge
}

func (b *comparer) set(p string, e Entry) {
	if b.res.Set == nil {
		b.res.Set = make(Snapshot)
	}
	b.res.Set[p] = e
}

// emit records a change; changes of types not selected are dropped here,
// after their snapshot effects have been decided.
func (b *comparer) emit(c Change) {
	if b.opt.emits(c.Type) {
		b.res.Changes = append(b.res.Changes, c)
	}
}

func ptr(e Entry) *Entry { return &e }
