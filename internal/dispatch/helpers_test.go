package dispatch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
)

// ---- test actions: real implementations of actions.Action ----

// call is one Run of a test action.
type call struct {
	Action    string
	ID        string
	RelPath   string
	LocalPath string
	At        time.Time
	Err       error
}

// recorder collects calls of all actions of a test in the order they began.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) add(c call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.At = time.Now()
	r.calls = append(r.calls, c)
}

func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (r *recorder) count(action, id string) int {
	n := 0
	for _, c := range r.all() {
		if c.Action == action && (id == "" || c.ID == id) {
			n++
		}
	}
	return n
}

func (r *recorder) times(action, id string) []time.Time {
	var ts []time.Time
	for _, c := range r.all() {
		if c.Action == action && c.ID == id {
			ts = append(ts, c.At)
		}
	}
	return ts
}

// recordAction records each Run and succeeds. With setLocal it sets
// ev.LocalPath like a download would.
type recordAction struct {
	name     string
	rec      *recorder
	types    []event.Type // nil: all types
	setLocal bool
	yield    bool // runtime.Gosched inside Run to shuffle goroutines
}

var _ actions.Action = (*recordAction)(nil)

func (a *recordAction) Type() string { return a.name }
func (a *recordAction) Handles(t event.Type) bool {
	if a.types == nil {
		return true
	}
	for _, x := range a.types {
		if x == t {
			return true
		}
	}
	return false
}
func (a *recordAction) Run(ctx context.Context, ev *event.Event) error {
	a.rec.add(call{Action: a.name, ID: ev.ID, RelPath: ev.RelPath, LocalPath: ev.LocalPath})
	if a.yield {
		for range 3 {
			runtime.Gosched()
		}
	}
	if a.setLocal {
		ev.LocalPath = "/data/" + ev.RelPath
	}
	return nil
}

// failAction fails the first n runs of each event with mk(), then succeeds.
type failAction struct {
	name string
	rec  *recorder
	n    int
	mk   func() error
	only string // when set, only events with this rel_path fail

	mu   sync.Mutex
	seen map[string]int
}

var _ actions.Action = (*failAction)(nil)

func (a *failAction) Type() string            { return a.name }
func (a *failAction) Handles(event.Type) bool { return true }
func (a *failAction) Run(ctx context.Context, ev *event.Event) error {
	a.mu.Lock()
	if a.seen == nil {
		a.seen = map[string]int{}
	}
	a.seen[ev.ID]++
	k := a.seen[ev.ID]
	a.mu.Unlock()
	var err error
	if k <= a.n && (a.only == "" || a.only == ev.RelPath) {
		err = a.mk()
		ev.LocalPath = "garbage from a failed attempt" // must not survive
	}
	a.rec.add(call{Action: a.name, ID: ev.ID, RelPath: ev.RelPath, Err: err})
	return err
}

// gateAction blocks in Run until release is closed (or the event's own
// channel in perID is), or ctx is done; it tracks how many run at once.
type gateAction struct {
	name    string
	rec     *recorder
	release chan struct{}
	perID   map[string]chan struct{} // read-only after setup

	inflight, maxInflight atomic.Int32
	started               chan string // ids, buffered
	ctxErrs               atomic.Int32
	finished              atomic.Int32 // runs that returned
}

var _ actions.Action = (*gateAction)(nil)

func newGate(name string, rec *recorder) *gateAction {
	return &gateAction{name: name, rec: rec, release: make(chan struct{}), started: make(chan string, 1000)}
}

func (a *gateAction) Type() string            { return a.name }
func (a *gateAction) Handles(event.Type) bool { return true }
func (a *gateAction) Run(ctx context.Context, ev *event.Event) error {
	n := a.inflight.Add(1)
	defer a.inflight.Add(-1)
	defer a.finished.Add(1)
	for {
		m := a.maxInflight.Load()
		if n <= m || a.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	a.rec.add(call{Action: a.name, ID: ev.ID, RelPath: ev.RelPath, LocalPath: ev.LocalPath})
	a.started <- ev.ID
	gate := a.release
	if ch, ok := a.perID[ev.ID]; ok {
		gate = ch
	}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		a.ctxErrs.Add(1)
		return fmt.Errorf("gate %s: %w", ev.ID, ctx.Err())
	}
}

// ---- helpers ----

func ev(id, rel string) event.Event {
	return event.Event{ID: id, Watch: "w", Type: event.Create, RelPath: rel, Path: "/up/" + rel}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func recv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

type testEnv struct {
	reg  *prometheus.Registry
	m    *metrics.Metrics
	logs *observer.ObservedLogs
	log  *zap.Logger
}

func newEnv() *testEnv {
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zapcore.DebugLevel)
	return &testEnv{reg: reg, m: metrics.New(reg, "test"), logs: logs, log: zap.New(core)}
}

func (e *testEnv) logCount(level zapcore.Level, msg string) int {
	n := 0
	for _, l := range e.logs.FilterMessage(msg).All() {
		if l.Level == level {
			n++
		}
	}
	return n
}

// histCount is the number of observations of action_duration_seconds for action.
func (e *testEnv) histCount(t *testing.T, action string) uint64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sftpwatchd_action_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "action" && lp.GetValue() == action {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// running is a Run in the background.
type running struct {
	cancelRun, cancelStep context.CancelFunc
	done                  chan error
}

func startRun(t *testing.T, d *Dispatcher) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stepCtx, cancelStep := context.WithCancel(context.Background())
	r := &running{cancelRun: cancel, cancelStep: cancelStep, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx, stepCtx) }()
	t.Cleanup(func() {
		cancel()
		cancelStep()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancelRun()
	if err := recv(t, "Run to return", r.done); err != nil {
		t.Fatalf("Run: %v", err)
	}
	r.done <- nil // for the cleanup
}

func drain(t *testing.T, d *Dispatcher) Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := d.Drain(ctx)
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	return s
}

var errBoom = errors.New("boom: 503 from upstream")

// fastRetry is a retry policy with tiny backoffs.
func fastRetry(maxAttempts int) Options {
	return Options{Watch: "w", Rand: func() float64 { return 0.5 }}.withRetry(maxAttempts, time.Millisecond, 4*time.Millisecond)
}

func (o Options) withRetry(maxAttempts int, initial, maxB time.Duration) Options {
	o.Retry.MaxAttempts, o.Retry.InitialBackoff, o.Retry.MaxBackoff = maxAttempts, initial, maxB
	return o
}
