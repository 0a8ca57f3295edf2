package diff

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// byteSource hands out the fuzz input a byte at a time; once exhausted it
// yields zeros, so every input decodes to something.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	c := s.b[s.i]
	s.i++
	return c
}

func (s *byteSource) done() bool { return s.i >= len(s.b) }

// fuzzPaths is the tiny namespace of the invariants fuzzer: nested so that
// failed directories cover some of it, hostile enough to keep keys opaque.
var fuzzPaths = []string{"a", "b", "a/x", "a/y", "a/x/q", "b/z", "c/d/e", "$(touch PWNED)", "a/x/new\nline"}

// fuzzFailed are the directories a scan may report as failed.
var fuzzFailed = []string{"a", "b", "a/x", "c", "c/d", "zz"}

// fuzzEntry decodes an entry from two bytes. The domain is small so that
// equal content (unchanged entries, rename candidates) is common.
func fuzzEntry(src *byteSource, nowSec int64) Entry {
	x, y := src.next(), src.next()
	e := Entry{
		Type:  EntryType(x % 4),
		Size:  int64(x>>2) % 3,
		MTime: nowSec - 10 + 3*int64(x>>4%4),
		Mode:  0o600 | uint32(y&1)<<7,
	}
	if e.Type == Symlink {
		e.Link = []string{"t", "u"}[y>>1&1]
	}
	return e
}

type fuzzCase struct {
	prev    Snapshot
	scan    Scan
	pending map[string]Pending
	self    map[string]bool
	now     time.Time
	opt     Options
}

func decodeFuzzCase(data []byte) fuzzCase {
	src := &byteSource{b: data}
	now := t0.Add(time.Duration(src.next()) * 7 * time.Millisecond)
	nowSec := now.Unix()
	c := fuzzCase{
		prev:    Snapshot{},
		scan:    Scan{Entries: Snapshot{}},
		pending: map[string]Pending{},
		self:    map[string]bool{},
		now:     now,
	}
	o := src.next()
	c.opt.Settle = []time.Duration{0, 5 * time.Second, 20 * time.Second, 0}[o%4]
	c.opt.MinAge = []time.Duration{0, 0, 3 * time.Second, 100 * time.Second}[o>>2%4]
	c.opt.DetectRenames = o>>4&1 == 1
	if o>>5&1 == 1 {
		mask := src.next()
		c.opt.Events = map[event.Type]bool{}
		for i, t := range event.Types {
			if mask>>i&1 == 1 {
				c.opt.Events[t] = true
			}
		}
	}
	failed := src.next()
	if failed == 0xff {
		c.scan.Failed = append(c.scan.Failed, "")
	} else {
		for i, d := range fuzzFailed {
			if failed>>i&1 == 1 {
				c.scan.Failed = append(c.scan.Failed, d)
			}
		}
	}
	for _, p := range fuzzPaths {
		flags := src.next()
		var stored Entry
		if flags&1 != 0 {
			stored = fuzzEntry(src, nowSec)
			c.prev[p] = stored
		}
		var seen Entry
		if flags&2 != 0 {
			if flags&1 != 0 && flags&16 != 0 {
				seen = stored // unchanged entries are the common case
				if flags&64 != 0 {
					seen.Mode ^= 0o044
				}
			} else {
				seen = fuzzEntry(src, nowSec)
			}
			c.scan.Entries[p] = seen
		}
		if flags&4 != 0 {
			pe := Pending{Entry: seen}
			if flags&2 == 0 || flags&32 == 0 {
				pe.Entry = fuzzEntry(src, nowSec)
			}
			pe.Since = now.Add(-time.Duration(int(src.next())%46-5) * time.Second).UnixNano()
			c.pending[p] = pe
		}
		if flags&8 != 0 {
			c.self[p] = true
		}
	}
	return c
}

