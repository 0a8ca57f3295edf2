package dispatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
)

func TestResumeFromStoredStep(t *testing.T) {
	store := newMemStore()
	store.addItem(Item{Event: ev("e1", "a.csv"), Step: 2})
	rec := &recorder{}
	opt := fastRetry(3)
	opt.Actions = []actions.Action{
		&recordAction{name: "s0", rec: rec}, &recordAction{name: "s1", rec: rec}, &recordAction{name: "s2", rec: rec},
	}
	if s := drain(t, New(store, opt)); s != (Summary{Delivered: 1}) {
		t.Fatalf("summary = %+v", s)
	}
	if rec.count("s0", "") != 0 || rec.count("s1", "") != 0 || rec.count("s2", "e1") != 1 {
		t.Errorf("calls = %+v, want only s2", rec.all())
	}
}

func TestRestartMidChainResumesAfterFinishedSteps(t *testing.T) {
	store := newMemStore()
	store.add(ev("e1", "dir with space/a.csv"))
	rec := &recorder{}
	download := &recordAction{name: "download", rec: rec, setLocal: true}
	slow := newGate("exec", rec)
	opt := fastRetry(3)
	opt.Actions = []actions.Action{download, slow, &recordAction{name: "webhook", rec: rec}}
	r := startRun(t, New(store, opt))
	recv(t, "exec to start", slow.started)
	r.cancelRun()
	r.cancelStep() // shutdown timeout expired: the step is interrupted
	recv(t, "Run to return", r.done)
	r.done <- nil

	outbox, _ := store.snapshot()
	if len(outbox) != 1 || outbox[0].Step != 1 || outbox[0].Attempts != 0 ||
		outbox[0].Event.LocalPath != "/data/dir with space/a.csv" {
		t.Fatalf("outbox after crash-like stop = %+v, want e1 at step 1 with LocalPath, 0 attempts", outbox)
	}

	// "Restart": a new dispatcher over the same store.
	slow2 := newGate("exec", rec)
	close(slow2.release)
	opt.Actions = []actions.Action{download, slow2, &recordAction{name: "webhook", rec: rec}}
	if s := drain(t, New(store, opt)); s != (Summary{Delivered: 1}) {
		t.Fatalf("summary = %+v", s)
	}
	if n := rec.count("download", "e1"); n != 1 {
		t.Errorf("download ran %d times, want 1 (finished before the restart)", n)
	}
	if n := rec.count("webhook", "e1"); n != 1 {
		t.Errorf("webhook ran %d times, want 1", n)
	}
	calls := rec.all()
	if last := calls[len(calls)-2]; last.Action != "exec" || last.LocalPath != "/data/dir with space/a.csv" {
		t.Errorf("resumed exec saw %+v, want the LocalPath stored by Advance", last)
	}
}

func TestShutdownLetsInflightStepFinish(t *testing.T) {
	for _, tc := range []struct {
		name     string
		twoSteps bool
	}{{"last step: event done", false}, {"more steps: advanced, next not started", true}} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv()
			store := newMemStore()
			store.add(ev("e1", "a.csv"), ev("e2", "b.csv"))
			rec := &recorder{}
			slow := newGate("exec", rec)
			opt := fastRetry(3)
			opt.Concurrency = 1
			opt.Metrics = env.m
			opt.Actions = []actions.Action{slow}
			if tc.twoSteps {
				opt.Actions = append(opt.Actions, &recordAction{name: "next", rec: rec})
			}
			r := startRun(t, New(store, opt))
			recv(t, "exec to start", slow.started)

			r.cancelRun() // shutdown begins; stepCtx stays alive
			select {
			case <-r.done:
				t.Fatal("Run returned while a step was in flight")
			case <-time.After(50 * time.Millisecond): // a window for a wrong early return to show
			}
			close(slow.release)
			recv(t, "Run to return", r.done)
			r.done <- nil
			if n := slow.finished.Load(); n != 1 {
				t.Fatalf("Run returned with %d finished steps, want 1", n)
			}
			if n := slow.ctxErrs.Load(); n != 0 {
				t.Errorf("step context was cancelled %d times; only the shutdown timeout may do that", n)
			}
			outbox, _ := store.snapshot()
			wantPending := 1.0
			if tc.twoSteps {
				if len(outbox) != 2 || outbox[0].Event.ID != "e1" || outbox[0].Step != 1 {
					t.Fatalf("outbox = %+v, want e1 advanced to step 1, e2", outbox)
				}
				if n := rec.count("next", ""); n != 0 {
					t.Errorf("a new step started after shutdown began")
				}
				wantPending = 2
			} else if len(outbox) != 1 || outbox[0].Event.ID != "e2" {
				t.Fatalf("outbox = %+v, want e1 done and e2 not started", outbox)
			}
			if n := rec.count("exec", "e2"); n != 0 {
				t.Errorf("e2 started after shutdown began")
			}
			if got := testutil.ToFloat64(env.m.EventsPending.WithLabelValues("w")); got != wantPending {
				t.Errorf("events_pending = %v, want %v", got, wantPending)
			}
		})
	}
}

