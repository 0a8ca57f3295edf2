package snapshot

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// check compares every read of t with the map m it must equal.
func check(t *testing.T, tr *Tree, m diff.Snapshot) {
	t.Helper()
	if tr.Len() != len(m) {
		t.Fatalf("Len %d, want %d", tr.Len(), len(m))
	}
	var bytes int64
	counts := map[string]int{}
	for k, e := range m {
		bytes += e.Size
		dn, _ := split(k)
		counts[dn]++
		got, ok := tr.Get(k)
		if !ok || got != e {
			t.Fatalf("Get(%q) = %+v, %v; want %+v", k, got, ok, e)
		}
		if !tr.Has(k) {
			t.Fatalf("Has(%q) false", k)
		}
	}
	if tr.Bytes() != bytes {
		t.Fatalf("Bytes %d, want %d", tr.Bytes(), bytes)
	}
	for dn, n := range counts {
		if tr.DirLen(dn) != n {
			t.Fatalf("DirLen(%q) %d, want %d", dn, tr.DirLen(dn), n)
		}
	}
	if got := tr.Map(); !maps.Equal(got, m) {
		t.Fatalf("Map %v\nwant %v", got, m)
	}
	dirs := slices.Collect(tr.Dirs())
	if !slices.IsSorted(dirs) || len(dirs) != len(counts) {
		t.Fatalf("Dirs %q, want the %d dirs sorted", dirs, len(counts))
	}
	for _, dn := range dirs {
		var names []string
		for k := range tr.In(dn) {
			names = append(names, k)
		}
		if !slices.IsSorted(names) || len(names) != counts[dn] {
			t.Fatalf("In(%q) = %q: want %d keys, sorted", dn, names, counts[dn])
		}
	}
	if len(tr.links) > tr.n {
		t.Fatalf("%d links for %d entries", len(tr.links), tr.n)
	}
}

// names are chosen to exercise ordering: prefixes, bytes below and above
// '/', a newline, invalid UTF-8.
var names = []string{"a", "a-1", "a.b", "ab", "b", "b\nc", "\xff", "$(x)", "Z", "a b"}

func randomKey(r *rand.Rand) string {
	k := names[r.IntN(len(names))]
	for d := r.IntN(3); d > 0; d-- {
		k = names[r.IntN(len(names))] + "/" + k
	}
	return k
}

func randomEntry(r *rand.Rand) diff.Entry {
	e := diff.Entry{Size: r.Int64N(5), MTime: r.Int64N(3), Mode: uint32(r.IntN(2)) * 0o644, Type: diff.EntryType(r.IntN(4))}
	if r.IntN(3) == 0 { // symbolic links and followed links have targets
		e.Link = fmt.Sprintf("target-%d", r.IntN(3))
	}
	return e
}

// TestTreeMatchesMap runs random Set, Delete and Apply sequences on a Tree
// and on a map and requires them to agree after every step.
func TestTreeMatchesMap(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		tr, m := New(), diff.Snapshot{}
		for step := 0; step < 40; step++ {
			switch r.IntN(4) {
			case 3:
				tr.Grow(names[r.IntN(len(names))], r.IntN(5), r.IntN(50))
			case 0:
				k, e := randomKey(r), randomEntry(r)
				tr.Set(k, e)
				m[k] = e
			case 1:
				k := randomKey(r)
				tr.Delete(k)
				delete(m, k)
			default:
				set := diff.Snapshot{}
				var removed []string
				batch := 6 // in place
				if r.IntN(3) == 0 {
					batch = 60 // some directories get more than inPlaceChanges: rebuilt
				}
				for i := r.IntN(batch); i > 0; i-- {
					removed = append(removed, randomKey(r))
				}
				for i := r.IntN(batch); i > 0; i-- {
					set[randomKey(r)] = randomEntry(r)
				}
				tr.Apply(set, removed)
				for _, k := range removed {
					delete(m, k)
				}
				maps.Copy(m, set)
			}
			check(t, tr, m)
		}
		tr.Trim()
		check(t, tr, m)
		check(t, FromMap(m), m)
	}
}

