package dispatch

import (
	"context"
	"fmt"
	"path"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zapcore"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// supersedeAction fails the events in ids with actions.ErrSuperseded (as a
// download that finds the remote file replaced does) and records the rest.
type supersedeAction struct {
	rec *recorder
	ids map[string]bool
}

func (a *supersedeAction) Type() string            { return "download" }
func (a *supersedeAction) Handles(event.Type) bool { return true }
func (a *supersedeAction) Run(_ context.Context, ev *event.Event) error {
	a.rec.add(call{Action: "download", ID: ev.ID, RelPath: ev.RelPath})
	if a.ids[ev.ID] {
		ev.LocalPath = "garbage from a superseded attempt"
		return fmt.Errorf("download %q: %w: the remote file is gone", ev.Path, actions.ErrSuperseded)
	}
	ev.LocalPath = "/data/" + ev.RelPath
	return nil
}

func TestSupersededIsNeitherFailureNorDeadLetter(t *testing.T) {
	store := newMemStore()
	store.add(ev("e1", "in/a.csv"), ev("e2", "in/a.csv"), ev("e3", "in/b.csv"))
	env := newEnv()
	rec := &recorder{}
	opt := fastRetry(3)
	opt.Metrics, opt.Logger = env.m, env.log
	opt.Actions = []actions.Action{
		&supersedeAction{rec: rec, ids: map[string]bool{"e1": true}},
		&recordAction{name: "webhook", rec: rec},
	}
	sum := drain(t, New(store, opt))

	if sum.Superseded != 1 || sum.Delivered != 2 || sum.DeadLettered != 0 {
		t.Fatalf("summary %+v, want 1 superseded, 2 delivered, 0 dead letters", sum)
	}
	outbox, dead := store.snapshot()
	if len(outbox) != 0 || len(dead) != 0 {
		t.Fatalf("outbox %v, dead letters %v: want both empty", outbox, dead)
	}
	if n := rec.count("webhook", "e1"); n != 0 {
		t.Fatalf("the superseded event's remaining step ran %d times", n)
	}
	if rec.count("webhook", "e2") != 1 || rec.count("webhook", "e3") != 1 {
		t.Fatalf("later events not delivered: %+v", rec.all())
	}
	if n := rec.count("download", "e1"); n != 1 {
		t.Fatalf("the superseded step ran %d times, want once (no retry)", n)
	}
	for res, want := range map[string]float64{resultSuperseded: 1, resultFailed: 0, resultRetry: 0, resultOK: 2} {
		if got := testutil.ToFloat64(env.m.ActionsTotal.WithLabelValues("w", "download", res)); got != want {
			t.Errorf("actions_total{action=download,result=%s} = %v, want %v", res, got, want)
		}
	}
	if got := testutil.ToFloat64(env.m.DeadLetters.WithLabelValues("w")); got != 0 {
		t.Fatalf("dead_letters = %v", got)
	}
	if n := env.logCount(zapcore.InfoLevel, "event superseded by a later change; remaining steps skipped"); n != 1 {
		t.Fatalf("%d superseded log lines, want 1", n)
	}
}

// A superseded event whose Done fails is removed on the retry of the write,
// still without running its remaining steps.
func TestSupersededDoneRetriedAfterStoreFailure(t *testing.T) {
	store := newMemStore()
	store.add(ev("e1", "a.csv"))
	store.failNext("done", 1)
	rec := &recorder{}
	opt := fastRetry(3)
	opt.Actions = []actions.Action{
		&supersedeAction{rec: rec, ids: map[string]bool{"e1": true}},
		&recordAction{name: "webhook", rec: rec},
	}
	sum := drain(t, New(store, opt))
	outbox, dead := store.snapshot()
	if len(outbox) != 0 || len(dead) != 0 || sum.DeadLettered != 0 {
		t.Fatalf("outbox %v, dead %v, summary %+v", outbox, dead, sum)
	}
	if rec.count("webhook", "") != 0 || rec.count("download", "e1") != 1 {
		t.Fatalf("calls %+v: want the download once and no webhook", rec.all())
	}
}

// baseOrderer orders events by the base name of their rel_path, as download
// with flatten does (both a/x.csv and b/x.csv write dest/x.csv).
type baseOrderer struct{ *gateAction }

func (o baseOrderer) OrderKeys(ev *event.Event) []string {
	return []string{"base\x00" + path.Base(ev.RelPath)}
}

func TestOrdererKeysSerializeSharedTarget(t *testing.T) {
	store := newMemStore()
	store.add(ev("a", "a/x.csv"), ev("b", "b/x.csv"), ev("c", "c/y.csv"))
	rec := &recorder{}
	gate := newGate("download", rec)
	gate.perID = map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{}), "c": make(chan struct{})}
	opt := fastRetry(3)
	opt.Concurrency = 4
	opt.Actions = []actions.Action{baseOrderer{gate}}
	d := New(store, opt)
	r := startRun(t, d)

	// a and c start; b, which shares a's local name, waits although slots
	// are free. c is later in commit order than b: a pass that started c
	// looked at b first and held it back.
	first := []string{recv(t, "first start", gate.started), recv(t, "second start", gate.started)}
	slices.Sort(first)
	if !slices.Equal(first, []string{"a", "c"}) {
		t.Fatalf("started %v, want a and c (b waits for a)", first)
	}
	select {
	case id := <-gate.started:
		t.Fatalf("%s started while a, which shares its target, runs", id)
	default:
	}
	close(gate.perID["a"])
	if id := recv(t, "b to start after a", gate.started); id != "b" {
		t.Fatalf("started %s, want b", id)
	}
	close(gate.perID["b"])
	close(gate.perID["c"])
	waitFor(t, "outbox empty", func() bool { o, _ := store.snapshot(); return len(o) == 0 })
	r.stop(t)
}

// startAction records Start calls and checks that no Run came first.
type startAction struct {
	mu            sync.Mutex
	starts, runs  int
	runsAtFirstGo int
}

func (a *startAction) Type() string            { return "download" }
func (a *startAction) Handles(event.Type) bool { return true }
func (a *startAction) Start(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.starts == 0 {
		a.runsAtFirstGo = a.runs
	}
	a.starts++
	return fmt.Errorf("sweep dest %q: permission denied", "/data")
}
func (a *startAction) Run(context.Context, *event.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.runs++
	return nil
}

func TestStarterRunsOnceBeforeTheFirstStep(t *testing.T) {
	store := newMemStore()
	store.add(ev("e1", "a.csv"))
	env := newEnv()
	sa := &startAction{}
	opt := fastRetry(3)
	opt.Logger = env.log
	opt.Actions = []actions.Action{sa}
	d := New(store, opt)
	if sum := drain(t, d); sum.Delivered != 1 {
		t.Fatalf("summary %+v: a failing Start must not stop delivery", sum)
	}
	store.add(ev("e2", "b.csv"))
	if sum := drain(t, d); sum.Delivered != 1 {
		t.Fatalf("second drain: %+v", sum)
	}
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if sa.starts != 1 || sa.runsAtFirstGo != 0 || sa.runs != 2 {
		t.Fatalf("starts %d (runs before it %d), runs %d: want Start once, before any Run", sa.starts, sa.runsAtFirstGo, sa.runs)
	}
	if n := env.logCount(zapcore.WarnLevel, "action start failed; delivering anyway"); n != 1 {
		t.Fatalf("%d start-failure log lines, want 1", n)
	}
}
