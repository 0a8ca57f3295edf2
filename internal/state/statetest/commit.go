package statetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// baseline commits a first scan of a, b and c (and "n\xff", a name that is
// not UTF-8) to watch.
func (h *handle) baseline(watch string) {
	h.t.Helper()
	h.commit(watch, state.Batch{Set: diff.Snapshot{"a": file(1), "b": file(2), "c": file(3), "n\xff": file(4)},
		Filter: "filter-1", Origin: "host:/in"})
}

// change is a scan's commit: snapshot, pending and events together.
func change() state.Batch {
	return state.Batch{
		Set:        diff.Snapshot{"a": file(10), "x": file(5)},
		Removed:    []string{"b"},
		PendingSet: map[string]diff.Pending{"p": {Entry: file(7), Since: t0.UnixNano()}},
		Events:     []event.Event{ev(event.Modify, "a"), ev(event.Delete, "b"), ev(event.Create, "x")},
	}
}

// testCommitAtomic: a commit's snapshot changes and events are there
// together after it returned, also after a crash; a commit that fails
// inside its transaction, or is refused, leaves nothing of it.
func testCommitAtomic(t *testing.T, open Open) {
	h := start(t, open)
	h.baseline("w")
	before := h.dump()

	bad := change()
	bad.Events[1].ID = "w-000000000099" // events must not carry IDs
	if _, err := h.b.Commit("w", bad); err == nil {
		t.Fatal("a batch with an event that has an ID was accepted")
	}
	sameDump(t, "after a refused commit", h.dump(), before)

	if f, ok := h.b.(CommitFaulter); ok {
		injected := errors.New("injected")
		f.FailNextCommit(injected)
		if _, err := h.b.Commit("w", change()); !errors.Is(err, injected) {
			t.Fatalf("commit with an injected fault: %v, want the fault", err)
		}
		sameDump(t, "after a failed commit", h.dump(), before)
		h.crash()
		sameDump(t, "after a failed commit and a crash", h.dump(), before)
	} else {
		t.Log("the backend has no CommitFaulter: a commit failing inside its transaction is not tested")
	}

	evs := h.commit("w", change())
	h.crash()
	w := h.load("w")
	want := diff.Snapshot{"a": file(10), "c": file(3), "x": file(5), "n\xff": file(4)}
	if !w.Initialized || !maps.Equal(w.Snapshot, want) {
		t.Fatalf("after the commit and a crash: initialized %v, snapshot %v, want %v", w.Initialized, w.Snapshot, want)
	}
	if p, ok := w.Pending["p"]; !ok || p.Entry != file(7) || p.Since != t0.UnixNano() || len(w.Pending) != 1 {
		t.Fatalf("pending after the commit: %v", w.Pending)
	}
	items := h.outbox("w")
	if got, want := paths(items), []string{"modify a", "delete b", "create x"}; !slices.Equal(got, want) {
		t.Fatalf("outbox %q, want %q", got, want)
	}
	for i, it := range items {
		if it.Event.ID == "" || it.Event.ID != evs[i].ID || it.Event.Watch != "w" || it.Step != 0 || it.Attempts != 0 {
			t.Fatalf("outbox item %d: %+v; Commit returned ID %q", i, it, evs[i].ID)
		}
	}
}

// testEmptyCommit: an empty batch marks a new watch initialized (an empty
// tree's baseline); for an initialized watch it writes nothing.
func testEmptyCommit(t *testing.T, open Open) {
	h := start(t, open)
	if w := h.load("new"); w.Initialized || len(w.Snapshot) != 0 || w.Pending == nil || w.SelfRemoved == nil {
		t.Fatalf("a watch without state: %+v, want uninitialized with empty maps", w)
	}
	if evs := h.commit("new", state.Batch{}); len(evs) != 0 {
		t.Fatalf("an empty commit returned events %v", evs)
	}
	if w := h.load("new"); !w.Initialized {
		t.Fatal("an empty first commit did not mark the watch initialized")
	}
	h.baseline("w")
	before := h.dump()
	h.commit("w", state.Batch{})
	h.crash()
	sameDump(t, "after an empty commit", h.dump(), before)
}

