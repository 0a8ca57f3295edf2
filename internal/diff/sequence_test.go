package diff

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

func TestSettleAcrossScansYieldsOneCreateWithFinalSize(t *testing.T) {
	s := newSim(Options{Settle: sec(30)})
	var all []Change
	// The file grows during the first three scans, 10s apart, then stops.
	for i, size := range []int64{100, 200, 300} {
		r := s.scan(Snapshot{"up.csv": file(size, m0+int64(i))}, t0.Add(sec(10*i)))
		all = append(all, r.Changes...)
		if len(r.Changes) != 0 {
			t.Fatalf("scan %d: reported %v before settling", i, r.Changes)
		}
		if got := s.pend["up.csv"]; got.Entry.Size != size || got.Since != t0.Add(sec(10*i)).UnixNano() {
			t.Fatalf("scan %d: pending = %+v, want size %d since scan time", i, got, size)
		}
	}
	final := file(300, m0+2)
	// Unchanged but not yet settled: nothing to write at all.
	if r := s.scan(Snapshot{"up.csv": final}, t0.Add(sec(49))); !r.Empty() {
		t.Fatalf("unsettled unchanged rescan is not empty:\n%s", formatResult(r))
	}
	r := s.scan(Snapshot{"up.csv": final}, t0.Add(sec(50)))
	all = append(all, r.Changes...)
	if want := []Change{create("up.csv", final)}; !reflect.DeepEqual(all, want) {
		t.Fatalf("changes = %+v, want exactly %+v", all, want)
	}
	if len(s.pend) != 0 || s.snap["up.csv"] != final {
		t.Fatalf("after create: pend=%v snap=%v", s.pend, s.snap)
	}
	if r := s.scan(Snapshot{"up.csv": final}, t0.Add(sec(500))); !r.Empty() {
		t.Fatalf("rescan after create is not empty:\n%s", formatResult(r))
	}
}

func TestCreatedAndDeletedBeforeSettlingIsNothing(t *testing.T) {
	s := newSim(Options{Settle: sec(30)})
	s.scan(Snapshot{"tmp": file(1, m0)}, t0)
	s.scan(Snapshot{"tmp": file(2, m0)}, t0.Add(sec(10)))
	r := s.scan(Snapshot{}, t0.Add(sec(20)))
	if len(r.Changes) != 0 || len(s.pend) != 0 || len(s.snap) != 0 {
		t.Fatalf("changes=%v pend=%v snap=%v, want nothing anywhere", r.Changes, s.pend, s.snap)
	}
}

func TestModifyCoalescesAndReverts(t *testing.T) {
	a := file(10, m0)
	s := newSim(Options{Settle: sec(30)})
	s.snap["a"] = a
	s.scan(Snapshot{"a": file(11, m0+1)}, t0)
	s.scan(Snapshot{"a": file(12, m0+2)}, t0.Add(sec(20)))
	if r := s.scan(Snapshot{"a": file(12, m0+2)}, t0.Add(sec(40))); len(r.Changes) != 0 {
		t.Fatalf("modify reported after 20s of 30s settle: %v", r.Changes)
	}
	r := s.scan(Snapshot{"a": file(12, m0+2)}, t0.Add(sec(50)))
	if want := []Change{modify("a", file(12, m0+2), a)}; !reflect.DeepEqual(r.Changes, want) {
		t.Fatalf("changes = %+v, want %+v", r.Changes, want)
	}

	// A change that reverts before settling is nothing.
	s.scan(Snapshot{"a": file(99, m0+9)}, t0.Add(sec(60)))
	r = s.scan(Snapshot{"a": file(12, m0+2)}, t0.Add(sec(200)))
	if len(r.Changes) != 0 || len(s.pend) != 0 {
		t.Fatalf("revert: changes=%v pend=%v, want none", r.Changes, s.pend)
	}
}

func TestMinAgeAcrossScans(t *testing.T) {
	mt := t0.Unix()
	s := newSim(Options{MinAge: sec(60)})
	if r := s.scan(Snapshot{"a": file(1, mt)}, t0); len(r.Changes) != 0 || len(r.PendingSet) != 1 {
		t.Fatalf("fresh file: %s", formatResult(r))
	}
	if r := s.scan(Snapshot{"a": file(1, mt)}, t0.Add(sec(59))); !r.Empty() {
		t.Fatalf("59s old file: %s", formatResult(r))
	}
	r := s.scan(Snapshot{"a": file(1, mt)}, t0.Add(sec(60)))
	if want := []Change{create("a", file(1, mt))}; !reflect.DeepEqual(r.Changes, want) {
		t.Fatalf("changes = %+v, want %+v", r.Changes, want)
	}
}

