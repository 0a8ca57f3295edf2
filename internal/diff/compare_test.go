package diff

import (
	"maps"
	"testing"
	"time"
)

type compareCase struct {
	name    string
	prev    Snapshot
	scan    Scan
	pending map[string]Pending
	self    map[string]bool
	now     time.Time // zero = t0
	opt     Options
	want    Result
}

func runCompareCases(t *testing.T, cases []compareCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = t0
			}
			prev, pending := cloneSnap(tc.prev), clonePend(tc.pending)
			got := Compare(tc.prev, tc.scan, tc.pending, tc.self, now, tc.opt)
			assertResult(t, got, tc.want)
			if got.Empty() != (len(got.Changes)+len(got.Set)+len(got.Removed)+len(got.PendingSet)+
				len(got.PendingRemoved)+len(got.SelfRemovedConsumed) == 0) {
				t.Fatalf("Empty() = %v disagrees with the result", got.Empty())
			}
			// Compare must not modify its inputs.
			if !maps.Equal(tc.prev, prev) || !maps.Equal(tc.pending, pending) {
				t.Fatalf("Compare modified its inputs")
			}
		})
	}
}

func TestCompareStability(t *testing.T) {
	a := file(10, m0)
	a2 := file(20, m0+5)
	runCompareCases(t, []compareCase{
		{
			name: "unchanged rescan is empty",
			prev: Snapshot{"a": a, "d": dir(m0), "d/l": symlink("../a", m0)},
			scan: Scan{Entries: Snapshot{"a": a, "d": dir(m0), "d/l": symlink("../a", m0)}},
			opt:  Options{Settle: sec(30)},
			want: Result{},
		},
		{
			name:    "unchanged unsettled pending writes nothing",
			prev:    Snapshot{},
			scan:    Scan{Entries: Snapshot{"a": a}},
			pending: map[string]Pending{"a": pend(a, sec(29))},
			opt:     Options{Settle: sec(30)},
			want:    Result{},
		},
		{
			name: "new entry with settle 0 is created at once without pending write",
			prev: Snapshot{},
			scan: Scan{Entries: Snapshot{"a": a}},
			want: Result{Changes: []Change{create("a", a)}, Set: Snapshot{"a": a}},
		},
		{
			name: "first sighting goes pending with since = now",
			prev: Snapshot{},
			scan: Scan{Entries: Snapshot{"a": a}},
			opt:  Options{Settle: sec(30)},
			want: Result{PendingSet: map[string]Pending{"a": pend(a, 0)}},
		},
		{
			name:    "pending settled exactly at settle is created",
			prev:    Snapshot{},
			scan:    Scan{Entries: Snapshot{"a": a}},
			pending: map[string]Pending{"a": pend(a, sec(30))},
			opt:     Options{Settle: sec(30)},
			want:    Result{Changes: []Change{create("a", a)}, Set: Snapshot{"a": a}, PendingRemoved: []string{"a"}},
		},
		{
			name:    "pending whose content changed restarts the clock",
			prev:    Snapshot{},
			scan:    Scan{Entries: Snapshot{"a": a2}},
			pending: map[string]Pending{"a": pend(a, sec(300))},
			opt:     Options{Settle: sec(30)},
			want:    Result{PendingSet: map[string]Pending{"a": pend(a2, 0)}},
		},
		{
			name:    "pending with only a mode change keeps its clock and writes nothing",
			prev:    Snapshot{},
			scan:    Scan{Entries: Snapshot{"a": withMode(a, 0o600)}},
			pending: map[string]Pending{"a": pend(a, sec(10))},
			opt:     Options{Settle: sec(30)},
			want:    Result{},
		},
		{
			name:    "pending whose since lies in the future is restarted at now",
			prev:    Snapshot{},
			scan:    Scan{Entries: Snapshot{"a": a}},
			pending: map[string]Pending{"a": pend(a, -sec(3600))},
			opt:     Options{Settle: sec(30)},
			want:    Result{PendingSet: map[string]Pending{"a": pend(a, 0)}},
		},
		{
			name: "min_age holds back a young file even with settle 0",
			prev: Snapshot{},
			scan: Scan{Entries: Snapshot{"a": file(1, t0.Unix()-4)}},
			opt:  Options{MinAge: sec(5)},
			want: Result{PendingSet: map[string]Pending{"a": pend(file(1, t0.Unix()-4), 0)}},
		},
		{
			name: "min_age reached exactly reports at once",
			prev: Snapshot{},
			scan: Scan{Entries: Snapshot{"a": file(1, t0.Unix()-5)}},
			opt:  Options{MinAge: sec(5)},
			want: Result{Changes: []Change{create("a", file(1, t0.Unix()-5))}, Set: Snapshot{"a": file(1, t0.Unix()-5)}},
		},
		{
			name: "min_age counts the sub-second part of now",
			prev: Snapshot{},
			scan: Scan{Entries: Snapshot{"a": file(1, t0.Unix()-4)}},
			now:  t0.Add(999 * time.Millisecond),
			opt:  Options{MinAge: 4500 * time.Millisecond},
			want: Result{Changes: []Change{create("a", file(1, t0.Unix()-4))}, Set: Snapshot{"a": file(1, t0.Unix()-4)}},
		},
		{
			name: "min_age with an mtime in the future holds back",
			prev: Snapshot{},
			scan: Scan{Entries: Snapshot{"a": file(1, t0.Unix()+100)}},
			opt:  Options{MinAge: sec(1)},
			want: Result{PendingSet: map[string]Pending{"a": pend(file(1, t0.Unix()+100), 0)}},
		},
		{
			name: "min_age 0 ignores an mtime in the future",
			prev: Snapshot{},
			scan: Scan{Entries: Snapshot{"a": file(1, t0.Unix()+100)}},
			want: Result{Changes: []Change{create("a", file(1, t0.Unix()+100))}, Set: Snapshot{"a": file(1, t0.Unix()+100)}},
		},
		{
			name: "extreme mtimes do not overflow",
			prev: Snapshot{},
			scan: Scan{Entries: Snapshot{"old": file(1, -1<<63), "new": file(1, 1<<63-1)}},
			opt:  Options{MinAge: sec(1)},
			want: Result{
				Changes:    []Change{create("old", file(1, -1<<63))},
				Set:        Snapshot{"old": file(1, -1<<63)},
				PendingSet: map[string]Pending{"new": pend(file(1, 1<<63-1), 0)},
			},
		},
		{
			name:    "settled but too young waits for min_age",
			prev:    Snapshot{},
			scan:    Scan{Entries: Snapshot{"a": file(1, t0.Unix()-1)}},
			pending: map[string]Pending{"a": pend(file(1, t0.Unix()-1), sec(60))},
			opt:     Options{Settle: sec(30), MinAge: sec(10)},
			want:    Result{},
		},
	})
}

