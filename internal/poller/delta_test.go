package poller

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/snapshot"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// deltaCase is a random stored state and a random scan of a small tree,
// with the listings a Lister could hand over: sorted per directory, or
// (hostile or foreign listers) shuffled, with duplicates, one directory's
// entries split over two listings, or two directories in one listing.
type deltaCase struct {
	snap     diff.Snapshot
	pending  map[string]diff.Pending
	self     map[string]bool
	listings []sftpconn.DirListing
	failed   []string
	opt      diff.Options
	watch    config.Watch // its filter: entries of other types are not seen
}

var deltaPaths = []string{
	"x", "y", "z", "a", "b", "a/x", "a/y", "a/z", "a/c", "a/c/x", "a/c/y", "b/x", "b/y", "b/d", "b/d/x",
}

func randEntry(r *rand.Rand) diff.Entry {
	e := diff.Entry{
		Type:  diff.EntryType(r.IntN(4)),
		Size:  int64(r.IntN(2)),
		MTime: int64(1000 + r.IntN(2)),
		Mode:  uint32(0o600 + r.IntN(2)),
	}
	if e.Type == diff.Symlink || r.IntN(8) == 0 {
		e.Link = []string{"", "t1", "t2"}[r.IntN(3)]
	}
	return e
}

func listed(p string, e diff.Entry) sftpconn.Entry {
	return sftpconn.Entry{
		RelPath: p, Type: listedType(e.Type), Size: e.Size, MTime: time.Unix(e.MTime, 0),
		Mode: fs.FileMode(e.Mode & 0o777), Link: e.Link,
	}
}

// listedType is entryType's inverse.
func listedType(t diff.EntryType) sftpconn.EntryType {
	for _, lt := range []sftpconn.EntryType{sftpconn.TypeFile, sftpconn.TypeDir, sftpconn.TypeSymlink} {
		if entryType(lt) == t {
			return lt
		}
	}
	return sftpconn.TypeOther
}

func newDeltaCase(seed uint64) deltaCase {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := deltaCase{snap: diff.Snapshot{}, pending: map[string]diff.Pending{}, self: map[string]bool{}}
	scanned := map[string]diff.Entry{}
	for _, p := range deltaPaths {
		var stored *diff.Entry
		if r.IntN(3) > 0 {
			e := randEntry(r)
			c.snap[p], stored = e, &e
		}
		switch r.IntN(4) {
		case 0: // missing
		case 1:
			if stored != nil {
				scanned[p] = *stored // unchanged: the common case
				break
			}
			fallthrough
		default:
			scanned[p] = randEntry(r)
		}
		if r.IntN(5) == 0 {
			e := randEntry(r)
			if r.IntN(2) == 0 {
				if s, ok := scanned[p]; ok {
					e = s
				}
			}
			c.pending[p] = diff.Pending{Entry: e, Since: int64(r.IntN(3)) * int64(time.Second)}
		}
		if r.IntN(6) == 0 {
			c.self[p] = r.IntN(4) > 0
		}
	}
	// Group by parent; the root and other directories may fail.
	byDir := map[string][]sftpconn.Entry{}
	for _, p := range deltaPaths {
		if e, ok := scanned[p]; ok {
			byDir[parentOf(p)] = append(byDir[parentOf(p)], listed(p, e))
		}
	}
	for _, dir := range []string{"", "a", "b", "a/c", "b/d", "gone"} {
		if dir != "" && r.IntN(5) == 0 {
			c.failed = append(c.failed, dir)
			c.listings = append(c.listings, sftpconn.DirListing{Dir: dir, Err: fs.ErrPermission})
			continue
		}
		es := byDir[dir]
		switch r.IntN(6) {
		case 0:
			r.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		case 1:
			if len(es) > 0 { // a duplicate, maybe with other attributes
				d := es[r.IntN(len(es))]
				if r.IntN(2) == 0 {
					e := randEntry(r)
					d.Type, d.Size, d.MTime, d.Link = listedType(e.Type), e.Size, time.Unix(e.MTime, 0), e.Link
				}
				es = slices.Insert(es, r.IntN(len(es)+1), d)
			}
		case 2:
			if len(es) > 1 { // split over two listings
				k := 1 + r.IntN(len(es)-1)
				c.listings = append(c.listings, sftpconn.DirListing{Dir: dir, Entries: es[:k]})
				es = es[k:]
			}
		}
		c.listings = append(c.listings, sftpconn.DirListing{Dir: dir, Entries: es})
	}
	if i, j := r.IntN(len(c.listings)), r.IntN(len(c.listings)); r.IntN(4) == 0 && i != j &&
		c.listings[i].Err == nil && c.listings[j].Err == nil {
		// A foreign lister's listing of two directories, sorted or not.
		merged := append(slices.Clone(c.listings[i].Entries), c.listings[j].Entries...)
		if r.IntN(2) == 0 {
			slices.SortFunc(merged, func(a, b sftpconn.Entry) int { return strings.Compare(a.RelPath, b.RelPath) })
		}
		c.listings[i].Entries = merged
		c.listings = slices.Delete(c.listings, j, j+1)
	}
	r.Shuffle(len(c.listings), func(i, j int) { c.listings[i], c.listings[j] = c.listings[j], c.listings[i] })
	c.opt = diff.Options{
		Settle:        time.Duration(r.IntN(3)) * time.Second,
		DetectRenames: r.IntN(2) == 0,
	}
	if r.IntN(4) == 0 {
		c.opt.Events = map[event.Type]bool{event.Create: true, event.Delete: r.IntN(2) == 0, event.Rename: true}
	}
	if r.IntN(3) == 0 {
		c.watch.Types = []string{"file", "dir"}
	}
	return c
}