func FuzzCompareInvariants(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 3, 1, 0, 3, 1, 0})
	f.Add([]byte{10, 0x11, 0, 1, 5, 0, 2, 9, 0, 3, 5, 0, 7, 1, 0, 4, 0x13, 1})
	f.Add([]byte{200, 0x35, 0x0f, 0x03, 0x17, 0x20, 1, 0x07, 0x20, 1, 12, 0x3b, 0x44, 0, 3, 0x22, 1, 0x19, 0x11, 0})
	f.Add([]byte{0, 0x10, 0xff, 3, 1, 0, 2, 1, 0, 7, 9, 9, 9, 9})
	f.Add([]byte{1, 0x14, 0x05, 0x13, 0x21, 0, 0x52, 0x03, 0x21, 0, 0x21, 0, 0x13, 0x21, 0, 0x02, 0x21, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := decodeFuzzCase(data)
		checkCompareInvariants(t, c)
	})
}

func checkCompareInvariants(t *testing.T, c fuzzCase) {
	t.Helper()
	prev, pending := maps.Clone(c.prev), maps.Clone(c.pending)
	r := Compare(c.prev, c.scan, c.pending, c.self, c.now, c.opt)
	if !maps.Equal(prev, c.prev) || !maps.Equal(pending, c.pending) {
		t.Fatal("Compare modified its inputs")
	}
	// Deterministic despite map iteration order.
	if r2 := Compare(c.prev, c.scan, c.pending, c.self, c.now, c.opt); !reflect.DeepEqual(r, r2) {
		t.Fatalf("Compare is not deterministic:\n%s\nvs\n%s", formatResult(r), formatResult(r2))
	}
	failed := refFailed(c.scan.Failed)
	cur := c.scan.Entries
	nowNano := c.now.UnixNano()

	// Lists are sorted and free of duplicates; Set/Removed and
	// PendingSet/PendingRemoved are disjoint.
	for _, l := range [][]string{r.Removed, r.PendingRemoved, r.SelfRemovedConsumed} {
		if !slices.IsSorted(l) || len(slices.Compact(slices.Clone(l))) != len(l) {
			t.Fatalf("list not sorted or has duplicates: %q", l)
		}
	}
	for _, k := range r.Removed {
		if _, ok := r.Set[k]; ok {
			t.Fatalf("%q both set and removed", k)
		}
	}
	for _, k := range r.PendingRemoved {
		if _, ok := r.PendingSet[k]; ok {
			t.Fatalf("%q both pending-set and pending-removed", k)
		}
	}

	// Changes: sorted; a path carries at most a type change's delete followed
	// by a create or rename; a rename's old path appears nowhere else.
	for i := 1; i < len(r.Changes); i++ {
		if compareChanges(r.Changes[i-1], r.Changes[i]) >= 0 {
			t.Fatalf("changes not strictly sorted:\n%s", formatResult(r))
		}
	}
	emitted := map[string]int{}
	for _, ch := range r.Changes {
		emitted[ch.RelPath]++
	}
	for i, ch := range r.Changes {
		if !c.opt.emits(ch.Type) {
			t.Fatalf("change of filtered type %s emitted", ch.Type)
		}
		if emitted[ch.RelPath] == 2 {
			first := i > 0 && r.Changes[i-1].RelPath == ch.RelPath
			second := i+1 < len(r.Changes) && r.Changes[i+1].RelPath == ch.RelPath
			if first == second || (second && ch.Type != event.Delete) || (first && ch.Type == event.Delete) {
				t.Fatalf("path %q emitted twice but not as delete+create/rename:\n%s", ch.RelPath, formatResult(r))
			}
		}
		if emitted[ch.RelPath] > 2 {
			t.Fatalf("path %q emitted %d times", ch.RelPath, emitted[ch.RelPath])
		}
		s, stored := c.prev[ch.RelPath]
		n, seen := cur[ch.RelPath]
		switch ch.Type {
		case event.Delete:
			if !stored || ch.Entry != s || ch.Prev == nil || *ch.Prev != s {
				t.Fatalf("delete of %q does not carry the stored entry %+v", ch.RelPath, s)
			}
			if seen && n.Type == s.Type {
				t.Fatalf("delete of %q which is present with the same type", ch.RelPath)
			}
			if !seen && (failed.covers(ch.RelPath) || c.self[ch.RelPath]) {
				t.Fatalf("delete of %q beneath a failed dir or self-removed", ch.RelPath)
			}
		case event.Create, event.Modify:
			if !seen || ch.Entry != n {
				t.Fatalf("%s of %q does not carry the scanned entry", ch.Type, ch.RelPath)
			}
			if ch.Type == event.Create && stored && s.Type == n.Type {
				t.Fatalf("create of stored %q", ch.RelPath)
			}
			if ch.Type == event.Modify && (!stored || s.Type != n.Type || sameContent(s, n) || ch.Prev == nil || *ch.Prev != s) {
				t.Fatalf("bad modify of %q: stored=%+v seen=%+v", ch.RelPath, s, n)
			}
			if c.opt.Settle > 0 {
				pe, had := c.pending[ch.RelPath]
				if !had || !sameContent(pe.Entry, n) || pe.Since > nowNano || time.Duration(nowNano-pe.Since) < c.opt.Settle {
					t.Fatalf("%s of %q reported before settling (pending %+v, had %v)", ch.Type, ch.RelPath, pe, had)
				}
			}
			if c.opt.MinAge > 0 && c.now.Sub(time.Unix(n.MTime, 0)) < c.opt.MinAge {
				t.Fatalf("%s of %q reported younger than min_age", ch.Type, ch.RelPath)
			}
		case event.Rename:
			o, wasStored := c.prev[ch.OldRelPath]
			if _, stillThere := cur[ch.OldRelPath]; stillThere || !wasStored || failed.covers(ch.OldRelPath) || c.self[ch.OldRelPath] {
				t.Fatalf("rename away from %q which is not a deletable stored entry", ch.OldRelPath)
			}
			if emitted[ch.OldRelPath] != 0 {
				t.Fatalf("rename source %q also emitted", ch.OldRelPath)
			}
			if !seen || ch.Entry != n || ch.Prev == nil || *ch.Prev != o || !sameContent(o, n) || (stored && s.Type == n.Type) {
				t.Fatalf("bad rename %q -> %q", ch.OldRelPath, ch.RelPath)
			}
			if !c.opt.DetectRenames {
				t.Fatal("rename without detect_renames")
			}
		default:
			t.Fatalf("unknown change type %q", ch.Type)
		}
	}

	// The state after Apply is consistent with the scan.
	snap, pend := maps.Clone(c.prev), maps.Clone(c.pending)
	if snap == nil {
		snap = Snapshot{}
	}
	if pend == nil {
		pend = map[string]Pending{}
	}
	Apply(snap, pend, r)
	for p, n := range cur {
		s, stored := snap[p]
		pe, had := pend[p]
		switch {
		case stored && s == n:
			if had {
				t.Fatalf("%q is stored as seen but still pending", p)
			}
		case had && sameContent(pe.Entry, n) && (!stored || !sameContent(s, n)):
		default:
			t.Fatalf("%q seen as %+v but stored %+v (%v) pending %+v (%v)", p, n, s, stored, pe, had)
		}
	}
	for p, s := range snap {
		if _, ok := cur[p]; !ok && (!failed.covers(p) || s != c.prev[p]) {
			t.Fatalf("%q kept in the snapshot though a complete listing lacks it", p)
		}
	}
	for p, pe := range pend {
		if _, ok := cur[p]; !ok && (!failed.covers(p) || pe != c.pending[p]) {
			t.Fatalf("%q kept pending though a complete listing lacks it", p)
		}
	}
	for p := range c.self {
		_, ok := cur[p]
		if consumed := slices.Contains(r.SelfRemovedConsumed, p); consumed == (ok || failed.covers(p)) {
			t.Fatalf("self-removed %q consumed=%v, present=%v", p, consumed, ok)
		}
	}

	// Applying the changes to the consumer's view (= prev, when nothing is
	// filtered) yields the new snapshot's content.
	if c.opt.Events == nil {
		view := maps.Clone(c.prev)
		if view == nil {
			view = Snapshot{}
		}
		if err := applyChanges(view, r.Changes); err != nil {
			t.Fatalf("%v\n%s", err, formatResult(r))
		}
		for _, k := range r.SelfRemovedConsumed {
			delete(view, k) // the daemon removed these itself: no event, by design
		}
		if err := sameContentSnapshots(view, snap); err != nil {
			t.Fatalf("consumer view vs snapshot: %v\n%s", err, formatResult(r))
		}
	}

	// Idempotence: the same scan at the same instant finds nothing more.
	self := maps.Clone(c.self)
	for _, k := range r.SelfRemovedConsumed {
		delete(self, k)
	}
	if again := Compare(snap, c.scan, pend, self, c.now, c.opt); !again.Empty() {
		t.Fatalf("second Compare of the same scan is not empty:\nfirst:\n%s\nsecond:\n%s", formatResult(r), formatResult(again))
	}

	// The events filter changes only what is emitted, never the state.
	all := c.opt
	all.Events = nil
	all.DetectRenames = c.opt.DetectRenames && c.opt.emits(event.Rename)
	u := Compare(c.prev, c.scan, c.pending, c.self, c.now, all)
	var filtered []Change
	for _, ch := range u.Changes {
		if c.opt.emits(ch.Type) {
			filtered = append(filtered, ch)
		}
	}
	u.Changes = filtered
	if !reflect.DeepEqual(u, r) {
		t.Fatalf("events filter changed more than the emitted changes:\nfiltered:\n%s\nunfiltered:\n%s", formatResult(r), formatResult(u))
	}
}

