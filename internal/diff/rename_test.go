package diff

import (
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

func TestCompareSelfRemoved(t *testing.T) {
	a := file(10, m0)
	runCompareCases(t, []compareCase{
		{
			name: "self-removed entry vanishes silently and is consumed",
			prev: Snapshot{"a": a, "b": a},
			scan: Scan{Entries: Snapshot{}},
			self: map[string]bool{"a": true},
			want: Result{
				Changes:             []Change{del("b", a)},
				Removed:             []string{"a", "b"},
				SelfRemovedConsumed: []string{"a"},
			},
		},
		{
			name: "self-removed key still present stays unconsumed",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{"a": a}},
			self: map[string]bool{"a": true},
			want: Result{},
		},
		{
			name: "self-removed key beneath a failed dir is not consumed",
			prev: Snapshot{"d/a": a},
			scan: Scan{Entries: Snapshot{}, Failed: []string{"d"}},
			self: map[string]bool{"d/a": true},
			want: Result{},
		},
		{
			name: "self-removed key never stored is consumed once confirmed gone",
			prev: Snapshot{},
			scan: Scan{Entries: Snapshot{}},
			self: map[string]bool{"ghost": true, "off": false},
			want: Result{SelfRemovedConsumed: []string{"ghost"}},
		},
		{
			name: "self-removed entry is never a rename source",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{".done/a": a}},
			self: map[string]bool{"a": true},
			opt:  Options{DetectRenames: true},
			want: Result{
				Changes:             []Change{create(".done/a", a)},
				Set:                 Snapshot{".done/a": a},
				Removed:             []string{"a"},
				SelfRemovedConsumed: []string{"a"},
			},
		},
	})
}

func TestCompareRenames(t *testing.T) {
	a := file(10, m0)
	b := file(20, m0)
	on := Options{DetectRenames: true}
	runCompareCases(t, []compareCase{
		{
			name: "delete and create with equal content pair into a rename",
			prev: Snapshot{"old": a},
			scan: Scan{Entries: Snapshot{"new": a}},
			opt:  on,
			want: Result{Changes: []Change{rename("old", "new", a, a)}, Set: Snapshot{"new": a}, Removed: []string{"old"}},
		},
		{
			name: "rename is reported at once despite settle and min_age, dropping the pending record",
			prev: Snapshot{"old": a},
			scan: Scan{Entries: Snapshot{"new": withMode(a, 0o600)}},
			pending: map[string]Pending{
				"new": pend(a, sec(1)),
			},
			opt: Options{DetectRenames: true, Settle: sec(30), MinAge: sec(1 << 30)},
			want: Result{
				Changes:        []Change{rename("old", "new", a, withMode(a, 0o600))},
				Set:            Snapshot{"new": withMode(a, 0o600)},
				Removed:        []string{"old"},
				PendingRemoved: []string{"new"},
			},
		},
		{
			name: "different size does not pair",
			prev: Snapshot{"old": a},
			scan: Scan{Entries: Snapshot{"new": b}},
			opt:  on,
			want: Result{Changes: []Change{create("new", b), del("old", a)}, Set: Snapshot{"new": b}, Removed: []string{"old"}},
		},
		{
			name: "different mtime does not pair",
			prev: Snapshot{"old": a},
			scan: Scan{Entries: Snapshot{"new": file(10, m0+1)}},
			opt:  on,
			want: Result{
				Changes: []Change{create("new", file(10, m0+1)), del("old", a)},
				Set:     Snapshot{"new": file(10, m0+1)},
				Removed: []string{"old"},
			},
		},
		{
			name: "different type does not pair",
			prev: Snapshot{"old": Entry{Type: Dir, Size: 10, MTime: m0}},
			scan: Scan{Entries: Snapshot{"new": a}},
			opt:  on,
			want: Result{
				Changes: []Change{create("new", a), del("old", Entry{Type: Dir, Size: 10, MTime: m0})},
				Set:     Snapshot{"new": a},
				Removed: []string{"old"},
			},
		},
		{
			name: "symlinks pair only with the same target",
			prev: Snapshot{"l1": symlink("t", m0), "l2": symlink("u", m0)},
			scan: Scan{Entries: Snapshot{"m1": symlink("u", m0), "zz": Entry{Type: Symlink, Size: 1, MTime: m0, Mode: 0o777, Link: "v"}}},
			opt:  on,
			want: Result{
				Changes: []Change{
					del("l1", symlink("t", m0)),
					rename("l2", "m1", symlink("u", m0), symlink("u", m0)),
					create("zz", Entry{Type: Symlink, Size: 1, MTime: m0, Mode: 0o777, Link: "v"}),
				},
				Set:     Snapshot{"m1": symlink("u", m0), "zz": Entry{Type: Symlink, Size: 1, MTime: m0, Mode: 0o777, Link: "v"}},
				Removed: []string{"l1", "l2"},
			},
		},
		{
			name: "ambiguous candidates pair in sorted order, extras stay create and delete",
			prev: Snapshot{"o2": a, "o1": a, "o3": a, "keep": b},
			scan: Scan{Entries: Snapshot{"n2": a, "n1": a, "keep": b}},
			opt:  on,
			want: Result{
				Changes: []Change{rename("o1", "n1", a, a), rename("o2", "n2", a, a), del("o3", a)},
				Set:     Snapshot{"n1": a, "n2": a},
				Removed: []string{"o1", "o2", "o3"},
			},
		},
		{
			name: "more new entries than deletes: the smallest new paths pair",
			prev: Snapshot{"o": a},
			scan: Scan{Entries: Snapshot{"c": a, "b": a, "a": a}},
			opt:  Options{DetectRenames: true, Settle: sec(30)},
			want: Result{
				Changes:    []Change{rename("o", "a", a, a)},
				Set:        Snapshot{"a": a},
				Removed:    []string{"o"},
				PendingSet: map[string]Pending{"b": pend(a, 0), "c": pend(a, 0)},
			},
		},
		{
			name: "directory rename pairs the directory and each matching descendant",
			prev: Snapshot{"d": dir(m0), "d/x": a, "d/y": b},
			scan: Scan{Entries: Snapshot{"e": dir(m0), "e/x": a, "e/y": file(21, m0)}},
			opt:  on,
			want: Result{
				Changes: []Change{
					del("d/y", b),
					rename("d", "e", dir(m0), dir(m0)),
					rename("d/x", "e/x", a, a),
					create("e/y", file(21, m0)),
				},
				Set:     Snapshot{"e": dir(m0), "e/x": a, "e/y": file(21, m0)},
				Removed: []string{"d", "d/x", "d/y"},
			},
		},
		{
			name: "detect_renames off keeps delete and create",
			prev: Snapshot{"old": a},
			scan: Scan{Entries: Snapshot{"new": a}},
			want: Result{Changes: []Change{create("new", a), del("old", a)}, Set: Snapshot{"new": a}, Removed: []string{"old"}},
		},
		{
			name: "rename not among the enabled events keeps delete and create",
			prev: Snapshot{"old": a},
			scan: Scan{Entries: Snapshot{"new": a}},
			opt:  Options{DetectRenames: true, Events: only(event.Create, event.Delete)},
			want: Result{Changes: []Change{create("new", a), del("old", a)}, Set: Snapshot{"new": a}, Removed: []string{"old"}},
		},
		{
			name: "the old entry of a type change is not a rename source",
			prev: Snapshot{"p": a},
			scan: Scan{Entries: Snapshot{"p": dir(m0), "q": a}},
			opt:  on,
			want: Result{
				Changes: []Change{del("p", a), create("p", dir(m0)), create("q", a)},
				Set:     Snapshot{"p": dir(m0), "q": a},
			},
		},
		{
			name: "rename into a path whose type changed follows its delete",
			prev: Snapshot{"p": dir(m0), "q": a},
			scan: Scan{Entries: Snapshot{"p": a}},
			opt:  Options{DetectRenames: true, Settle: sec(30)},
			want: Result{
				Changes: []Change{del("p", dir(m0)), rename("q", "p", a, a)},
				Set:     Snapshot{"p": a},
				Removed: []string{"q"},
			},
		},
		{
			name: "entry beneath a failed dir is not a rename source",
			prev: Snapshot{"d/a": a},
			scan: Scan{Entries: Snapshot{"d/a": a, "n": a}, Failed: []string{"d"}},
			opt:  on,
			want: Result{Changes: []Change{create("n", a)}, Set: Snapshot{"n": a}},
		},
	})
}

