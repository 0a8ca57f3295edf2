package dispatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zapcore"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

func TestRetryWithBackoff(t *testing.T) {
	env := newEnv()
	store := newMemStore()
	store.add(ev("e1", "a.csv"))
	rec := &recorder{}
	flaky := &failAction{name: "flaky", rec: rec, n: 2, mk: func() error { return errBoom }}
	after := &recordAction{name: "after", rec: rec}
	opt := fastRetry(5)
	opt.Logger, opt.Metrics = env.log, env.m
	opt.Actions = []actions.Action{flaky, after}

	if s := drain(t, New(store, opt)); s != (Summary{Delivered: 1}) {
		t.Fatalf("summary = %+v, want 1 delivered", s)
	}
	if n := rec.count("flaky", "e1"); n != 3 {
		t.Errorf("flaky ran %d times, want 3 (2 failures + success)", n)
	}
	if !slices.Equal(store.attempts, []int{1, 2}) {
		t.Errorf("RecordAttempt values = %v, want [1 2]", store.attempts)
	}
	// Backoff with no jitter (Rand 0.5): 1ms then 2ms. Lower bounds only.
	ts := rec.times("flaky", "e1")
	if g := ts[1].Sub(ts[0]); g < time.Millisecond {
		t.Errorf("gap before attempt 2 = %v, want ≥ 1ms", g)
	}
	if g := ts[2].Sub(ts[1]); g < 2*time.Millisecond {
		t.Errorf("gap before attempt 3 = %v, want ≥ 2ms", g)
	}
	for _, c := range rec.all() {
		if c.Action == "after" && c.LocalPath != "" {
			t.Errorf("a failed attempt's change to the event leaked into the next step: %q", c.LocalPath)
		}
	}
	ac := env.m.ActionsTotal
	for _, tc := range []struct {
		action, result string
		want           float64
	}{
		{"flaky", "retry", 2}, {"flaky", "ok", 1}, {"flaky", "failed", 0}, {"after", "ok", 1},
	} {
		if got := testutil.ToFloat64(ac.WithLabelValues("w", tc.action, tc.result)); got != tc.want {
			t.Errorf("actions_total{%s,%s} = %v, want %v", tc.action, tc.result, got, tc.want)
		}
	}
	if n := env.histCount(t, "flaky"); n != 3 {
		t.Errorf("action_duration_seconds count for flaky = %d, want 3 (one per attempt)", n)
	}
	if got := testutil.ToFloat64(env.m.EventsPending.WithLabelValues("w")); got != 0 {
		t.Errorf("events_pending = %v, want 0", got)
	}
	if n := env.logCount(zapcore.WarnLevel, "action failed; will retry"); n != 2 {
		t.Errorf("%d warnings for failed attempts, want 2", n)
	}
}

