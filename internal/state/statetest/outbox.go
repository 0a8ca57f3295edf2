package statetest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// testCrashBetweenCalls runs every kind of write one after the other and
// crashes after each: what the backend returned before the crash is what it
// returns after it, nothing lost, nothing half-written.
func testCrashBetweenCalls(t *testing.T, open Open) {
	h := start(t, open)
	var evs []event.Event
	id := func(i int) string { return evs[i].ID }
	steps := []struct {
		name string
		do   func() error
	}{
		{"baseline", func() error { h.baseline("w"); return nil }},
		{"other watch", func() error { h.baseline("v"); return nil }},
		{"commit", func() error { evs = h.commit("w", change()); return nil }},
		{"mark self-removed", func() error { return h.b.MarkSelfRemoved("w", "c") }},
		{"advance", func() error {
			e := evs[0]
			e.LocalPath = "/spool/a"
			return h.b.Advance("w", id(0), 1, e)
		}},
		{"record attempt", func() error { return h.b.RecordAttempt("w", id(1), 3) }},
		{"confirm self-removed", func() error { return h.b.ConfirmSelfRemoved("w", "c", t0) }},
		{"dead letter", func() error { return h.b.DeadLetter("w", id(1), "boom", t0) }},
		{"done", func() error { return h.b.Done("w", id(0)) }},
		{"scan summary", func() error {
			return h.b.PutScanSummary("w", state.ScanSummary{Time: t0, Result: "ok", Duration: 1500, Entries: 4})
		}},
		{"retry dead letter", func() error { return h.b.RetryDeadLetter("w", id(1), false) }},
		{"consume self-removed", func() error {
			_, err := h.b.Commit("w", state.Batch{Removed: []string{"c"}, SelfRemovedConsumed: []string{"c"},
				PendingRemoved: []string{"p"}, BaselinePending: []string{"d"}, SetBaselinePending: true})
			return err
		}},
		{"dead letter again", func() error { return h.b.DeadLetter("w", id(2), "gone", t0) }},
		{"discard dead letter", func() error { return h.b.DiscardDeadLetter("w", id(2)) }},
		{"reset watch --emit", func() error { return h.b.ResetWatch("w", true) }},
		{"emitting first scan", func() error {
			_, err := h.b.Commit("w", state.Batch{Set: diff.Snapshot{"a": file(1)}, Events: []event.Event{ev(event.Create, "a")}})
			return err
		}},
		{"reset snapshot", func() error { return h.b.ResetSnapshot("w") }},
		{"unmark self-removed", func() error {
			if err := h.b.MarkSelfRemoved("w", "z"); err != nil {
				return err
			}
			return h.b.UnmarkSelfRemoved("w", "z")
		}},
		{"delete watch", func() error { return h.b.DeleteWatch("v") }},
	}
	for _, s := range steps {
		h.must(s.name, s.do())
		before := h.dump()
		h.crash()
		sameDump(t, "crash after "+s.name, h.dump(), before)
	}
	if got := h.dump(); !slices.Equal(got.Watches, []string{"w"}) || got.Of["w"].NOutbox != 2 || got.Of["w"].NDead != 0 {
		t.Fatalf("at the end: %+v, want watch w alone with 2 events waiting", got)
	}
}