// full is the scan as Scan builds it: every entry, the last sighting of a
// duplicate winning.
func (c deltaCase) full(f Filter) (diff.Scan, int) {
	s := diff.Scan{Entries: diff.Snapshot{}, Failed: c.failed}
	n := 0
	for _, l := range c.listings {
		for i := range l.Entries {
			if e := &l.Entries[i]; f.Match(e.RelPath, entryType(e.Type)) {
				s.Entries[e.RelPath] = entryOf(e)
				n++
			}
		}
	}
	return s, n
}

func normalize(r diff.Result) diff.Result {
	if len(r.Set) == 0 {
		r.Set = nil
	}
	if len(r.PendingSet) == 0 {
		r.PendingSet = nil
	}
	return r
}

// checkDelta asserts that Compare on the delta's reduced inputs decides
// exactly what Compare on the full scan and snapshot decides.
func checkDelta(t *testing.T, seed uint64) {
	c := newDeltaCase(seed)
	now := time.Unix(1001, 0).Add(2 * time.Second)
	f, err := NewFilter(c.watch)
	if err != nil {
		t.Fatal(err)
	}
	d := newDelta(snapshot.FromMap(c.snap), false, Filter{})
	for _, l := range c.listings {
		if l.Err == nil {
			d.visit(l, f)
		}
	}
	prev, sc := d.finish(c.failed, c.pending, c.self)
	full, n := c.full(f)
	if d.entries != n {
		t.Fatalf("seed %d: delta counted %d entries, the filtered listings hold %d", seed, d.entries, n)
	}
	want := normalize(diff.Compare(c.snap, full, c.pending, c.self, now, c.opt))
	got := normalize(diff.Compare(prev, sc, c.pending, c.self, now, c.opt))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("seed %d: reduced Compare differs\nsnap %v\nlistings %+v\nfailed %q pending %v self %v\nprev %v\ncur %v\ngot  %+v\nwant %+v",
			seed, c.snap, c.listings, c.failed, c.pending, c.self, prev, sc.Entries, got, want)
	}
	// Every stored key the full scan misses (and no failed directory hides)
	// is in prev: the baseline path removes them.
	fd := newFailedDirs(c.failed)
	for p := range c.snap {
		if _, ok := full.Entries[p]; !ok && !fd.covers(p) {
			if _, kept := prev[p]; !kept {
				t.Fatalf("seed %d: missing stored key %q not kept", seed, p)
			}
		}
	}
}

func TestDeltaCompareEquivalent(t *testing.T) {
	for seed := range uint64(20000) {
		checkDelta(t, seed)
	}
}

func FuzzDeltaCompareEquivalent(f *testing.F) {
	f.Add(uint64(1))
	f.Fuzz(func(t *testing.T, seed uint64) { checkDelta(t, seed) })
}

// memTree is a Lister over a map of rel path → entry, listing every
// directory once, sorted, as sftpconn.Walk does.
type memTree map[string]diff.Entry