func TestCompareEventsFilter(t *testing.T) {
	a := file(10, m0)
	runCompareCases(t, []compareCase{
		{
			name: "filtered modify still moves the snapshot",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{"a": file(11, m0)}},
			opt:  Options{Events: only(event.Create, event.Delete)},
			want: Result{Set: Snapshot{"a": file(11, m0)}},
		},
		{
			name: "filtered delete still removes",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{}},
			opt:  Options{Events: only(event.Create)},
			want: Result{Removed: []string{"a"}},
		},
		{
			name:    "filtered settled create stores the entry and drops pending",
			prev:    Snapshot{},
			scan:    Scan{Entries: Snapshot{"a": a}},
			pending: map[string]Pending{"a": pend(a, sec(60))},
			opt:     Options{Settle: sec(30), Events: only(event.Delete)},
			want:    Result{Set: Snapshot{"a": a}, PendingRemoved: []string{"a"}},
		},
		{
			name: "filtered create of a type change keeps the delete",
			prev: Snapshot{"p": a},
			scan: Scan{Entries: Snapshot{"p": dir(m0)}},
			opt:  Options{Events: only(event.Delete)},
			want: Result{Changes: []Change{del("p", a)}, Set: Snapshot{"p": dir(m0)}},
		},
		{
			name: "only renames emitted",
			prev: Snapshot{"o": a, "gone": file(1, m0)},
			scan: Scan{Entries: Snapshot{"n": a, "fresh": file(2, m0)}},
			opt:  Options{DetectRenames: true, Events: only(event.Rename)},
			want: Result{
				Changes: []Change{rename("o", "n", a, a)},
				Set:     Snapshot{"n": a, "fresh": file(2, m0)},
				Removed: []string{"gone", "o"},
			},
		},
		{
			name: "empty non-nil events map emits nothing",
			prev: Snapshot{"a": a},
			scan: Scan{Entries: Snapshot{"b": a}},
			opt:  Options{Events: map[event.Type]bool{}},
			want: Result{Set: Snapshot{"b": a}, Removed: []string{"a"}},
		},
	})
}
