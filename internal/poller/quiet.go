package poller

import (
	"maps"
	"slices"
	"strings"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// Entries a scan records silently although the snapshot did not hold them,
// because a first scan would have (SPEC §4 "More that holds"):
//
//   - after a filter change, entries the old filter did not cover and the
//     new one does: with `initial: baseline` they are recorded silently
//     (with `emit` they are creates, as in a first scan), and entries the
//     new filter no longer covers leave the state silently (load);
//   - with `initial: baseline`, entries beneath a directory that could not
//     be listed while the watch was baselined, once it lists: they were
//     there all along. Such directories are stored (basePending) until a
//     scan lists them; one that fails again stays, and directories beneath
//     it that fail when it lists take its place.

// filterChange is a change of coverage found when the state was loaded.
type filterChange struct {
	old coverer
	// followChanged: follow_symlinks changed, so links may be reported as
	// their targets (or the other way round) and paths beneath followed
	// links appear or vanish; every new path counts as newly covered.
	followChanged  bool
	dropped        []string // snapshot keys the new filter does not cover
	droppedPending []string // pending keys the new filter does not cover
}

// changeFilter drops from the in-memory snapshot and pending records what
// the watch's coverage no longer covers (the commit of the next scan drops
// them from the state) and returns the change. stored is the coverage the
// state was committed with.
func (p *Poller) changeFilter(stored string) (*filterChange, error) {
	w := p.opt.Watch
	oldCov, err := decodeCoverage(stored)
	if err != nil {
		return nil, err
	}
	old, err := newCoverer(w.Name, oldCov)
	if err != nil {
		return nil, err
	}
	cur, err := newCoverer(w.Name, coverageOf(w))
	if err != nil {
		return nil, err
	}
	fc := &filterChange{old: old, followChanged: oldCov.FollowSymlinks != w.FollowSymlinks}
	for k, e := range p.snap.All() {
		if !cur.covers(k, e) {
			fc.dropped = append(fc.dropped, k)
		}
	}
	for k, pe := range p.pending {
		if !cur.covers(k, pe.Entry) {
			fc.droppedPending = append(fc.droppedPending, k)
		}
	}
	slices.Sort(fc.droppedPending)
	p.snap.Apply(nil, fc.dropped)
	for _, k := range fc.droppedPending {
		delete(p.pending, k)
	}
	return fc, nil
}

// quietResult is what quiet decided for one scan.
type quietResult struct {
	silent      diff.Snapshot // recorded without events
	added       int           // newly covered entries seen (filter change)
	basePending []string      // the directories still pending, sorted
	changed     bool          // basePending differs from the stored list
}

// quiet takes out of sc the entries this scan records silently (see the
// top of the file), and decides the baseline-pending directories. prev and
// sc are what diff.Compare would get; an entry of sc that is not in prev is
// not in the snapshot. baseline: the scan is the watch's first, silent.
func (p *Poller) quiet(prev diff.Snapshot, sc *diff.Scan, failed []string, baseline bool) quietResult {
	w := p.opt.Watch
	var q quietResult
	next := map[string]bool{}
	if baseline {
		for _, f := range failed {
			next[f] = true
		}
		return p.pendingDirs(q, next)
	}
	fs := newFailedDirs(failed)
	var resolved []string
	for d := range p.basePending {
		if _, failedItself := fs[d]; failedItself || fs.covers(d) {
			next[d] = true
		} else {
			resolved = append(resolved, d)
		}
	}
	fc := p.meta.change
	for _, f := range failed {
		// A directory a filter change could not list is baselined when it
		// lists (it may hold entries the old filter did not cover); one
		// beneath a directory that just listed takes that one's place.
		if (fc != nil && w.Initial != "emit") || beneathAny(f, resolved) {
			next[f] = true
		}
	}
	if len(resolved) == 0 && fc == nil {
		return p.pendingDirs(q, next)
	}
	for k, e := range sc.Entries {
		s, stored := prev[k]
		if stored {
			// follow_symlinks changed: a link now seen as its target (or
			// the other way round) is the same entry, not a delete and a
			// create.
			if fc != nil && fc.followChanged && s.Type != e.Type && (s.Type == diff.Symlink || e.Type == diff.Symlink) {
				p.silence(&q, prev, sc, k, e)
			}
			continue
		}
		newly := fc != nil && (fc.followChanged || !fc.old.covers(k, e))
		if newly {
			q.added++
		}
		if (newly && w.Initial != "emit") || beneathAny(k, resolved) {
			p.silence(&q, prev, sc, k, e)
		}
	}
	return p.pendingDirs(q, next)
}

func (p *Poller) silence(q *quietResult, prev diff.Snapshot, sc *diff.Scan, k string, e diff.Entry) {
	if q.silent == nil {
		q.silent = diff.Snapshot{}
	}
	q.silent[k] = e
	delete(sc.Entries, k)
	delete(prev, k)
}

// pendingDirs completes q with the directories of next.
func (p *Poller) pendingDirs(q quietResult, next map[string]bool) quietResult {
	q.changed = !maps.Equal(next, p.basePending)
	q.basePending = slices.Sorted(maps.Keys(next))
	return q
}

// beneathAny reports whether rel is beneath one of dirs ("" is the root).
func beneathAny(rel string, dirs []string) bool {
	for _, d := range dirs {
		if d == "" || strings.HasPrefix(rel, d) && len(rel) > len(d) && rel[len(d)] == '/' {
			return true
		}
	}
	return false
}
