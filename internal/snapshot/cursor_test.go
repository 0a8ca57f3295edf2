package snapshot

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// checkCursor looks keys up, in the order given, through one Cursor on
// directory dn and requires what Get on the map m finds, and Increasing to
// say whether the keys found (all of dn) came in strictly increasing order.
func checkCursor(t *testing.T, tr *Tree, m diff.Snapshot, dn string, keys []string) {
	t.Helper()
	c := tr.Cursor(dn)
	if c.Dir() != dn {
		t.Fatalf("Dir %q, want %q", c.Dir(), dn)
	}
	increasing, last := true, ""
	for i, k := range keys {
		got, ok := c.Get(k)
		want, stored := m[k]
		if ok != stored || got != want {
			t.Fatalf("cursor on %q, look-up %d of %q: %+v, %v; want %+v, %v (keys %q)", dn, i, k, got, ok, want, stored, keys)
		}
		if kd, _ := split(k); kd != dn {
			increasing = false
		} else if stored {
			if last != "" && k <= last {
				increasing = false
			}
			last = k
		}
	}
	if c.Increasing() != increasing {
		t.Fatalf("cursor on %q after %q: Increasing %v, want %v", dn, keys, c.Increasing(), increasing)
	}
}

// TestCursorMatchesGet looks up random key sequences of each directory
// through a Cursor: sorted listings with stored names missing and new
// names between (the common case), shuffled, with duplicates, and with
// keys of other directories, in trees with directories large enough for
// the binary searches.
func TestCursorMatchesGet(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 17))
		m := diff.Snapshot{}
		for i := r.IntN(60); i > 0; i-- {
			m[randomKey(r)] = randomEntry(r)
		}
		for i := r.IntN(3) * 40; i > 0; i-- {
			m[fmt.Sprintf("big/f%03d", r.IntN(200))] = randomEntry(r)
		}
		tr := FromMap(m)
		dirs := []string{"", "big", "nowhere", names[r.IntN(len(names))]}
		for _, dn := range dirs {
			// Candidates: every stored key of dn and as many that are not.
			var keys []string
			for k := range m {
				if kd, _ := split(k); kd == dn {
					keys = append(keys, k)
				}
			}
			for range len(keys) + 3 {
				name := names[r.IntN(len(names))]
				if dn == "big" {
					name = fmt.Sprintf("f%03d", r.IntN(200))
				}
				keys = append(keys, join(dn, name))
			}
			// A listing: a random subset, sorted, no duplicates.
			keys = slices.DeleteFunc(keys, func(string) bool { return r.IntN(4) == 0 })
			slices.Sort(keys)
			keys = slices.Compact(keys)
			checkCursor(t, tr, m, dn, keys)
			switch r.IntN(4) {
			case 0:
				r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			case 1:
				if len(keys) > 0 {
					keys = slices.Insert(keys, r.IntN(len(keys)+1), keys[r.IntN(len(keys))])
				}
			case 2:
				keys = slices.Insert(keys, r.IntN(len(keys)+1), randomKey(r))
			case 3:
				slices.Reverse(keys)
			}
			checkCursor(t, tr, m, dn, keys)
		}
	}
}

// TestCursorSortedListing: a sorted listing of a directory holding every
// stored key is found in order, Increasing, whatever the names' bytes.
func TestCursorSortedListing(t *testing.T) {
	m := diff.Snapshot{}
	for _, n := range names {
		m["d/"+n] = diff.Entry{Size: int64(len(n))}
		m["d/"+n+"/x"] = diff.Entry{} // another directory: not in the way
	}
	tr := FromMap(m)
	var keys []string
	for _, n := range names {
		keys = append(keys, "d/"+n)
	}
	slices.Sort(keys)
	checkCursor(t, tr, m, "d", keys)
	c := tr.Cursor("d")
	for _, k := range keys {
		if _, ok := c.Get(k); !ok || !strings.HasPrefix(k, "d/") {
			t.Fatalf("%q not found", k)
		}
	}
	if !c.Increasing() {
		t.Fatal("sorted listing not Increasing")
	}
	if _, ok := c.Get(keys[0]); ok && c.Increasing() {
		t.Fatal("a key found twice still Increasing")
	}
}

// BenchmarkCursorGet is BenchmarkGet's look-ups through one Cursor per
// directory, as a rescan makes them (each listing sorted by name).
func BenchmarkCursorGet(b *testing.B) {
	tr := New()
	var dirs []string
	var keys [][]string
	for d := 0; d < 1000; d++ {
		dn := fmt.Sprintf("dir-%04d/sub", d)
		dirs = append(dirs, dn)
		var ks []string
		for f := 0; f < 100; f++ {
			k := fmt.Sprintf("%s/file-%03d", dn, f)
			ks = append(ks, k)
			tr.Set(k, diff.Entry{Size: int64(f)})
		}
		keys = append(keys, ks)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, dn := range dirs {
			c := tr.Cursor(dn)
			for _, k := range keys[i] {
				if _, ok := c.Get(k); !ok {
					b.Fatal(k)
				}
			}
		}
	}
}