func TestAttemptsCountPerStep(t *testing.T) {
	// Two steps each failing twice: 4 failures for the event, but never 3 for
	// one step, so max_attempts 3 does not give up.
	store := newMemStore()
	store.add(ev("e1", "a.csv"))
	rec := &recorder{}
	opt := fastRetry(3)
	opt.Actions = []actions.Action{
		&failAction{name: "s1", rec: rec, n: 2, mk: func() error { return errBoom }},
		&failAction{name: "s2", rec: rec, n: 2, mk: func() error { return errBoom }},
	}
	if s := drain(t, New(store, opt)); s != (Summary{Delivered: 1}) {
		t.Fatalf("summary = %+v, want 1 delivered", s)
	}
	if !slices.Equal(store.attempts, []int{1, 2, 1, 2}) {
		t.Errorf("RecordAttempt values = %v, want [1 2 1 2]", store.attempts)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	store := newMemStore()
	store.add(ev("e1", "a.csv"))
	rec := &recorder{}
	const hint = 150 * time.Millisecond
	opt := fastRetry(5)
	opt.Actions = []actions.Action{&failAction{name: "webhook", rec: rec, n: 1,
		mk: func() error { return &actions.RetryAfterError{Err: errBoom, After: hint} }}}
	drain(t, New(store, opt))
	ts := rec.times("webhook", "e1")
	if len(ts) != 2 {
		t.Fatalf("webhook ran %d times, want 2", len(ts))
	}
	if g := ts[1].Sub(ts[0]); g < hint {
		t.Errorf("retry came after %v, want ≥ the Retry-After hint %v", g, hint)
	}
}

func TestDeadLetterAfterMaxAttempts(t *testing.T) {
	env := newEnv()
	store := newMemStore()
	store.add(ev("e1", "a.csv"), ev("e2", "b.csv"))
	rec := &recorder{}
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	start := time.Now()
	opt := fastRetry(3)
	opt.Now = func() time.Time { return base.Add(time.Since(start)) }
	opt.Logger, opt.Metrics = env.log, env.m
	opt.Actions = []actions.Action{
		&failAction{name: "exec", rec: rec, n: 1 << 30, only: "a.csv", mk: func() error { return errBoom }},
		&recordAction{name: "after", rec: rec},
	}
	if s := drain(t, New(store, opt)); s != (Summary{Delivered: 1, DeadLettered: 1}) {
		t.Fatalf("summary = %+v, want 1 delivered 1 dead", s)
	}
	if n := rec.count("exec", "e1"); n != 3 {
		t.Errorf("exec ran %d times for e1, want 3", n)
	}
	if n := rec.count("after", "e1"); n != 0 {
		t.Errorf("step after a dead-lettered step ran %d times", n)
	}
	outbox, dead := store.snapshot()
	if len(outbox) != 0 || len(dead) != 1 {
		t.Fatalf("outbox %d dead %d, want 0 and 1", len(outbox), len(dead))
	}
	dl := dead[0]
	if dl.ID != "e1" || !strings.Contains(dl.Reason, "exec") || !strings.Contains(dl.Reason, errBoom.Error()) ||
		!strings.Contains(dl.Reason, "3 times") {
		t.Errorf("dead letter = %+v", dl)
	}
	if dl.At.Before(base) {
		t.Errorf("dead letter time %v does not come from the injected clock (base %v)", dl.At, base)
	}
	checks := map[string]float64{
		"retry":  testutil.ToFloat64(env.m.ActionsTotal.WithLabelValues("w", "exec", "retry")),
		"failed": testutil.ToFloat64(env.m.ActionsTotal.WithLabelValues("w", "exec", "failed")),
		"dead":   testutil.ToFloat64(env.m.DeadLetters.WithLabelValues("w")),
		"pend":   testutil.ToFloat64(env.m.EventsPending.WithLabelValues("w")),
	}
	want := map[string]float64{"retry": 2, "failed": 1, "dead": 1, "pend": 0}
	for k, v := range want {
		if checks[k] != v {
			t.Errorf("%s = %v, want %v", k, checks[k], v)
		}
	}
	if n := env.logCount(zapcore.ErrorLevel, "event dead-lettered"); n != 1 {
		t.Errorf("%d dead-letter errors logged, want 1", n)
	}
	if n := env.logCount(zapcore.WarnLevel, "action failed; will retry"); n != 2 {
		t.Errorf("%d retry warnings, want 2", n)
	}
}

func TestPermanentDeadLettersAtOnce(t *testing.T) {
	env := newEnv()
	store := newMemStore()
	store.add(ev("e1", "../escape.csv"))
	rec := &recorder{}
	opt := fastRetry(10)
	opt.Logger, opt.Metrics = env.log, env.m
	opt.Actions = []actions.Action{&failAction{name: "download", rec: rec, n: 1 << 30,
		mk: func() error { return actions.Permanent(errors.New("rel_path leaves dest")) }}}
	if s := drain(t, New(store, opt)); s != (Summary{DeadLettered: 1}) {
		t.Fatalf("summary = %+v", s)
	}
	if n := rec.count("download", "e1"); n != 1 {
		t.Errorf("permanent failure ran %d times, want 1", n)
	}
	if len(store.attempts) != 0 {
		t.Errorf("attempts recorded for a permanent failure: %v", store.attempts)
	}
	_, dead := store.snapshot()
	if len(dead) != 1 || !strings.Contains(dead[0].Reason, "permanently") {
		t.Errorf("dead letters = %+v", dead)
	}
	if got := testutil.ToFloat64(env.m.ActionsTotal.WithLabelValues("w", "download", "failed")); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
	if got := testutil.ToFloat64(env.m.ActionsTotal.WithLabelValues("w", "download", "retry")); got != 0 {
		t.Errorf("retry = %v, want 0", got)
	}
}

func TestRetryingPathDoesNotBlockOthers(t *testing.T) {
	store := newMemStore()
	store.add(ev("a1", "a"), ev("a2", "a"), ev("b1", "b"), ev("c1", "c"))
	rec := &recorder{}
	failing := &failAction{name: "hook", rec: rec, n: 1 << 30, only: "a", mk: func() error { return errBoom }}
	opt := Options{Watch: "w", Concurrency: 1}.withRetry(5, time.Hour, time.Hour)
	opt.Actions = []actions.Action{failing}
	r := startRun(t, New(store, opt))

	// Concurrency 1: b1 and c1 can only run if a1's hour-long wait holds no slot.
	waitFor(t, "b1 and c1 delivered", func() bool {
		o, _ := store.snapshot()
		return len(o) == 2
	})
	r.stop(t) // must not wait for a1's retry

	if n := rec.count("hook", "a2"); n != 0 {
		t.Errorf("a2 ran %d times while a1 waited for a retry on the same path", n)
	}
	if n := rec.count("hook", "a1"); n != 1 {
		t.Errorf("a1 ran %d times, want 1", n)
	}
	outbox, _ := store.snapshot()
	if len(outbox) != 2 || outbox[0].Event.ID != "a1" || outbox[0].Attempts != 1 || outbox[1].Event.ID != "a2" {
		t.Fatalf("outbox after shutdown = %+v, want a1 (1 attempt), a2", outbox)
	}

	// Next start resumes: a1 then a2, in order.
	rec2 := &recorder{}
	opt2 := fastRetry(5)
	opt2.Actions = []actions.Action{&recordAction{name: "hook", rec: rec2}}
	if s := drain(t, New(store, opt2)); s != (Summary{Delivered: 2}) {
		t.Fatalf("summary = %+v", s)
	}
	var ids []string
	for _, c := range rec2.all() {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []string{"a1", "a2"}) {
		t.Errorf("after restart ran %v, want [a1 a2]", ids)
	}
}

func TestStoreErrorsNeverLoseEvents(t *testing.T) {
	store := newMemStore()
	for i := range 5 {
		store.add(ev(fmt.Sprintf("e%d", i), fmt.Sprintf("p%d", i)))
	}
	store.add(ev("perm", "perm.csv"), ev("flaky", "flaky.csv"))
	for op, n := range map[string]int{"outbox": 2, "advance": 2, "done": 2, "dead": 2, "attempt": 1, "counts": 1} {
		store.failNext(op, n)
	}
	env := newEnv()
	rec := &recorder{}
	opt := fastRetry(5)
	opt.Logger, opt.Metrics = env.log, env.m
	opt.Actions = []actions.Action{
		&recordAction{name: "s0", rec: rec},
		&failAction{name: "s1", rec: rec, n: 1 << 30, only: "perm.csv",
			mk: func() error { return actions.Permanent(errors.New("refused")) }},
		&failAction{name: "s2", rec: rec, n: 1, only: "flaky.csv", mk: func() error { return errBoom }},
	}
	if s := drain(t, New(store, opt)); s != (Summary{Delivered: 6, DeadLettered: 1}) {
		t.Fatalf("summary = %+v, want 6 delivered 1 dead", s)
	}
	outbox, dead := store.snapshot()
	if len(outbox) != 0 || len(dead) != 1 || dead[0].ID != "perm" {
		t.Fatalf("outbox %+v dead %+v", outbox, dead)
	}
	// A failed store write is repeated, not the step before it.
	for i := range 5 {
		id := fmt.Sprintf("e%d", i)
		for _, a := range []string{"s0", "s1", "s2"} {
			if n := rec.count(a, id); n != 1 {
				t.Errorf("%s ran %d times for %s, want exactly 1", a, n, id)
			}
		}
	}
	if n := rec.count("s1", "perm"); n != 1 {
		t.Errorf("permanent step ran %d times, want 1 (the dead-letter write is what is retried)", n)
	}
	if n := rec.count("s2", "flaky"); n != 2 {
		t.Errorf("flaky step ran %d times, want 2", n)
	}
	if n := env.logCount(zapcore.WarnLevel, "store write failed; will retry"); n != 6 {
		t.Errorf("%d store-write warnings, want 6 (2 advance, 2 done, 2 dead letter)", n)
	}
	if n := env.logCount(zapcore.WarnLevel, "read outbox failed; will retry"); n != 2 {
		t.Errorf("%d outbox-read warnings, want 2", n)
	}
}

func TestAmbiguousDoneIsResolvedByRereading(t *testing.T) {
	// Done is written but reports an error; retrying it fails for good (the
	// event is gone). The re-read of the outbox shows it is finished.
	store := newMemStore()
	store.add(ev("e1", "a"), ev("e2", "a"))
	store.lieNext("done", 1)
	rec := &recorder{}
	opt := fastRetry(3)
	opt.PollInterval = time.Hour // no help from the safety net
	opt.Actions = []actions.Action{&recordAction{name: "log", rec: rec}}
	if s := drain(t, New(store, opt)); s != (Summary{Delivered: 2}) {
		t.Fatalf("summary = %+v, want 2 delivered", s)
	}
	if n := rec.count("log", "e1"); n != 1 {
		t.Errorf("e1 ran %d times, want 1", n)
	}
	if n := rec.count("log", "e2"); n != 1 {
		t.Errorf("e2 ran %d times, want 1 (after e1's path was released)", n)
	}
}

// panicAction panics on its first run of each event.
type panicAction struct {
	rec  *recorder
	seen sync.Map
}

func (a *panicAction) Type() string            { return "buggy" }
func (a *panicAction) Handles(event.Type) bool { return true }
func (a *panicAction) Run(ctx context.Context, ev *event.Event) error {
	a.rec.add(call{Action: "buggy", ID: ev.ID})
	if _, again := a.seen.LoadOrStore(ev.ID, true); !again {
		panic("nil map write in a buggy action")
	}
	return nil
}

func TestPanickingActionIsAFailedAttempt(t *testing.T) {
	env := newEnv()
	store := newMemStore()
	store.add(ev("e1", "a"))
	rec := &recorder{}
	opt := fastRetry(3)
	opt.Logger = env.log
	opt.Actions = []actions.Action{&panicAction{rec: rec}}
	if s := drain(t, New(store, opt)); s != (Summary{Delivered: 1}) {
		t.Fatalf("summary = %+v", s)
	}
	if n := rec.count("buggy", "e1"); n != 2 {
		t.Errorf("ran %d times, want 2 (panic, then retry)", n)
	}
	warns := env.logs.FilterMessage("action failed; will retry").All()
	if len(warns) != 1 || !strings.Contains(fmt.Sprint(warns[0].ContextMap()["error"]), "panicked") {
		t.Errorf("warnings = %+v", warns)
	}
}