func TestApplyRemoveThenSetSameKey(t *testing.T) {
	tr := FromMap(diff.Snapshot{"d/x": {Size: 1}, "d/y": {Size: 2}})
	tr.Apply(diff.Snapshot{"d/x": {Size: 5}}, []string{"d/x", "d/y"})
	check(t, tr, diff.Snapshot{"d/x": {Size: 5}})
	tr.Apply(nil, []string{"d/x", "nope", "e/f"})
	check(t, tr, diff.Snapshot{})
	if len(tr.dirs) != 0 {
		t.Fatalf("empty directories kept: %v", slices.Collect(maps.Keys(tr.dirs)))
	}
}

// TestApplyFewChangesInPlace: a few changes to a large directory are made
// in place (the directory is not rebuilt, so a scan with a few changes in a
// flat directory of a million files copies nothing), many rebuild it, and
// both give the map's result.
func TestApplyFewChangesInPlace(t *testing.T) {
	m := diff.Snapshot{}
	for i := range 1000 {
		m[fmt.Sprintf("flat/f%04d", i)] = diff.Entry{Size: int64(i)}
	}
	tr := FromMap(m)
	before := tr.dirs["flat"]
	set := diff.Snapshot{"flat/f0500": {Size: 7}, "flat/new": {Size: 3}, "flat/a-first": {Size: 1}}
	removed := []string{"flat/f0000", "flat/f0999", "flat/f0123", "flat/absent"}
	tr.Apply(set, removed)
	for _, k := range removed {
		delete(m, k)
	}
	maps.Copy(m, set)
	check(t, tr, m)
	if tr.dirs["flat"] != before {
		t.Fatalf("7 changes rebuilt the directory")
	}
	many := diff.Snapshot{}
	for i := range inPlaceChanges + 1 {
		many[fmt.Sprintf("flat/g%02d", i)] = diff.Entry{Size: 1}
	}
	tr.Apply(many, nil)
	maps.Copy(m, many)
	check(t, tr, m)
	if tr.dirs["flat"] == before {
		t.Fatalf("%d changes were made in place, want one rebuild", len(many))
	}
}

// FuzzTree drives a Tree and a map with operations decoded from the input.
func FuzzTree(f *testing.F) {
	f.Add([]byte("\x00a/b\x00\x01a\x00\x02a/b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, m := New(), diff.Snapshot{}
		var keys []string
		for len(data) > 2 {
			op, n := data[0]%3, int(data[1])%8+1
			data = data[2:]
			n = min(n, len(data))
			k := string(data[:n])
			data = data[n:]
			if k == "" || k[0] == '/' || k[len(k)-1] == '/' || slices.Contains([]string{"", "."}, k) {
				continue
			}
			keys = append(keys, k)
			e := diff.Entry{Size: int64(op), MTime: int64(n), Type: diff.EntryType(op)}
			switch op {
			case 0:
				tr.Set(k, e)
				m[k] = e
			case 1:
				tr.Delete(k)
				delete(m, k)
			default:
				tr.Apply(diff.Snapshot{k: e}, []string{k})
				m[k] = e
			}
		}
		check(t, tr, m)
		// Cursors on the directories the input names (each once, at most
		// 16: the checks cost keys² each, which made the fuzzer crawl on
		// large inputs): its keys in input order (other directories' keys
		// among them), then its own sorted.
		seen := map[string]bool{}
		for _, k := range keys {
			dn, _ := split(k)
			if seen[dn] || len(seen) == 16 {
				continue
			}
			seen[dn] = true
			checkCursor(t, tr, m, dn, keys)
			own := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { kd, _ := split(k); return kd != dn })
			slices.Sort(own)
			checkCursor(t, tr, m, dn, slices.Compact(own))
		}
	})
}

// BenchmarkMemory reports the heap one entry costs, in a Tree and in a
// map, for 1,000,000 entries laid out like the bench's tree (10,000
// directories of 100 files, four levels deep).
//
//	go test -run '^$' -bench Memory -benchtime 1x ./internal/snapshot/
func BenchmarkMemory(b *testing.B) {
	keys := make([]string, 0, 1_000_000)
	for d := 0; d < 10_000; d++ {
		dir := fmt.Sprintf("d%02d/d%02d/d%02d/d%04d", d%10, d/10%10, d/100%10, d)
		for f := 0; f < 100; f++ {
			keys = append(keys, fmt.Sprintf("%s/file-%05d.dat", dir, f))
		}
	}
	e := diff.Entry{Size: 1234, MTime: 1_700_000_000, Mode: 0o644}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for b.Loop() {
		h0 := heap()
		m := make(diff.Snapshot)
		for _, k := range keys {
			m[string([]byte(k))] = e // own copy of the key, as a load makes
		}
		h1 := heap()
		tr := New()
		for _, k := range keys {
			tr.Set(k, e)
		}
		tr.Trim()
		h2 := heap()
		b.ReportMetric(float64(h1-h0)/float64(len(keys)), "map-B/entry")
		b.ReportMetric(float64(h2-h1)/float64(len(keys)), "tree-B/entry")
		runtime.KeepAlive(m)
		runtime.KeepAlive(tr)
	}
}

