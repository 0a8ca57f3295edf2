package state

import (
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// deadLetterAt commits an event, advances it to step and dead-letters it.
func deadLetterAt(t *testing.T, s *Store, watch, rel string, step int) string {
	t.Helper()
	ev := commitEvents(t, s, watch, rel)[0]
	ev.LocalPath = "/data/" + rel
	if err := s.Advance(watch, ev.ID, step, ev); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt(watch, ev.ID, 3); err != nil {
		t.Fatal(err)
	}
	if err := s.DeadLetter(watch, ev.ID, "webhook answered 400", time.Now()); err != nil {
		t.Fatal(err)
	}
	return ev.ID
}

func TestRetryDeadLetterKeepsIDAndStep(t *testing.T) {
	s := openT(t, t.TempDir())
	first := commitEvents(t, s, "w", "before")[0]
	id := deadLetterAt(t, s, "w", "a", 2)
	assertCounts(t, s, "w", 1, 1)

	if err := s.RetryDeadLetter("w", id, false); err != nil {
		t.Fatal(err)
	}
	assertCounts(t, s, "w", 2, 0)
	items, err := s.Outbox("w")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Event.ID != first.ID || items[1].Event.ID != id {
		t.Fatalf("outbox after retry = %+v; want %s then %s (commit order)", items, first.ID, id)
	}
	if it := items[1]; it.Step != 2 || it.Attempts != 0 || it.Event.LocalPath != "/data/a" {
		t.Errorf("retried item: step %d attempts %d local_path %q; want step 2, attempts 0, /data/a", it.Step, it.Attempts, it.Event.LocalPath)
	}
	// Retrying it again: it is no dead letter any more.
	if err := s.RetryDeadLetter("w", id, false); !errors.Is(err, ErrNotFound) {
		t.Errorf("second retry: %v, want ErrNotFound", err)
	}

	// From the start: step 0, the step's output forgotten.
	if err := s.DeadLetter("w", id, "again", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.RetryDeadLetter("w", id, true); err != nil {
		t.Fatal(err)
	}
	items, _ = s.Outbox("w")
	if it := items[1]; it.Event.ID != id || it.Step != 0 || it.Event.LocalPath != "" {
		t.Errorf("retried from start: %+v; want step 0 and no local_path", it)
	}
}

func TestDiscardDeadLetter(t *testing.T) {
	s := openT(t, t.TempDir())
	id := deadLetterAt(t, s, "w", "a", 0)
	keep := deadLetterAt(t, s, "w", "b", 0)
	if err := s.DiscardDeadLetter("w", id); err != nil {
		t.Fatal(err)
	}
	assertCounts(t, s, "w", 0, 1)
	dead, err := s.DeadLetters("w")
	if err != nil || len(dead) != 1 || dead[0].Event.ID != keep {
		t.Fatalf("dead letters after discard = %+v, %v; want only %s", dead, err, keep)
	}
	if err := s.DiscardDeadLetter("w", id); !errors.Is(err, ErrNotFound) {
		t.Errorf("discard twice: %v, want ErrNotFound", err)
	}
	if err := s.DiscardDeadLetter("other", "other-000000000001"); !errors.Is(err, ErrNotFound) {
		t.Errorf("discard in a watch without state: %v, want ErrNotFound", err)
	}
}

func TestResetWatchEmitFlag(t *testing.T) {
	s := openT(t, t.TempDir())
	if _, err := s.Commit("w", Batch{Set: diff.Snapshot{"a": {Type: diff.File, Size: 1}}}); err != nil {
		t.Fatal(err)
	}
	commitEvents(t, s, "w", "x")
	if err := s.ResetWatch("w", true); err != nil {
		t.Fatal(err)
	}
	w, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if w.Initialized || len(w.Snapshot) != 0 || !w.EmitFirst {
		t.Fatalf("after reset --emit: initialized %v, %d entries, emit %v; want false, 0, true", w.Initialized, len(w.Snapshot), w.EmitFirst)
	}
	assertCounts(t, s, "w", 1, 0) // the outbox stays
	if _, err := s.Commit("w", Batch{}); err != nil {
		t.Fatal(err)
	}
	if w, _ = s.Load("w"); w.EmitFirst || !w.Initialized {
		t.Errorf("after the first commit: emit %v initialized %v; want the request consumed", w.EmitFirst, w.Initialized)
	}
	if err := s.ResetWatch("w", false); err != nil {
		t.Fatal(err)
	}
	if w, _ = s.Load("w"); w.EmitFirst || w.Initialized {
		t.Errorf("after reset: emit %v initialized %v; want a silent first scan", w.EmitFirst, w.Initialized)
	}
}

func TestDeleteWatchAndInfo(t *testing.T) {
	s := openT(t, t.TempDir())
	commitEvents(t, s, "gone", "a")
	commitEvents(t, s, "kept", "b")
	sum := ScanSummary{Time: time.Unix(100, 0).UTC(), Result: "error", Duration: time.Second, Entries: 3, Error: "dial: refused"}
	if err := s.PutScanSummary("kept", sum); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWatch("gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWatch("never"); err != nil {
		t.Errorf("delete a watch without state: %v", err)
	}
	names, _ := s.Watches()
	if len(names) != 1 || names[0] != "kept" {
		t.Errorf("watches after delete = %v, want [kept]", names)
	}
	info, err := s.Info("kept")
	if err != nil {
		t.Fatal(err)
	}
	if info.Outbox != 1 || info.LastScan == nil || *info.LastScan != sum {
		t.Errorf("info = %+v (last scan %+v); want outbox 1 and %+v", info, info.LastScan, sum)
	}
}

func TestWriteToBackupOpens(t *testing.T) {
	s := openT(t, t.TempDir())
	evs := commitEvents(t, s, "w", "a", "b")
	restore := t.TempDir()
	out := filepath.Join(restore, FileName)
	if err := WriteFile(out, func(w io.Writer) error { _, err := s.WriteTo(w); return err }); err != nil {
		t.Fatal(err)
	}
	// The copy is a state file of its own: it opens as one (while s holds
	// its own lock) and holds the committed events.
	b := openT(t, restore)
	items, err := b.Outbox("w")
	if err != nil || len(items) != len(evs) || items[1].Event.ID != evs[1].ID {
		t.Errorf("backup outbox = %+v (%v), want %d events", items, err, len(evs))
	}
}
