package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// hostile rel_paths: they are keys, stored and returned byte for byte.
var hostile = []string{
	"plain.csv",
	"dir with spaces/file name.txt",
	"new\nline",
	"$(touch PWNED)",
	"../escape",
	"ünïcödé/日本語.txt",
	"a/b/c/d/e/f/g.bin",
	"tab\there",
	"\x00nul",
}

func testEvent(typ event.Type, rel string) event.Event {
	mt := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	return event.Event{
		Host: "partner", Type: typ, Path: "/upload/" + rel, RelPath: rel,
		Name: filepath.Base(rel), EntryType: "file", Size: 1234, MTime: mt, Mode: "0644",
		DetectedAt: mt.Add(31*time.Second + 123456789),
	}
}

func TestCommitLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)

	w, err := s.Load("incoming")
	if err != nil {
		t.Fatal(err)
	}
	if w.Initialized || len(w.Snapshot) != 0 || w.Pending == nil || w.SelfRemoved == nil {
		t.Fatalf("Load of an unknown watch = %+v, want uninitialized with empty maps", w)
	}

	set := diff.Snapshot{}
	pending := map[string]diff.Pending{}
	for i, p := range hostile {
		set[p] = diff.Entry{Type: diff.File, Size: int64(i) << 40, MTime: -int64(i), Mode: 0o644}
		pending["p/"+p] = diff.Pending{Entry: diff.Entry{Type: diff.File, Size: 7}, Since: int64(i) * 1e9}
	}
	set["dir"] = diff.Entry{Type: diff.Dir, Mode: 0o755, MTime: 1700000000}
	set["link"] = diff.Entry{Type: diff.Symlink, Mode: 0o777, Link: "../target with space\n"}
	set["sock"] = diff.Entry{Type: diff.Other}
	for _, p := range hostile {
		if err := s.MarkSelfRemoved("incoming", "moved/"+p); err != nil {
			t.Fatal(err)
		}
	}
	rename := testEvent(event.Rename, "new.csv")
	rename.OldPath, rename.OldRelPath = "/upload/old.csv", "old.csv"
	modify := testEvent(event.Modify, "$(touch PWNED)")
	modify.Prev = &event.Prev{Size: 1000, MTime: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	evs := []event.Event{testEvent(event.Create, "new\nline"), modify, rename}

	got, err := s.Commit("incoming", Batch{
		Set: set, PendingSet: pending,
		SelfRemovedConsumed: []string{"moved/" + hostile[0]},
		Events:              evs,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("Commit returned %d events, want %d", len(got), len(evs))
	}
	for i := range got {
		want := evs[i]
		want.ID = fmt.Sprintf("incoming-%012d", i+1)
		want.Watch = "incoming"
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want)
		}
	}
	if evs[0].ID != "" {
		t.Error("Commit modified the caller's events")
	}

	// Reopen: everything comes back from disk.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	w, err = s.Load("incoming")
	if err != nil {
		t.Fatal(err)
	}
	if !w.Initialized {
		t.Error("watch not initialized after a commit")
	}
	if !reflect.DeepEqual(w.Snapshot, set) {
		t.Errorf("snapshot after reload:\n got %v\nwant %v", w.Snapshot, set)
	}
	if !reflect.DeepEqual(w.Pending, pending) {
		t.Errorf("pending after reload:\n got %v\nwant %v", w.Pending, pending)
	}
	wantSelf := map[string]bool{}
	for _, p := range hostile[1:] {
		wantSelf["moved/"+p] = true
	}
	if !reflect.DeepEqual(w.SelfRemoved, wantSelf) {
		t.Errorf("self-removed after reload:\n got %v\nwant %v", w.SelfRemoved, wantSelf)
	}
	items, err := s.Outbox("incoming")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(got) {
		t.Fatalf("outbox has %d items, want %d", len(items), len(got))
	}
	for i, it := range items {
		if it.Step != 0 || it.Attempts != 0 {
			t.Errorf("item %d step/attempts = %d/%d, want 0/0", i, it.Step, it.Attempts)
		}
		assertEventEqual(t, it.Event, got[i])
	}
	if items[2].Event.OldRelPath != "old.csv" {
		t.Errorf("OldRelPath lost: %q", items[2].Event.OldRelPath)
	}

	// Second scan: removals and upserts, pending settled.
	_, err = s.Commit("incoming", Batch{
		Set:            diff.Snapshot{"dir": {Type: diff.Dir, Mode: 0o700, MTime: 1800000000}, "fresh": {Size: 1}},
		Removed:        []string{"link", "sock", "not-there"},
		PendingRemoved: []string{"p/" + hostile[0]},
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err = s.Load("incoming")
	if err != nil {
		t.Fatal(err)
	}
	delete(set, "link")
	delete(set, "sock")
	set["dir"] = diff.Entry{Type: diff.Dir, Mode: 0o700, MTime: 1800000000}
	set["fresh"] = diff.Entry{Size: 1}
	delete(pending, "p/"+hostile[0])
	if !reflect.DeepEqual(w.Snapshot, set) || !reflect.DeepEqual(w.Pending, pending) {
		t.Errorf("after second commit:\n snap %v\nwant %v\npending %v\nwant %v", w.Snapshot, set, w.Pending, pending)
	}
	ws, err := s.Watches()
	if err != nil || !reflect.DeepEqual(ws, []string{"incoming"}) {
		t.Errorf("Watches() = %q, %v", ws, err)
	}
}

func assertEventEqual(t *testing.T, got, want event.Event) {
	t.Helper()
	// Times come back from JSON without monotonic clock or original
	// *Location; compare instants, then the rest.
	for _, p := range []struct {
		name string
		a, b time.Time
	}{{"MTime", got.MTime, want.MTime}, {"DetectedAt", got.DetectedAt, want.DetectedAt}} {
		if !p.a.Equal(p.b) {
			t.Errorf("event %s %s = %v, want %v", want.ID, p.name, p.a, p.b)
		}
	}
	if (got.Prev == nil) != (want.Prev == nil) || got.Prev != nil && (got.Prev.Size != want.Prev.Size || !got.Prev.MTime.Equal(want.Prev.MTime)) {
		t.Errorf("event %s Prev = %+v, want %+v", want.ID, got.Prev, want.Prev)
	}
	got.MTime, got.DetectedAt, got.Prev = want.MTime, want.DetectedAt, want.Prev
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event:\n got %+v\nwant %+v", got, want)
	}
}

