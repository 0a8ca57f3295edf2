package state

import (
	"slices"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// TestWatchMetaRoundTrip: filter, origin and the baseline-pending list are
// stored with a commit, kept by commits that do not set them, and a batch
// that only sets them is not empty.
func TestWatchMetaRoundTrip(t *testing.T) {
	s := openT(t, t.TempDir())
	if _, err := s.Commit("w", Batch{Set: diff.Snapshot{"a": {Size: 1}}, Filter: "f1", Origin: "h:/p",
		BaselinePending: []string{"x", "y/z"}, SetBaselinePending: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit("w", Batch{Set: diff.Snapshot{"b": {Size: 1}}}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if w.Filter != "f1" || w.Origin != "h:/p" || !slices.Equal(w.BaselinePending, []string{"x", "y/z"}) {
		t.Errorf("loaded filter %q origin %q baseline pending %q", w.Filter, w.Origin, w.BaselinePending)
	}
	b := Batch{Filter: "f2", SetBaselinePending: true}
	if b.Empty() {
		t.Error("a batch that changes the filter is Empty")
	}
	if _, err := s.Commit("w", b); err != nil {
		t.Fatal(err)
	}
	if w, err = s.Load("w"); err != nil {
		t.Fatal(err)
	}
	if w.Filter != "f2" || w.BaselinePending != nil {
		t.Errorf("after the second change: filter %q baseline pending %q", w.Filter, w.BaselinePending)
	}
}

// TestResetSnapshot: a reset watch is a first scan again, with its outbox
// and event sequence kept.
func TestResetSnapshot(t *testing.T) {
	s := openT(t, t.TempDir())
	if _, err := s.Commit("w", Batch{Set: diff.Snapshot{"a": {Size: 1}}, Filter: "f", Origin: "o",
		PendingSet: map[string]diff.Pending{"p": {Since: 1}}, Events: []event.Event{{Type: event.Create, RelPath: "a"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSelfRemoved("w", "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetSnapshot("w"); err != nil {
		t.Fatal(err)
	}
	w, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if w.Initialized || len(w.Snapshot) != 0 || len(w.Pending) != 0 || len(w.SelfRemoved) != 0 || w.Filter != "" || w.Origin != "" {
		t.Errorf("after reset: %+v", w)
	}
	items, err := s.Outbox("w")
	if err != nil || len(items) != 1 {
		t.Fatalf("outbox after reset: %d items, %v", len(items), err)
	}
	evs, err := s.Commit("w", Batch{Events: []event.Event{{Type: event.Create, RelPath: "b"}}})
	if err != nil || len(evs) != 1 || evs[0].ID != "w-000000000002" {
		t.Errorf("event after reset: %+v %v (the sequence must go on)", evs, err)
	}
	if err := s.ResetSnapshot("never"); err != nil {
		t.Errorf("reset of a watch without state: %v", err)
	}
}