func TestShutdownTimeoutCancelsStepAndKeepsEvent(t *testing.T) {
	env := newEnv()
	store := newMemStore()
	store.add(ev("e1", "a.csv"))
	rec := &recorder{}
	slow := newGate("exec", rec)
	opt := fastRetry(3)
	opt.Metrics = env.m
	opt.Actions = []actions.Action{slow}
	r := startRun(t, New(store, opt))
	recv(t, "exec to start", slow.started)
	r.cancelRun()
	r.cancelStep()
	recv(t, "Run to return", r.done)
	r.done <- nil

	if n := slow.ctxErrs.Load(); n != 1 {
		t.Errorf("step saw %d cancelled contexts, want 1", n)
	}
	outbox, dead := store.snapshot()
	if len(outbox) != 1 || outbox[0].Step != 0 || outbox[0].Attempts != 0 || len(dead) != 0 {
		t.Fatalf("outbox %+v dead %+v: want e1 untouched (an interrupted step is no failed attempt)", outbox, dead)
	}
	for _, res := range []string{"retry", "failed"} {
		if got := testutil.ToFloat64(env.m.ActionsTotal.WithLabelValues("w", "exec", res)); got != 0 {
			t.Errorf("actions_total{%s} = %v, want 0", res, got)
		}
	}
}

func TestDrainSummary(t *testing.T) {
	env := newEnv()
	store := newMemStore()
	store.add(ev("ok1", "ok1"), ev("perm", "perm"), ev("ok2", "ok2"), ev("bad", "bad"), ev("ok3", "ok3"))
	rec := &recorder{}
	opt := fastRetry(2)
	opt.Metrics = env.m
	opt.Actions = []actions.Action{
		&failAction{name: "a", rec: rec, n: 1 << 30, only: "perm", mk: func() error { return actions.Permanent(errBoom) }},
		&failAction{name: "b", rec: rec, n: 1 << 30, only: "bad", mk: func() error { return errBoom }},
	}
	got := drain(t, New(store, opt))
	if got != (Summary{Delivered: 3, DeadLettered: 2}) {
		t.Errorf("summary = %+v, want 3 delivered 2 dead", got)
	}
	if o, d, _ := store.Counts("w"); o != 0 || d != 2 {
		t.Errorf("counts = %d, %d, want 0, 2", o, d)
	}
	if g := testutil.ToFloat64(env.m.DeadLetters.WithLabelValues("w")); g != 2 {
		t.Errorf("dead_letters = %v, want 2", g)
	}

	t.Run("empty outbox", func(t *testing.T) {
		if s := drain(t, New(newMemStore(), opt)); s != (Summary{}) {
			t.Errorf("summary = %+v", s)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		store := newMemStore()
		store.add(ev("e1", "a"))
		slow := newGate("exec", rec)
		opt := fastRetry(2)
		opt.Actions = []actions.Action{slow}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := New(store, opt).Drain(ctx); done <- err }()
		recv(t, "exec to start", slow.started)
		cancel()
		if err := recv(t, "Drain to return", done); !errors.Is(err, context.Canceled) {
			t.Errorf("Drain err = %v, want context.Canceled", err)
		}
		if o, _ := store.snapshot(); len(o) != 1 {
			t.Errorf("outbox = %+v, want the interrupted event kept", o)
		}
	})
}

func TestNotifyCoalescesAndWakes(t *testing.T) {
	store := newMemStore()
	store.add(ev("e1", "a"))
	rec := &recorder{}
	opt := fastRetry(3)
	opt.PollInterval = time.Hour // only Notify may trigger a re-read
	opt.Actions = []actions.Action{&recordAction{name: "log", rec: rec}}
	d := New(store, opt)
	for range 1000 {
		d.Notify() // never blocks, even with nobody listening
	}
	r := startRun(t, d)
	waitFor(t, "e1 delivered", func() bool { return rec.count("log", "e1") == 1 })
	waitFor(t, "coalesced notify consumed", func() bool { return len(d.notify) == 0 })
	if n := store.callCount("outbox"); n > 2 {
		t.Errorf("1000 notifications caused %d outbox reads, want ≤ 2 (start + one coalesced)", n)
	}
	before := store.callCount("outbox")

	store.add(ev("e2", "b"))
	d.Notify()
	waitFor(t, "e2 delivered after Notify", func() bool { return rec.count("log", "e2") == 1 })
	r.stop(t)
	if n := store.callCount("outbox") - before; n != 1 {
		t.Errorf("one Notify caused %d outbox reads, want 1", n)
	}
}

func TestPollIntervalIsASafetyNet(t *testing.T) {
	store := newMemStore()
	rec := &recorder{}
	opt := fastRetry(3)
	opt.PollInterval = 5 * time.Millisecond
	opt.Actions = []actions.Action{&recordAction{name: "log", rec: rec}}
	r := startRun(t, New(store, opt))
	waitFor(t, "first read", func() bool { return store.callCount("outbox") >= 1 })
	store.add(ev("e1", "a")) // committed without Notify
	waitFor(t, "e1 delivered by the periodic re-read", func() bool { return rec.count("log", "e1") == 1 })
	r.stop(t)
}

func TestOneRunAtATime(t *testing.T) {
	d := New(newMemStore(), fastRetry(3))
	r := startRun(t, d)
	waitFor(t, "Run active", func() bool { return d.active.Load() })
	if err := d.Run(context.Background(), context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
	if _, err := d.Drain(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("Drain during Run = %v, want ErrRunning", err)
	}
	r.stop(t)
	if s := drain(t, d); s != (Summary{}) {
		t.Errorf("Drain after Run = %+v", s)
	}
}