func TestFailedDirAcrossScans(t *testing.T) {
	a := file(1, m0)
	s := newSim(Options{})
	s.scan(Snapshot{"d": dir(m0), "d/a": a, "d/b": a}, t0)
	// d cannot be listed for a while: nothing is deleted.
	for i := 1; i <= 3; i++ {
		if r := s.scan(Snapshot{"d": dir(m0)}, t0.Add(sec(i)), "d"); !r.Empty() {
			t.Fatalf("scan %d with failed d: %s", i, formatResult(r))
		}
	}
	// d lists again, b really is gone: exactly one delete.
	r := s.scan(Snapshot{"d": dir(m0), "d/a": a}, t0.Add(sec(10)))
	if want := []Change{del("d/b", a)}; !reflect.DeepEqual(r.Changes, want) {
		t.Fatalf("changes = %+v, want %+v", r.Changes, want)
	}
}

func TestApply(t *testing.T) {
	snap := Snapshot{"a": file(1, m0), "b": file(2, m0)}
	pm := map[string]Pending{"p": pend(file(3, m0), 0), "q": pend(file(4, m0), 0)}
	Apply(snap, pm, Result{
		Set:            Snapshot{"c": file(5, m0), "a": file(6, m0)},
		Removed:        []string{"b", "absent"},
		PendingSet:     map[string]Pending{"r": pend(file(7, m0), 0)},
		PendingRemoved: []string{"p"},
	})
	if want := (Snapshot{"a": file(6, m0), "c": file(5, m0)}); !reflect.DeepEqual(snap, want) {
		t.Fatalf("snap = %v, want %v", snap, want)
	}
	if want := map[string]Pending{"q": pend(file(4, m0), 0), "r": pend(file(7, m0), 0)}; !reflect.DeepEqual(pm, want) {
		t.Fatalf("pend = %v, want %v", pm, want)
	}
	// An empty Result needs no maps at all.
	Apply(nil, nil, Result{})
}

func bigSnapshot(n int) Snapshot {
	s := make(Snapshot, n)
	for i := range n {
		s[fmt.Sprintf("dir%03d/sub%02d/file-%06d.csv", i%997, i%13, i)] = file(int64(i), m0-int64(i))
	}
	return s
}

func TestCompareUnchangedDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count check")
	}
	prev := bigSnapshot(10_000)
	cur := cloneSnap(prev)
	// One modify in progress (unsettled, unchanged since last scan) and one
	// self-removed key whose entry is still there: neither needs a write.
	const growing, moving = "dir001/sub01/file-000001.csv", "dir002/sub02/file-000002.csv"
	cur[growing] = file(1000, m0)
	pending := map[string]Pending{growing: pend(file(1000, m0), sec(1))}
	self := map[string]bool{moving: true}
	opt := Options{Settle: sec(30), MinAge: sec(5), DetectRenames: true, Events: only(event.Types...)}
	allocs := testing.AllocsPerRun(5, func() {
		r := Compare(prev, Scan{Entries: cur}, pending, self, t0, opt)
		if !r.Empty() {
			t.Fatalf("unchanged rescan not empty:\n%s", formatResult(r))
		}
	})
	if allocs != 0 {
		t.Fatalf("unchanged Compare of 10k entries allocated %v times, want 0", allocs)
	}
}

func BenchmarkCompareUnchanged100k(b *testing.B) {
	const n = 100_000
	prev := bigSnapshot(n)
	cur := cloneSnap(prev)
	opt := Options{Settle: sec(30), DetectRenames: true}
	now := t0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := Compare(prev, Scan{Entries: cur}, nil, nil, now, opt)
		if !r.Empty() {
			b.Fatal("unchanged rescan not empty")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
}

func BenchmarkCompareOnePercentChanged100k(b *testing.B) {
	const n = 100_000
	prev := bigSnapshot(n)
	cur := cloneSnap(prev)
	i := 0
	for k, e := range cur {
		if i%100 == 0 {
			e.Size++
			cur[k] = e
		}
		i++
	}
	opt := Options{Settle: 0, DetectRenames: true}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := Compare(prev, Scan{Entries: cur}, nil, nil, t0, opt)
		if len(r.Changes) != n/100 {
			b.Fatalf("%d changes, want %d", len(r.Changes), n/100)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/entry")
}
