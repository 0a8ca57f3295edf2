package poller

import (
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/snapshot"
)

// coverageEdits are the filter changes the filter-change check draws from.
var coverageEdits = []func(*config.Watch){
	func(w *config.Watch) { w.Include = []string{"a/**"} },
	func(w *config.Watch) { w.Exclude = []string{"b"} },
	func(w *config.Watch) { w.Exclude = []string{"**/x"} },
	func(w *config.Watch) { w.MaxDepth = 1 },
	func(w *config.Watch) { w.MaxDepth = 2 },
	func(w *config.Watch) { w.Types = []string{"file"} },
	func(w *config.Watch) { w.Include = []string{"*"}; w.Types = []string{"dir", "symlink"} },
	func(w *config.Watch) { w.MinSize = 1 },
	func(w *config.Watch) { w.MaxSize = 0; w.MinSize = 1; w.Include = []string{"a/**"} },
}

// prune keeps of the listings what a walk with coverage v would list:
// nothing beneath an excluded directory or deeper than the depth limit
// (what the filter does not match is left to the delta, as in a walk).
func prune(ls []sftpconn.DirListing, v coverer) []sftpconn.DirListing {
	var out []sftpconn.DirListing
	for _, l := range ls {
		if l.Dir != "" && !v.reaches(l.Dir) {
			continue
		}
		if l.Err != nil {
			out = append(out, l)
			continue
		}
		var es []sftpconn.Entry
		for _, e := range l.Entries {
			if v.reaches(parentOf(e.RelPath)) {
				es = append(es, e)
			}
		}
		out = append(out, sftpconn.DirListing{Dir: l.Dir, Entries: es})
	}
	return out
}

// reaches reports whether a walk with v lists directory dir ("" the
// root): its entries are within the depth limit and neither it nor a
// directory above it is excluded.
func (v coverer) reaches(dir string) bool {
	if dir == "" {
		return true
	}
	if v.c.MaxDepth > 0 && strings.Count(dir, "/")+1 >= v.c.MaxDepth {
		return false
	}
	for i := 0; i <= len(dir); i++ {
		if (i == len(dir) || dir[i] == '/') && v.f.Excluded(dir[:i]) {
			return false
		}
	}
	return true
}

// checkFilterChange: after a change of coverage, the delta path and the
// full maps decide the same (events, snapshot and silent entries), no
// event is about an entry the new filter does not cover, and with
// `initial: baseline` no create is about a new path the old one did not
// cover.
func checkFilterChange(t *testing.T, seed uint64) {
	c := newDeltaCase(seed)
	old := config.Watch{Name: "w", Recursive: true, Initial: "baseline", Types: c.watch.Types}
	nw := old
	coverageEdits[seed%uint64(len(coverageEdits))](&nw)
	if seed/uint64(len(coverageEdits))%2 == 1 {
		old, nw = nw, old // the other way: widening
	}
	if seed%3 == 0 {
		old.Initial, nw.Initial = "emit", "emit"
	}
	oldCov, err := newCoverer("w", coverageOf(old))
	if err != nil {
		t.Fatal(err)
	}
	newCov, err := newCoverer("w", coverageOf(nw))
	if err != nil {
		t.Fatal(err)
	}
	// The stored snapshot was produced by the old coverage.
	stored := diff.Snapshot{}
	for k, e := range c.snap {
		if oldCov.covers(k, e) {
			stored[k] = e
		}
	}
	listings := prune(c.listings, newCov)
	now := time.Unix(1001, 0).Add(2 * time.Second)
	f, err := NewFilter(nw)
	if err != nil {
		t.Fatal(err)
	}
	run := func(reduced bool) (diff.Result, quietResult, *filterChange) {
		p := &Poller{opt: Options{Watch: nw}, snap: snapshot.FromMap(stored), pending: maps.Clone(c.pending), basePending: map[string]bool{}}
		fc, err := p.changeFilter(coverageOf(old).encode())
		if err != nil {
			t.Fatal(err)
		}
		p.meta.change = fc
		var failed []string
		for _, l := range listings {
			if l.Err != nil {
				failed = append(failed, l.Dir)
			}
		}
		var prev diff.Snapshot
		var sc diff.Scan
		if reduced {
			d := newDelta(p.snap, false, f)
			for _, l := range listings {
				if l.Err == nil {
					d.visit(l, f)
				}
			}
			prev, sc = d.finish(failed, p.pending, c.self)
		} else {
			prev = p.snap.Map()
			sc = diff.Scan{Entries: diff.Snapshot{}, Failed: failed}
			for _, l := range listings {
				for i := range l.Entries {
					if e := &l.Entries[i]; f.Match(e.RelPath, entryType(e.Type)) {
						sc.Entries[e.RelPath] = entryOf(e)
					}
				}
			}
			// A file seen outside the size bounds is not covered: not in
			// the scan, and, stored, it leaves the state silently.
			for k, e := range sc.Entries {
				if !f.Sized(e.Type, e.Size) {
					delete(sc.Entries, k)
					delete(prev, k)
				}
			}
		}
		q := p.quiet(prev, &sc, failed, false)
		return normalize(diff.Compare(prev, sc, p.pending, c.self, now, c.opt)), q, fc
	}
	got, gq, fc := run(true)
	want, wq, _ := run(false)
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gq, wq) {
		t.Fatalf("seed %d: reduced inputs decide otherwise after a filter change\ngot  %+v %+v\nwant %+v %+v", seed, got, gq, want, wq)
	}
	for _, k := range fc.dropped {
		if e := stored[k]; newCov.covers(k, e) {
			t.Fatalf("seed %d: dropped %q, which the new filter covers", seed, k)
		}
	}
	for _, ch := range got.Changes {
		if !newCov.covers(ch.RelPath, ch.Entry) {
			t.Fatalf("seed %d: %s %q, which the new filter does not cover", seed, ch.Type, ch.RelPath)
		}
		// (A path whose stored entry changed type is a real change: the
		// old entry's delete and the new one's create are both reported.)
		_, typeChanged := stored[ch.RelPath]
		if ch.Type == event.Create && nw.Initial != "emit" && !typeChanged && !oldCov.covers(ch.RelPath, ch.Entry) {
			t.Fatalf("seed %d: create %q, newly covered by the filter change", seed, ch.RelPath)
		}
	}
}

func TestFilterChangeEquivalent(t *testing.T) {
	for seed := range uint64(5000) {
		checkFilterChange(t, seed)
	}
}

func FuzzFilterChangeEquivalent(f *testing.F) {
	f.Add(uint64(1))
	f.Fuzz(func(t *testing.T, seed uint64) { checkFilterChange(t, seed) })
}