func TestCompareModify(t *testing.T) {
	a := file(10, m0)
	l := symlink("x", m0)
	runCompareCases(t, []compareCase{
		{
			name: "size change is a modify with prev",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{"a": file(11, m0)}},
			want: Result{Changes: []Change{modify("a", file(11, m0), a)}, Set: Snapshot{"a": file(11, m0)}},
		},
		{
			name: "mtime change is a modify",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{"a": file(10, m0+1)}},
			want: Result{Changes: []Change{modify("a", file(10, m0+1), a)}, Set: Snapshot{"a": file(10, m0+1)}},
		},
		{
			name: "modify goes pending under settle",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{"a": file(11, m0)}},
			opt:  Options{Settle: sec(30)},
			want: Result{PendingSet: map[string]Pending{"a": pend(file(11, m0), 0)}},
		},
		{
			name:    "settled modify is reported and the pending record removed",
			prev:    Snapshot{"a": a},
			scan:    Scan{Entries: Snapshot{"a": file(11, m0)}},
			pending: map[string]Pending{"a": pend(file(11, m0), sec(31))},
			opt:     Options{Settle: sec(30)},
			want: Result{
				Changes:        []Change{modify("a", file(11, m0), a)},
				Set:            Snapshot{"a": file(11, m0)},
				PendingRemoved: []string{"a"},
			},
		},
		{
			name:    "modify that reverts to the stored content emits nothing",
			prev:    Snapshot{"a": a},
			scan:    Scan{Entries: Snapshot{"a": a}},
			pending: map[string]Pending{"a": pend(file(11, m0), sec(5))},
			opt:     Options{Settle: sec(30)},
			want:    Result{PendingRemoved: []string{"a"}},
		},
		{
			name: "mode-only change is silent but stored",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{"a": withMode(a, 0o600)}},
			opt:  Options{Settle: sec(30)},
			want: Result{Set: Snapshot{"a": withMode(a, 0o600)}},
		},
		{
			name:    "revert with a new mode stores the mode and drops the pending record",
			prev:    Snapshot{"a": a},
			scan:    Scan{Entries: Snapshot{"a": withMode(a, 0o600)}},
			pending: map[string]Pending{"a": pend(file(11, m0), sec(5))},
			opt:     Options{Settle: sec(30)},
			want:    Result{Set: Snapshot{"a": withMode(a, 0o600)}, PendingRemoved: []string{"a"}},
		},
		{
			name: "modify carries the new mode",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{"a": withMode(file(12, m0), 0o600)}},
			want: Result{
				Changes: []Change{modify("a", withMode(file(12, m0), 0o600), a)},
				Set:     Snapshot{"a": withMode(file(12, m0), 0o600)},
			},
		},
		{
			name: "symlink target change is a modify even with equal size and mtime",
			prev: Snapshot{"l": l},
			scan: Scan{Entries: Snapshot{"l": Entry{Type: Symlink, Size: l.Size, MTime: m0, Mode: 0o777, Link: "y"}}},
			want: Result{
				Changes: []Change{modify("l", Entry{Type: Symlink, Size: l.Size, MTime: m0, Mode: 0o777, Link: "y"}, l)},
				Set:     Snapshot{"l": Entry{Type: Symlink, Size: l.Size, MTime: m0, Mode: 0o777, Link: "y"}},
			},
		},
		{
			name: "Link on a non-symlink is not content",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{"a": Entry{Type: File, Size: 10, MTime: m0, Mode: 0o644, Link: "junk"}}},
			want: Result{},
		},
		{
			name: "type change with settle 0 is delete then create of the same path",
			prev: Snapshot{"x": file(1, m0)},
			scan: Scan{Entries: Snapshot{"x": dir(m0)}},
			want: Result{
				Changes: []Change{del("x", file(1, m0)), create("x", dir(m0))},
				Set:     Snapshot{"x": dir(m0)},
			},
		},
		{
			name: "type change under settle deletes at once and holds the create",
			prev: Snapshot{"x": file(1, m0)},
			scan: Scan{Entries: Snapshot{"x": dir(m0)}},
			opt:  Options{Settle: sec(30)},
			want: Result{
				Changes:    []Change{del("x", file(1, m0))},
				Removed:    []string{"x"},
				PendingSet: map[string]Pending{"x": pend(dir(m0), 0)},
			},
		},
	})
}