// testOrderPerPath: the outbox returns events in commit order, so the
// events of one path in the order they happened, also after a Done in
// between, a dead letter retried (back in its place) and a reopen.
func testOrderPerPath(t *testing.T, open Open) {
	h := start(t, open)
	h.baseline("w")
	var all []event.Event
	for _, b := range [][]event.Event{
		{ev(event.Create, "a"), ev(event.Create, "b")},
		{ev(event.Modify, "a")},
		{ev(event.Delete, "a"), ev(event.Create, "b2")},
		{ev(event.Create, "a")},
	} {
		all = append(all, h.commit("w", state.Batch{Events: b})...)
	}
	want := []string{"create a", "create b", "modify a", "delete a", "create b2", "create a"}
	if got := paths(h.outbox("w")); !slices.Equal(got, want) {
		t.Fatalf("outbox %q, want %q", got, want)
	}
	h.must("Done", h.b.Done("w", all[1].ID))
	h.must("DeadLetter", h.b.DeadLetter("w", all[2].ID, "x", t0))
	h.commit("w", state.Batch{Events: []event.Event{ev(event.Modify, "a")}})
	h.must("RetryDeadLetter", h.b.RetryDeadLetter("w", all[2].ID, false))
	h.reopen()
	want = []string{"create a", "modify a", "delete a", "create b2", "create a", "modify a"}
	items := h.outbox("w")
	if got := paths(items); !slices.Equal(got, want) {
		t.Fatalf("outbox after done, retry and reopen %q, want %q", got, want)
	}
	if items[1].Event.ID != all[2].ID {
		t.Fatalf("the retried event has ID %q, want %q", items[1].Event.ID, all[2].ID)
	}
}

// testStepProgress: Advance stores the next step and the event as the step
// left it and resets the attempts; RecordAttempt stores the attempts; both
// survive a reopen; unknown IDs are ErrNotFound and change nothing.
func testStepProgress(t *testing.T, open Open) {
	h := start(t, open)
	h.baseline("w")
	evs := h.commit("w", change())
	h.must("RecordAttempt", h.b.RecordAttempt("w", evs[1].ID, 2))
	e := h.progress(evs[1], "/spool/b", 2, 3)
	h.crash()
	it := h.outbox("w")[1]
	if it.Step != 2 || it.Attempts != 3 || it.Event.LocalPath != "/spool/b" || it.Event.ID != e.ID {
		t.Fatalf("after advance and attempts: step %d attempts %d local path %q id %q; want 2, 3, /spool/b, %q",
			it.Step, it.Attempts, it.Event.LocalPath, it.Event.ID, e.ID)
	}
	h.must("Advance", h.b.Advance("w", e.ID, 3, it.Event))
	if it = h.outbox("w")[1]; it.Step != 3 || it.Attempts != 0 {
		t.Fatalf("Advance did not reset the attempts: step %d attempts %d", it.Step, it.Attempts)
	}
	before := h.dump()
	other := evs[0]
	if err := h.b.Advance("w", e.ID, 4, other); err == nil {
		t.Fatal("Advance with an event carrying another ID was accepted")
	}
	missing := "w-000000999999"
	wantNotFound(t, map[string]error{
		"Advance":                h.b.Advance("w", missing, 1, event.Event{ID: missing}),
		"RecordAttempt":          h.b.RecordAttempt("w", missing, 1),
		"Done":                   h.b.Done("w", missing),
		"DeadLetter":             h.b.DeadLetter("w", missing, "x", t0),
		"Done of a malformed ID": h.b.Done("w", "nope"),
		"Done of another watch":  h.b.Done("v", e.ID),
	})
	sameDump(t, "after refused writes", h.dump(), before)
}