func (m memTree) Walk(ctx context.Context, _ string, _ sftpconn.WalkOptions, fn func(sftpconn.DirListing) error) error {
	byDir := map[string][]sftpconn.Entry{"": nil}
	for p, e := range m {
		byDir[parentOf(p)] = append(byDir[parentOf(p)], listed(p, e))
	}
	for _, dir := range slices.Sorted(maps.Keys(byDir)) {
		if _, ok := m[dir]; dir != "" && !ok {
			continue // its parent does not list it: not visited
		}
		es := byDir[dir]
		slices.SortFunc(es, func(a, b sftpconn.Entry) int { return strings.Compare(a.RelPath, b.RelPath) })
		if err := fn(sftpconn.DirListing{Dir: dir, Entries: es}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// TestDeltaScansKeepSnapshot runs many scans of a tree that changes between
// them (files and whole directories come and go) and checks after each that
// the poller's snapshot is the tree, that its per-directory counts match the
// snapshot, and that the store holds the same snapshot.
func TestDeltaScansKeepSnapshot(t *testing.T) {
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	r := rand.New(rand.NewPCG(7, 11))
	tree := memTree{}
	dirs := []string{"a", "b", "a/c"}
	w := config.Watch{Name: "w", Path: "/", Recursive: true, Initial: "baseline"}
	p := New(Options{Watch: w, Lister: tree, Store: StateStore{Store: store}})
	for scan := range 60 {
		for range 1 + r.IntN(20) {
			switch r.IntN(5) {
			case 0: // a directory goes, with everything beneath it
				d := dirs[r.IntN(len(dirs))]
				for k := range tree {
					if k == d || strings.HasPrefix(k, d+"/") {
						delete(tree, k)
					}
				}
			default:
				parent := []string{"", "a", "b", "a/c"}[r.IntN(4)]
				for q := parent; q != ""; q = parentOf(q) {
					tree[q] = diff.Entry{Type: diff.Dir, MTime: 1, Mode: 0o755}
				}
				name := fmt.Sprintf("f%d", r.IntN(8))
				if parent != "" {
					name = parent + "/" + name
				}
				if _, isDir := tree[name]; !isDir || tree[name].Type != diff.Dir {
					tree[name] = diff.Entry{Type: diff.File, Size: int64(r.IntN(3)), MTime: 1, Mode: 0o644}
				}
			}
		}
		if _, err := p.ScanOnce(context.Background(), false); err != nil {
			t.Fatalf("scan %d: %v", scan, err)
		}
		if got := p.snap.Map(); !maps.Equal(got, diff.Snapshot(tree)) {
			t.Fatalf("scan %d: snapshot\n%v\nwant the tree\n%v", scan, got, tree)
		}
		stored, err := store.Load(w.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(stored.Snapshot, p.snap.Map()) {
			t.Fatalf("scan %d: stored snapshot %v, in memory %v", scan, stored.Snapshot, p.snap.Map())
		}
	}
}

// failingCommit is a real store whose Commit fails while fail is set.
type failingCommit struct {
	StateStore
	fail bool
}

func (f *failingCommit) Commit(watch string, b Batch) ([]event.Event, error) {
	if f.fail {
		return nil, errors.New("injected commit failure")
	}
	return f.StateStore.Commit(watch, b)
}

// TestBaselineInParts: a baseline whose commit failed may leave parts of
// it stored (a store writes a large baseline in several transactions, see
// state's TestCommitStreamInParts), and the next baseline (after the tree
// changed) removes what is gone.
func TestBaselineInParts(t *testing.T) {
	store, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tree := memTree{}
	for i := range 25 {
		tree[fmt.Sprintf("f%02d", i)] = diff.Entry{Type: diff.File, Size: int64(i), MTime: 1, Mode: 0o644}
	}
	fs := &failingCommit{StateStore: StateStore{Store: store}, fail: true}
	w := config.Watch{Name: "w", Path: "/", Recursive: true, Initial: "baseline"}
	p := New(Options{Watch: w, Lister: tree, Store: fs})

	if _, err := p.ScanOnce(context.Background(), false); err == nil {
		t.Fatal("the failing commit was not reported")
	}
	// What the failed commit's first parts left behind.
	keys := slices.Sorted(maps.Keys(tree))[:20]
	if err := store.PutSnapshot("w", diff.Snapshot(tree), keys); err != nil {
		t.Fatal(err)
	}
	stored, err := store.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Initialized || len(stored.Snapshot) != 20 {
		t.Fatalf("after the failed commit: initialized %v, %d entries stored, want false, 20",
			stored.Initialized, len(stored.Snapshot))
	}

	delete(tree, "f00") // in the first part, gone before the retry
	delete(tree, "f15")
	tree["new"] = diff.Entry{Type: diff.File, MTime: 1, Mode: 0o644}
	fs.fail = false
	out, err := p.ScanOnce(context.Background(), false)
	if err != nil || len(out.Events) != 0 {
		t.Fatalf("retried baseline: %v, %d events", err, len(out.Events))
	}
	stored, err = store.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if !stored.Initialized || !maps.Equal(stored.Snapshot, diff.Snapshot(tree)) {
		t.Fatalf("after the baseline: initialized %v, stored %v, want the tree %v", stored.Initialized, stored.Snapshot, tree)
	}
	if got := p.snap.Map(); !maps.Equal(got, diff.Snapshot(tree)) {
		t.Fatalf("in memory: %v, want the tree", got)
	}
}