// refFailed is an independent, slow statement of the "beneath a failed
// directory" rule, so the invariants do not trust failedSet.
type refFailed []string

func (f refFailed) covers(p string) bool {
	for _, d := range f {
		d = strings.Trim(d, "/")
		if d == "" || d == "." || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// applyChanges applies events to a consumer's view as a consumer would,
// failing on any event that does not fit the view (a create of something
// known, a delete or modify of something unknown, a rename onto something).
func applyChanges(view Snapshot, changes []Change) error {
	for _, ch := range changes {
		old, known := view[ch.RelPath]
		switch ch.Type {
		case event.Create:
			if known {
				return fmt.Errorf("create of %q already in view as %+v", ch.RelPath, old)
			}
			view[ch.RelPath] = ch.Entry
		case event.Modify:
			if !known || ch.Prev == nil || !sameContent(old, *ch.Prev) {
				return fmt.Errorf("modify of %q: view has %+v (known %v), event prev %+v", ch.RelPath, old, known, ch.Prev)
			}
			view[ch.RelPath] = ch.Entry
		case event.Delete:
			if !known || !sameContent(old, ch.Entry) {
				return fmt.Errorf("delete of %q: view has %+v (known %v), event %+v", ch.RelPath, old, known, ch.Entry)
			}
			delete(view, ch.RelPath)
		case event.Rename:
			src, ok := view[ch.OldRelPath]
			if !ok || known || ch.Prev == nil || !sameContent(src, *ch.Prev) {
				return fmt.Errorf("rename %q -> %q: source %+v (%v), target known %v", ch.OldRelPath, ch.RelPath, src, ok, known)
			}
			delete(view, ch.OldRelPath)
			view[ch.RelPath] = ch.Entry
		default:
			return fmt.Errorf("unknown change type %q", ch.Type)
		}
	}
	return nil
}

func sameContentSnapshots(got, want Snapshot) error {
	for p, w := range want {
		g, ok := got[p]
		if !ok || !sameContent(g, w) {
			return fmt.Errorf("%q: got %+v (present %v), want %+v", p, g, ok, w)
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			return fmt.Errorf("%q: got %+v, want absent", p, g)
		}
	}
	return nil
}