// testDeadLetters: a dead letter keeps its step and attempts, with reason
// and time; a retry puts it back with the same ID and step (or the first
// step, without what the steps left, fromStart) and no attempts; a discard
// drops it.
func testDeadLetters(t *testing.T, open Open) {
	h := start(t, open)
	h.baseline("w")
	evs := h.commit("w", change())
	e := h.progress(evs[0], "/spool/a", 1, 4)
	h.must("DeadLetter", h.b.DeadLetter("w", e.ID, "boom", t0))
	h.crash()
	dead := h.dead("w")
	if len(dead) != 1 || dead[0].Event.ID != e.ID || dead[0].Step != 1 || dead[0].Attempts != 4 ||
		dead[0].Reason != "boom" || !dead[0].At.Equal(t0) {
		t.Fatalf("dead letters %+v, want %s at step 1 after 4 attempts, boom at %v", dead, e.ID, t0)
	}
	if got := ids(h.outbox("w")); slices.Contains(got, e.ID) || len(got) != 2 {
		t.Fatalf("outbox %q still holds the dead letter %q", got, e.ID)
	}
	if o, d, err := h.b.Counts("w"); err != nil || o != 2 || d != 1 {
		t.Fatalf("Counts = %d, %d, %v; want 2, 1", o, d, err)
	}

	h.must("RetryDeadLetter", h.b.RetryDeadLetter("w", e.ID, false))
	h.crash()
	items := h.outbox("w")
	if items[0].Event.ID != e.ID || items[0].Step != 1 || items[0].Attempts != 0 || items[0].Event.LocalPath != "/spool/a" {
		t.Fatalf("retried: %+v, want %s first, at step 1, no attempts, local path kept", items[0], e.ID)
	}
	if len(h.dead("w")) != 0 {
		t.Fatal("a retried dead letter stayed a dead letter")
	}

	h.must("DeadLetter", h.b.DeadLetter("w", e.ID, "boom", t0))
	h.must("RetryDeadLetter from the start", h.b.RetryDeadLetter("w", e.ID, true))
	if it := h.outbox("w")[0]; it.Event.ID != e.ID || it.Step != 0 || it.Event.LocalPath != "" {
		t.Fatalf("retried from the start: %+v, want step 0 and no local path", it)
	}

	h.must("DeadLetter", h.b.DeadLetter("w", e.ID, "boom", t0))
	h.must("DiscardDeadLetter", h.b.DiscardDeadLetter("w", e.ID))
	h.reopen()
	if len(h.dead("w")) != 0 || slices.Contains(ids(h.outbox("w")), e.ID) {
		t.Fatal("a discarded dead letter is still stored")
	}
	wantNotFound(t, map[string]error{
		"DiscardDeadLetter":                         h.b.DiscardDeadLetter("w", e.ID),
		"RetryDeadLetter":                           h.b.RetryDeadLetter("w", e.ID, false),
		"RetryDeadLetter of an event in the outbox": h.b.RetryDeadLetter("w", evs[1].ID, false),
	})
}

// testIDSequence: event IDs name their watch, increase in commit order and
// are never reused: not after Done, a reopen, a crash, or a reset.
func testIDSequence(t *testing.T, open Open) {
	h := start(t, open)
	var seen []string
	next := func(when string, n int) {
		t.Helper()
		evs := make([]event.Event, n)
		for i := range evs {
			evs[i] = ev(event.Create, "f")
		}
		for _, e := range h.commit("w", state.Batch{Events: evs}) {
			if !strings.HasPrefix(e.ID, "w-") || e.Watch != "w" {
				t.Fatalf("%s: event ID %q of watch %q, want one of watch w", when, e.ID, e.Watch)
			}
			if len(seen) > 0 && e.ID <= seen[len(seen)-1] {
				t.Fatalf("%s: ID %q after %q: not increasing", when, e.ID, seen[len(seen)-1])
			}
			seen = append(seen, e.ID)
			h.must("Done", h.b.Done("w", e.ID))
		}
	}
	next("first", 3)
	next("after done", 2)
	h.reopen()
	next("after a reopen", 2)
	h.crash()
	next("after a crash", 1)
	h.must("ResetSnapshot", h.b.ResetSnapshot("w"))
	next("after ResetSnapshot", 1)
	h.must("ResetWatch", h.b.ResetWatch("w", false))
	next("after ResetWatch", 1)
	if evs := h.commit("v", state.Batch{Events: []event.Event{ev(event.Create, "f")}}); slices.Contains(seen, evs[0].ID) {
		t.Fatalf("watch v got ID %q of watch w", evs[0].ID)
	}
}