func TestEventIDsMonotonicUniqueStable(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	seen := map[string]bool{}
	var last string
	commit := func(watch string, n int) []event.Event {
		t.Helper()
		evs := make([]event.Event, n)
		for i := range evs {
			evs[i] = testEvent(event.Create, fmt.Sprintf("f%d", i))
		}
		got, err := s.Commit(watch, Batch{Events: evs})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for round := range 3 {
		for _, ev := range commit("a", 5) {
			if seen[ev.ID] {
				t.Fatalf("round %d: ID %q reused", round, ev.ID)
			}
			seen[ev.ID] = true
			if ev.ID <= last {
				t.Fatalf("ID %q not after %q", ev.ID, last)
			}
			last = ev.ID
		}
		// Deliver everything: IDs must still not be reused.
		items, err := s.Outbox("a")
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if err := s.Done("a", it.Event.ID); err != nil {
				t.Fatal(err)
			}
		}
		// Reopen between rounds.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openT(t, dir)
	}
	if last != "a-000000000015" {
		t.Errorf("last ID = %q, want a-000000000015", last)
	}
	// Another watch has its own sequence, so IDs stay unique per state dir.
	if got := commit("b", 1)[0].ID; got != "b-000000000001" {
		t.Errorf("first ID of watch b = %q", got)
	}

	// Stable across redelivery: an undelivered event keeps its ID after reopen.
	got := commit("a", 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	items, err := s.Outbox("a")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Event.ID != got[0].ID || items[1].Event.ID != got[1].ID {
		t.Errorf("outbox after reopen = %+v, want IDs %s %s", items, got[0].ID, got[1].ID)
	}
}

func TestCommitIsAtomic(t *testing.T) {
	s := openT(t, t.TempDir())
	base := Batch{Set: diff.Snapshot{"keep": {Size: 1}}, Events: []event.Event{testEvent(event.Create, "keep")}}
	if _, err := s.Commit("w", base); err != nil {
		t.Fatal(err)
	}
	before, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}

	bad := testEvent(event.Create, "bad")
	bad.MTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) // JSON cannot encode year 10000
	failing := Batch{
		Set:                 diff.Snapshot{"new": {Size: 2}, "keep": {Size: 99}},
		Removed:             []string{"keep"},
		PendingSet:          map[string]diff.Pending{"p": {Since: 1}},
		SelfRemovedConsumed: []string{"x"},
		Events:              []event.Event{testEvent(event.Create, "new"), bad},
	}
	if err := s.MarkSelfRemoved("w", "x"); err != nil {
		t.Fatal(err)
	}
	before.SelfRemoved["x"] = true

	if _, err := s.Commit("w", failing); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("Commit with an unencodable event: %v, want an error naming it", err)
	}
	// The unexported hook fails the transaction after every write.
	hookErr := errors.New("injected")
	s.commitHook = func() error { return hookErr }
	failing.Events = failing.Events[:1]
	if _, err := s.Commit("w", failing); !errors.Is(err, hookErr) {
		t.Fatalf("Commit with a failing hook: %v", err)
	}
	s.commitHook = nil

	after, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("failed commits left changes:\nbefore %+v\nafter  %+v", before, after)
	}
	items, err := s.Outbox("w")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 {
		t.Errorf("outbox has %d items after failed commits, want 1", len(items))
	}
	// The sequence of failed commits is rolled back with them, and such
	// IDs never left the store: the next event follows the last committed.
	got, err := s.Commit("w", Batch{Events: []event.Event{testEvent(event.Create, "next")}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].ID != "w-000000000002" {
		t.Errorf("next ID = %q, want w-000000000002", got[0].ID)
	}
}