func TestCompareDelete(t *testing.T) {
	a := file(10, m0)
	b := file(20, m0)
	runCompareCases(t, []compareCase{
		{
			name: "missing entry is deleted at once with its last attributes",
			prev: Snapshot{"a": a, "b": b},
			scan: Scan{Entries: Snapshot{"b": b}},
			opt:  Options{Settle: sec(30), MinAge: sec(3600 * 24)},
			want: Result{Changes: []Change{del("a", a)}, Removed: []string{"a"}},
		},
		{
			name:    "created and deleted before settling is nothing",
			prev:    Snapshot{},
			scan:    Scan{Entries: Snapshot{}},
			pending: map[string]Pending{"a": pend(a, sec(5))},
			opt:     Options{Settle: sec(30)},
			want:    Result{PendingRemoved: []string{"a"}},
		},
		{
			name:    "stored entry with a pending modify that vanishes is deleted with the stored attributes",
			prev:    Snapshot{"a": a},
			scan:    Scan{Entries: Snapshot{}},
			pending: map[string]Pending{"a": pend(file(11, m0), sec(5))},
			opt:     Options{Settle: sec(30)},
			want:    Result{Changes: []Change{del("a", a)}, Removed: []string{"a"}, PendingRemoved: []string{"a"}},
		},
		{
			name: "whole tree deleted",
			prev: Snapshot{"d": dir(m0), "d/a": a, "d/e": dir(m0), "d/e/b": b},
			scan: Scan{Entries: Snapshot{}},
			want: Result{
				Changes: []Change{del("d", dir(m0)), del("d/a", a), del("d/e", dir(m0)), del("d/e/b", b)},
				Removed: []string{"d", "d/a", "d/e", "d/e/b"},
			},
		},
		{
			name: "hostile names are plain keys",
			prev: Snapshot{"$(touch PWNED)": a, "new\nline": b, "../x": a, "ü/ß": b},
			scan: Scan{Entries: Snapshot{"new\nline": b, "../x": file(1, m0)}},
			want: Result{
				Changes: []Change{del("$(touch PWNED)", a), modify("../x", file(1, m0), a), del("ü/ß", b)},
				Set:     Snapshot{"../x": file(1, m0)},
				Removed: []string{"$(touch PWNED)", "ü/ß"},
			},
		},
	})
}

