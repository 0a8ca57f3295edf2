package state

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

func commitEvents(t *testing.T, s *Store, watch string, rels ...string) []event.Event {
	t.Helper()
	evs := make([]event.Event, len(rels))
	for i, r := range rels {
		evs[i] = testEvent(event.Create, r)
	}
	got, err := s.Commit(watch, Batch{Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func assertCounts(t *testing.T, s *Store, watch string, outbox, dead int) {
	t.Helper()
	o, d, err := s.Counts(watch)
	if err != nil {
		t.Fatal(err)
	}
	if o != outbox || d != dead {
		t.Errorf("Counts(%q) = %d, %d; want %d, %d", watch, o, d, outbox, dead)
	}
}

func TestOutboxLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	assertCounts(t, s, "w", 0, 0)
	evs := commitEvents(t, s, "w", "a", "b", "c", "$(touch PWNED)")
	assertCounts(t, s, "w", 4, 0)

	// a: a step fails twice, then succeeds and the download sets LocalPath.
	if err := s.RecordAttempt("w", evs[0].ID, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt("w", evs[0].ID, 2); err != nil {
		t.Fatal(err)
	}
	items, err := s.Outbox("w")
	if err != nil {
		t.Fatal(err)
	}
	if items[0].Attempts != 2 || items[0].Step != 0 {
		t.Errorf("after two failures: step %d attempts %d, want 0, 2", items[0].Step, items[0].Attempts)
	}
	updated := evs[0]
	updated.LocalPath = "/data/in/a"
	if err := s.Advance("w", evs[0].ID, 1, updated); err != nil {
		t.Fatal(err)
	}
	// b: dead-lettered at step 2 after 5 attempts.
	if err := s.Advance("w", evs[1].ID, 2, evs[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAttempt("w", evs[1].ID, 5); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	if err := s.DeadLetter("w", evs[1].ID, "webhook: 410 Gone", at); err != nil {
		t.Fatal(err)
	}
	// c: done.
	if err := s.Done("w", evs[2].ID); err != nil {
		t.Fatal(err)
	}
	assertCounts(t, s, "w", 2, 1)

	// Everything survives a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	items, err = s.Outbox("w")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || items[0].Event.ID != evs[0].ID || items[1].Event.ID != evs[3].ID {
		t.Fatalf("outbox = %+v, want events %s and %s in order", items, evs[0].ID, evs[3].ID)
	}
	if items[0].Step != 1 || items[0].Attempts != 0 || items[0].Event.LocalPath != "/data/in/a" {
		t.Errorf("advanced item = step %d attempts %d local %q; want 1, 0, /data/in/a",
			items[0].Step, items[0].Attempts, items[0].Event.LocalPath)
	}
	dead, err := s.DeadLetters("w")
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 {
		t.Fatalf("dead letters = %+v, want 1", dead)
	}
	d := dead[0]
	if d.Event.ID != evs[1].ID || d.Step != 2 || d.Attempts != 5 || d.Reason != "webhook: 410 Gone" || !d.At.Equal(at) {
		t.Errorf("dead letter = %+v", d)
	}
	assertCounts(t, s, "w", 2, 1)
}

func TestOutboxUnknownIDs(t *testing.T) {
	s := openT(t, t.TempDir())
	evs := commitEvents(t, s, "w", "a")
	if err := s.Done("w", evs[0].ID); err != nil {
		t.Fatal(err)
	}
	ev := testEvent(event.Create, "x")
	for _, id := range []string{
		evs[0].ID,            // already done
		"w-000000000099",     // never committed
		"w-1",                // not our format
		"w-00000000000x",     // not a number
		"other-000000000001", // other watch's prefix
		"",
	} {
		ev.ID = id
		for name, err := range map[string]error{
			"Done":          s.Done("w", id),
			"Advance":       s.Advance("w", id, 1, ev),
			"RecordAttempt": s.RecordAttempt("w", id, 1),
			"DeadLetter":    s.DeadLetter("w", id, "r", time.Now()),
		} {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s(%q) = %v, want ErrNotFound", name, id, err)
			}
		}
	}
	if err := s.Done("no-such-watch", "no-such-watch-000000000001"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Done in an unknown watch = %v, want ErrNotFound", err)
	}
	// Advance refuses an event carrying another ID.
	evs = commitEvents(t, s, "w", "b")
	other := evs[0]
	other.ID = "w-000000000001"
	if err := s.Advance("w", evs[0].ID, 1, other); err == nil {
		t.Error("Advance with a mismatched event ID succeeded")
	}
	if err := s.Advance("w", evs[0].ID, -1, evs[0]); err == nil {
		t.Error("Advance to a negative step succeeded")
	}
	items, err := s.Outbox("w")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Step != 0 {
		t.Errorf("refused Advance changed the outbox: %+v", items)
	}
}

// TestConcurrentUse runs a dispatcher-like and a poller-like writer at
// once; every event ends up done exactly once.
func TestConcurrentUse(t *testing.T) {
	s := openT(t, t.TempDir())
	const rounds, per = 10, 5
	ids := make(chan string, rounds*per)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ids)
		for r := range rounds {
			evs := make([]event.Event, per)
			for i := range evs {
				evs[i] = testEvent(event.Create, fmt.Sprintf("r%d/f%d", r, i))
			}
			got, err := s.Commit("w", Batch{Events: evs})
			if err != nil {
				t.Error(err)
				return
			}
			for _, e := range got {
				ids <- e.ID
			}
		}
	}()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				items, err := s.Outbox("w")
				if err != nil || len(items) == 0 {
					t.Errorf("Outbox: %d items, %v", len(items), err)
				}
				if err := s.RecordAttempt("w", id, 1); err != nil {
					t.Error(err)
				}
				if err := s.Done("w", id); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	assertCounts(t, s, "w", 0, 0)
}
