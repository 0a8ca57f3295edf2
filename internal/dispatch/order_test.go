package dispatch

import (
	"fmt"
	"slices"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// hostilePaths are rel_paths as a hostile server may serve them.
var hostilePaths = []string{
	"a b.csv", "line\nbreak.csv", "$(touch PWNED)", "../../etc/passwd", "日本語/ファイル.txt", "plain",
}

func TestOrderPerPathUnderConcurrency(t *testing.T) {
	store := newMemStore()
	want := map[string][]string{} // rel_path → ids in commit order
	for round := range 25 {
		for p, rel := range hostilePaths {
			id := fmt.Sprintf("e%03d-%d", round, p)
			store.add(ev(id, rel))
			want[rel] = append(want[rel], id)
		}
	}
	rec := &recorder{}
	opt := fastRetry(3)
	opt.Concurrency = 4
	opt.PollInterval = 1e6 // 1ms: hammer the re-read path while events run
	opt.Actions = []actions.Action{
		&recordAction{name: "first", rec: rec, yield: true},
		&recordAction{name: "second", rec: rec, yield: true},
	}
	d := New(store, opt)
	r := startRun(t, d)
	stopSpam := make(chan struct{})
	spamDone := make(chan struct{})
	go func() { // Notify storms must never start an event twice
		defer close(spamDone)
		for {
			select {
			case <-stopSpam:
				return
			default:
				d.Notify()
			}
		}
	}()
	waitFor(t, "outbox empty", func() bool { o, _ := store.snapshot(); return len(o) == 0 })
	close(stopSpam)
	<-spamDone
	r.stop(t)

	got := map[string]map[string][]string{"first": {}, "second": {}}
	pos := map[string]int{}
	for i, c := range rec.all() {
		got[c.Action][c.RelPath] = append(got[c.Action][c.RelPath], c.ID)
		pos[c.Action+"/"+c.ID] = i
	}
	for _, a := range []string{"first", "second"} {
		for rel, ids := range want {
			if !slices.Equal(got[a][rel], ids) {
				t.Errorf("%s on %q ran %v, want commit order %v (each once)", a, rel, got[a][rel], ids)
			}
		}
	}
	for _, ids := range want {
		for _, id := range ids {
			if pos["first/"+id] > pos["second/"+id] {
				t.Errorf("event %s: step second began before step first", id)
			}
		}
	}
}

func TestConcurrencyBound(t *testing.T) {
	for _, tc := range []struct {
		name        string
		concurrency int
		paths       int
		wantMax     int32
	}{
		{"bound 3 over 12 paths", 3, 12, 3},
		{"bound 1", 1, 5, 1},
		{"one path is serial whatever the bound", 4, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newMemStore()
			for i := range 12 {
				store.add(ev(fmt.Sprintf("e%02d", i), fmt.Sprintf("p%d", i%tc.paths)))
			}
			rec := &recorder{}
			gate := newGate("gate", rec)
			opt := fastRetry(3)
			opt.Concurrency = tc.concurrency
			opt.Actions = []actions.Action{gate}
			d := New(store, opt)
			r := startRun(t, d)
			waitFor(t, "bound reached", func() bool { return gate.inflight.Load() == tc.wantMax })
			close(gate.release)
			waitFor(t, "outbox empty", func() bool { o, _ := store.snapshot(); return len(o) == 0 })
			r.stop(t)
			if got := gate.maxInflight.Load(); got != tc.wantMax {
				t.Errorf("max in flight = %d, want %d", got, tc.wantMax)
			}
			if n := rec.count("gate", ""); n != 12 {
				t.Errorf("gate ran %d times, want 12", n)
			}
		})
	}
}

func TestRenameOrdersBothPaths(t *testing.T) {
	store := newMemStore()
	rename := ev("e2", "new.csv")
	rename.Type, rename.OldRelPath, rename.OldPath = event.Rename, "old.csv", "/up/old.csv"
	modNew := ev("e4", "new.csv")
	modNew.Type = event.Modify
	store.add(ev("e1", "old.csv"), rename, ev("e3", "other.csv"), modNew)

	rec := &recorder{}
	gate := newGate("gate", rec)
	holdE1 := make(chan struct{})
	gate.perID = map[string]chan struct{}{"e1": holdE1}
	close(gate.release) // everyone but e1 passes
	opt := fastRetry(3)
	opt.Concurrency = 4
	opt.Actions = []actions.Action{gate}
	d := New(store, opt)
	r := startRun(t, d)

	waitFor(t, "unrelated e3 delivered", func() bool { return rec.count("gate", "e3") == 1 })
	if n := rec.count("gate", "e2") + rec.count("gate", "e4"); n != 0 {
		t.Fatalf("rename or its follower started while the old path's event was in flight")
	}
	close(holdE1)
	waitFor(t, "outbox empty", func() bool { o, _ := store.snapshot(); return len(o) == 0 })
	r.stop(t)
	var order []string
	for _, c := range rec.all() {
		if c.ID != "e3" {
			order = append(order, c.ID)
		}
	}
	if !slices.Equal(order, []string{"e1", "e2", "e4"}) {
		t.Errorf("order = %v, want [e1 e2 e4]", order)
	}
}

func TestSkipsActionsThatDoNotHandleTheType(t *testing.T) {
	rec := &recorder{}
	chain := []actions.Action{
		&recordAction{name: "download", rec: rec, types: []event.Type{event.Create, event.Modify}, setLocal: true},
		&recordAction{name: "webhook", rec: rec},
		&recordAction{name: "move", rec: rec, types: []event.Type{event.Create}},
	}

	t.Run("create runs all", func(t *testing.T) {
		store := newMemStore()
		store.add(ev("c1", "x.csv"))
		opt := fastRetry(3)
		opt.Actions = chain
		if s := drain(t, New(store, opt)); s != (Summary{Delivered: 1}) {
			t.Fatalf("summary = %+v", s)
		}
		if store.callCount("advance") != 2 || store.callCount("done") != 1 {
			t.Errorf("advance %d done %d, want 2 and 1", store.callCount("advance"), store.callCount("done"))
		}
		for _, c := range rec.all() {
			if c.Action == "webhook" && c.LocalPath != "/data/x.csv" {
				t.Errorf("webhook saw LocalPath %q, want the one download set", c.LocalPath)
			}
		}
	})
	t.Run("delete skips download and move", func(t *testing.T) {
		store := newMemStore()
		del := ev("d1", "gone.csv")
		del.Type = event.Delete
		store.add(del)
		opt := fastRetry(3)
		opt.Actions = chain
		drain(t, New(store, opt))
		if rec.count("download", "d1") != 0 || rec.count("move", "d1") != 0 || rec.count("webhook", "d1") != 1 {
			t.Errorf("calls for delete: %+v", rec.all())
		}
		if n := store.callCount("advance"); n != 0 {
			t.Errorf("advance called %d times for a one-step chain, want 0 (straight to Done)", n)
		}
	})
}