// testResetAndDelete: ResetSnapshot forgets the tree and keeps the events;
// ResetWatch with emit asks the next first scan to emit, once; DeleteWatch
// forgets everything of one watch and nothing of another.
func testResetAndDelete(t *testing.T, open Open) {
	h := start(t, open)
	h.populate()
	other := h.dump().Of["v"]

	h.must("ResetSnapshot", h.b.ResetSnapshot("w"))
	h.crash()
	w := h.load("w")
	if w.Initialized || len(w.Snapshot) != 0 || len(w.Pending) != 0 || len(w.SelfRemoved) != 0 || w.EmitFirst {
		t.Fatalf("after ResetSnapshot: %+v, want a watch that knows no tree", w)
	}
	if len(h.outbox("w")) != 2 || len(h.dead("w")) != 1 {
		t.Fatal("ResetSnapshot dropped events")
	}

	h.must("ResetWatch --emit", h.b.ResetWatch("w", true))
	h.crash()
	if w = h.load("w"); !w.EmitFirst || w.Initialized {
		t.Fatalf("after ResetWatch with emit: emit %v initialized %v; want true, false", w.EmitFirst, w.Initialized)
	}
	h.commit("w", state.Batch{Set: diff.Snapshot{"a": file(1)}})
	if w = h.load("w"); w.EmitFirst || !w.Initialized {
		t.Fatalf("after the first commit: emit %v initialized %v; want the request consumed", w.EmitFirst, w.Initialized)
	}
	h.must("ResetWatch --emit", h.b.ResetWatch("w", true))
	h.must("ResetWatch", h.b.ResetWatch("w", false))
	if w = h.load("w"); w.EmitFirst {
		t.Fatal("ResetWatch without emit kept an earlier emit request")
	}

	h.must("DeleteWatch", h.b.DeleteWatch("w"))
	h.must("DeleteWatch of a watch without state", h.b.DeleteWatch("never"))
	h.crash()
	d := h.dump()
	if !slices.Equal(d.Watches, []string{"v"}) {
		t.Fatalf("watches after delete: %q, want v", d.Watches)
	}
	if w = h.load("w"); w.Initialized || len(w.Snapshot) != 0 || len(h.outbox("w")) != 0 || len(h.dead("w")) != 0 {
		t.Fatal("a deleted watch still has state")
	}
	if info, err := h.b.Info("w"); err != nil || info != (state.WatchInfo{}) {
		t.Fatalf("Info of a deleted watch: %+v, %v", info, err)
	}
	if !reflect.DeepEqual(d.Of["v"], other) {
		t.Fatalf("the other watch changed:\n got %+v\nwant %+v", d.Of["v"], other)
	}
}

// testBackup: a backup copy, opened as a state of its own, holds what the
// backend held.
func testBackup(t *testing.T, open Open) {
	h := start(t, open)
	h.populate()
	want := h.dump()

	var buf bytes.Buffer
	if _, err := h.b.WriteTo(&buf); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, state.FileName), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &handle{t: t, open: open, dir: dir, b: open(t, dir)}
	defer c.b.Close()
	sameDump(t, "the backup copy", c.dump(), want)
}

// wantNotFound checks that every call (named by its key) of an event the
// store does not hold there gave ErrNotFound.
func wantNotFound(t *testing.T, calls map[string]error) {
	t.Helper()
	for name, err := range calls {
		if !errors.Is(err, state.ErrNotFound) {
			t.Errorf("%s of an event not there: %v, want ErrNotFound", name, err)
		}
	}
}

// populate gives watches w and v some of everything: snapshots, pending,
// a self-removed marker, events waiting, a dead letter, a scan summary.
func (h *handle) populate() {
	h.t.Helper()
	h.baseline("w")
	h.baseline("v")
	evs := h.commit("w", change())
	h.must("DeadLetter", h.b.DeadLetter("w", evs[0].ID, "x", t0))
	h.must("MarkSelfRemoved", h.b.MarkSelfRemoved("w", "c"))
	h.must("PutScanSummary", h.b.PutScanSummary("v", state.ScanSummary{Time: t0, Result: "partial", Error: "e"}))
}