// testStreamedBaseline: entries given as Batch.Stream are set like Set,
// whatever the number; a streamed commit on an initialized watch that
// fails leaves nothing of it.
func testStreamedBaseline(t *testing.T, open Open) {
	h := start(t, open)
	tree := diff.Snapshot{}
	for i := range 3000 {
		tree[fmt.Sprintf("%c/%c/%06d", 'a'+i%26, 'A'+i%7, i)] = file(int64(i))
	}
	h.commit("w", state.Batch{Stream: maps.All(tree), Set: diff.Snapshot{"extra": file(1)},
		Events: []event.Event{ev(event.Create, "extra")}})
	h.crash()
	want := maps.Clone(tree)
	want["extra"] = file(1)
	if w := h.load("w"); !w.Initialized || !maps.Equal(w.Snapshot, want) {
		t.Fatalf("after a streamed baseline: initialized %v, %d entries, want %d", w.Initialized, len(w.Snapshot), len(want))
	}
	if n := len(h.outbox("w")); n != 1 {
		t.Fatalf("outbox after a streamed baseline: %d events, want 1", n)
	}
	f, ok := h.b.(CommitFaulter)
	if !ok {
		return
	}
	before := h.dump()
	more := diff.Snapshot{}
	for i := range 3000 {
		more[fmt.Sprintf("more/%06d", i)] = file(1)
	}
	f.FailNextCommit(errors.New("injected"))
	if _, err := h.b.Commit("w", state.Batch{Stream: maps.All(more)}); err == nil {
		t.Fatal("the injected fault was not reported")
	}
	h.crash()
	sameDump(t, "after a failed streamed commit on an initialized watch", h.dump(), before)
}

// testFilterAndOrigin: the filter coverage, origin and baseline-pending
// directories are stored per watch; an empty Filter or Origin keeps the
// stored one; ResetSnapshot forgets them.
func testFilterAndOrigin(t *testing.T, open Open) {
	h := start(t, open)
	h.baseline("w")
	h.commit("v", state.Batch{Filter: "filter-v", Origin: "other:/v"})
	h.commit("w", state.Batch{BaselinePending: []string{"d1", "d\xff"}, SetBaselinePending: true})
	h.crash()
	w := h.load("w")
	if w.Filter != "filter-1" || w.Origin != "host:/in" || !slices.Equal(w.BaselinePending, []string{"d1", "d\xff"}) {
		t.Fatalf("stored filter %q origin %q baseline pending %q", w.Filter, w.Origin, w.BaselinePending)
	}
	h.commit("w", state.Batch{Filter: "filter-2", BaselinePending: []string{"d2"}, SetBaselinePending: true})
	h.reopen()
	if w = h.load("w"); w.Filter != "filter-2" || w.Origin != "host:/in" || !slices.Equal(w.BaselinePending, []string{"d2"}) {
		t.Fatalf("after replacing: filter %q origin %q baseline pending %q", w.Filter, w.Origin, w.BaselinePending)
	}
	h.commit("w", state.Batch{SetBaselinePending: true})
	if w = h.load("w"); len(w.BaselinePending) != 0 {
		t.Fatalf("an empty baseline-pending list did not remove it: %q", w.BaselinePending)
	}
	if v := h.load("v"); v.Filter != "filter-v" || v.Origin != "other:/v" {
		t.Fatalf("the other watch: filter %q origin %q", v.Filter, v.Origin)
	}
	h.must("ResetSnapshot", h.b.ResetSnapshot("w"))
	if w = h.load("w"); w.Filter != "" || w.Origin != "" || w.Initialized || len(w.Snapshot) != 0 {
		t.Fatalf("after ResetSnapshot: %+v", w)
	}
}

// testSelfRemoved: self-removed markers, their confirmation and their
// consumption by a commit survive a crash.
func testSelfRemoved(t *testing.T, open Open) {
	h := start(t, open)
	h.baseline("w")
	h.must("MarkSelfRemoved", h.b.MarkSelfRemoved("w", "a"))
	h.must("MarkSelfRemoved", h.b.MarkSelfRemoved("w", "b"))
	h.must("ConfirmSelfRemoved", h.b.ConfirmSelfRemoved("w", "a", t0))
	h.must("ConfirmSelfRemoved of a path without a marker", h.b.ConfirmSelfRemoved("w", "zz", t0))
	h.crash()
	w := h.load("w")
	if !w.SelfRemoved["a"] || !w.SelfRemoved["b"] || len(w.SelfRemoved) != 2 {
		t.Fatalf("self-removed %v, want a and b", w.SelfRemoved)
	}
	if at, ok := w.SelfRemovedDone["a"]; !ok || !at.Equal(t0) || len(w.SelfRemovedDone) != 1 {
		t.Fatalf("confirmed %v, want a at %v", w.SelfRemovedDone, t0)
	}
	h.must("UnmarkSelfRemoved", h.b.UnmarkSelfRemoved("w", "b"))
	h.must("UnmarkSelfRemoved of a path without a marker", h.b.UnmarkSelfRemoved("w", "zz"))
	h.commit("w", state.Batch{Removed: []string{"a"}, SelfRemovedConsumed: []string{"a"}})
	h.crash()
	if w = h.load("w"); len(w.SelfRemoved) != 0 || len(w.SelfRemovedDone) != 0 {
		t.Fatalf("after unmark and consume: %v %v", w.SelfRemoved, w.SelfRemovedDone)
	}
	if _, ok := w.Snapshot["a"]; ok || len(h.outbox("w")) != 0 {
		t.Fatalf("a self-removal left a in the snapshot or an event: %v", w.Snapshot)
	}
}