func TestCommitRejectsBadInput(t *testing.T) {
	s := openT(t, t.TempDir())
	withID := testEvent(event.Create, "a")
	withID.ID = "w-000000000009"
	for name, b := range map[string]Batch{
		"event with ID":      {Events: []event.Event{withID}},
		"bad entry type":     {Set: diff.Snapshot{"a": {Type: 9}}},
		"bad pending type":   {PendingSet: map[string]diff.Pending{"a": {Entry: diff.Entry{Type: 200}}}},
		"empty rel_path key": {Set: diff.Snapshot{"": {}}},
	} {
		if _, err := s.Commit("w", b); err == nil {
			t.Errorf("%s: Commit succeeded", name)
		}
	}
	if _, err := s.Commit("", Batch{Set: diff.Snapshot{"a": {}}}); err == nil {
		t.Error("Commit to an empty watch name succeeded")
	}
	w, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if w.Initialized || len(w.Snapshot) != 0 {
		t.Errorf("rejected commits changed state: %+v", w)
	}
}

func TestEmptyCommitWritesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	// The first commit, even empty, marks the watch initialized.
	if _, err := s.Commit("w", Batch{}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if !w.Initialized {
		t.Fatal("empty first commit did not initialize the watch")
	}
	path := filepath.Join(dir, FileName)
	fileBefore, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	statBefore, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	writesBefore := writes(s)
	for range 5 {
		evs, err := s.Commit("w", Batch{Set: diff.Snapshot{}, Events: []event.Event{}})
		if err != nil || len(evs) != 0 {
			t.Fatalf("empty Commit = %v, %v", evs, err)
		}
	}
	if d := writes(s) - writesBefore; d != 0 {
		t.Errorf("empty commits performed %d writes", d)
	}
	fileAfter, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	statAfter, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(fileBefore) != string(fileAfter) || !statAfter.ModTime().Equal(statBefore.ModTime()) {
		t.Error("empty commits changed the state file")
	}
	// A non-empty commit does write: the check above can fail.
	if _, err := s.Commit("w", Batch{Removed: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if writes(s) == writesBefore {
		t.Error("a non-empty commit performed no writes: the write counter does not work")
	}
}

func TestSelfRemovedMarkers(t *testing.T) {
	s := openT(t, t.TempDir())
	for _, p := range hostile {
		if err := s.MarkSelfRemoved("w", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UnmarkSelfRemoved("w", hostile[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.UnmarkSelfRemoved("w", "never marked"); err != nil {
		t.Errorf("unmarking an unmarked path: %v", err)
	}
	if err := s.UnmarkSelfRemoved("unknown-watch", "x"); err != nil {
		t.Errorf("unmarking in an unknown watch: %v", err)
	}
	w, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if w.Initialized {
		t.Error("marking self-removed paths initialized the watch")
	}
	want := map[string]bool{}
	for _, p := range hostile[1:] {
		want[p] = true
	}
	if !reflect.DeepEqual(w.SelfRemoved, want) {
		t.Errorf("SelfRemoved = %v, want %v", w.SelfRemoved, want)
	}
}

// writes is the number of file writes bbolt performed so far.
func writes(s *Store) int64 {
	st := s.db.Stats()
	return st.TxStats.GetWrite()
}