func TestCompareFailedDirectories(t *testing.T) {
	a := file(10, m0)
	runCompareCases(t, []compareCase{
		{
			name:    "failed dir keeps its entries and their pending records",
			prev:    Snapshot{"d": dir(m0), "d/a": a, "d/e": dir(m0), "d/e/f": a, "top": a},
			scan:    Scan{Entries: Snapshot{"d": dir(m0), "top": a}, Failed: []string{"d"}},
			pending: map[string]Pending{"d/new": pend(a, sec(5))},
			opt:     Options{Settle: sec(30)},
			want:    Result{},
		},
		{
			name:    "failed root deletes nothing at all",
			prev:    Snapshot{"a": a, "d": dir(m0), "d/b": a},
			scan:    Scan{Entries: Snapshot{"new": a}, Failed: []string{""}},
			pending: map[string]Pending{"p": pend(a, sec(5))},
			self:    map[string]bool{"a": true},
			want:    Result{Changes: []Change{create("new", a)}, Set: Snapshot{"new": a}},
		},
		{
			name:    "failed root written as / or . is the root",
			prev:    Snapshot{"a": a},
			scan:    Scan{Entries: Snapshot{}, Failed: []string{"/"}},
			pending: map[string]Pending{},
			want:    Result{},
		},
		{
			name: "nested failure keeps a/b/c and deletes a/x",
			prev: Snapshot{"a": dir(m0), "a/b": dir(m0), "a/b/c": a, "a/b/c/d": a, "a/x": a, "a/bb": a},
			scan: Scan{Entries: Snapshot{"a": dir(m0), "a/b": dir(m0)}, Failed: []string{"a/b"}},
			want: Result{
				Changes: []Change{del("a/bb", a), del("a/x", a)},
				Removed: []string{"a/bb", "a/x"},
			},
		},
		{
			name: "failed dir with a trailing slash",
			prev: Snapshot{"a/b/c": a},
			scan: Scan{Entries: Snapshot{}, Failed: []string{"a/b/"}},
			want: Result{},
		},
		{
			name: "a failed dir missing from its complete parent listing is deleted, its children kept",
			prev: Snapshot{"a": dir(m0), "a/x": a},
			scan: Scan{Entries: Snapshot{}, Failed: []string{"a"}},
			want: Result{Changes: []Change{del("a", dir(m0))}, Removed: []string{"a"}},
		},
		{
			name: "entries seen beneath a failed dir are still reported",
			prev: Snapshot{"d/a": a},
			scan: Scan{Entries: Snapshot{"d/a": file(11, m0), "d/n": a}, Failed: []string{"d"}},
			want: Result{
				Changes: []Change{modify("d/a", file(11, m0), a), create("d/n", a)},
				Set:     Snapshot{"d/a": file(11, m0), "d/n": a},
			},
		},
	})
}