// BenchmarkGet is the rescan's lookup: every key of a 100,000-entry tree.
func BenchmarkGet(b *testing.B) {
	tr := New()
	var keys []string
	for d := 0; d < 1000; d++ {
		for f := 0; f < 100; f++ {
			k := fmt.Sprintf("dir-%04d/sub/file-%03d", d, f)
			keys = append(keys, k)
			tr.Set(k, diff.Entry{Size: int64(f)})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			if _, ok := tr.Get(k); !ok {
				b.Fatal(k)
			}
		}
	}
}

// TestLoaderMatchesMap loads random snapshots the way state.LoadInto
// does (Size every key, then Put every key, sorted) and also out of order,
// and requires the map's content, with every directory allocated exactly.
func TestLoaderMatchesMap(t *testing.T) {
	for seed := uint64(0); seed < 100; seed++ {
		r := rand.New(rand.NewPCG(seed, 9))
		m := diff.Snapshot{}
		for i := r.IntN(40); i > 0; i-- {
			m[randomKey(r)] = randomEntry(r)
		}
		for i := r.IntN(3) * 50; i > 0; i-- { // a large directory
			m[fmt.Sprintf("big/f%03d", i)] = randomEntry(r)
		}
		keys := slices.Sorted(maps.Keys(m))
		l := NewLoader()
		for _, k := range keys {
			l.Size([]byte(k))
		}
		l.Size([]byte("sized/but/never/put"))
		if seed%4 == 3 {
			r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		}
		for _, k := range keys {
			l.Put([]byte(k), m[k])
		}
		tr := l.Tree()
		check(t, tr, m)
		if seed%4 != 3 {
			// Exact up to the allocator's size classes; appending would
			// leave up to twice the length.
			tight := func(l, c int) bool { return c <= l+l/8+16 }
			for dn, d := range tr.dirs {
				if !tight(len(d.ends), cap(d.ends)) || !tight(len(d.names), cap(d.names)) || !tight(len(d.attrs), cap(d.attrs)) {
					t.Fatalf("seed %d: directory %q not sized from Size: ends %d/%d names %d/%d attrs %d/%d",
						seed, dn, len(d.ends), cap(d.ends), len(d.names), cap(d.names), len(d.attrs), cap(d.attrs))
				}
			}
		}
	}
}

// TestTreeKeepsNoKeyString: keys that are substrings of one large string
// (a listing's rel paths share one) are not kept by the Tree, which would
// hold the whole string for as long as it lives.
func TestTreeKeepsNoKeyString(t *testing.T) {
	var b strings.Builder
	for i := range 150 { // Apply's 130 make more than inPlaceChanges a directory
		fmt.Fprintf(&b, "dir%d/sub/name-%03d|", i%5, i)
	}
	all := b.String()
	keys := strings.Split(strings.TrimSuffix(all, "|"), "|") // substrings of all
	start := uintptr(unsafe.Pointer(unsafe.StringData(all)))
	inside := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return len(s) > 0 && p >= start && p < start+uintptr(len(all))
	}
	link := diff.Entry{Type: diff.Symlink, Link: "target"}
	tr := New()
	tr.Grow(keys[0][:4], 3, 30)
	for _, k := range keys[:20] {
		tr.Set(k, link)
	}
	set := diff.Snapshot{}
	for _, k := range keys[20:] {
		set[k] = link
	}
	tr.Apply(set, keys[:2])
	tr.Apply(diff.Snapshot{keys[5]: link}, nil) // in place, over an existing link key
	for dn := range tr.dirs {
		if inside(dn) {
			t.Fatalf("directory key %q is part of the caller's string", dn)
		}
	}
	for k := range tr.links {
		if inside(k) {
			t.Fatalf("link key %q is part of the caller's string", k)
		}
	}
	if len(tr.links) != 148 {
		t.Fatalf("%d links, want 148", len(tr.links))
	}
}
