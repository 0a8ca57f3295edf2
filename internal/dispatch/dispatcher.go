package dispatch

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
)

// ErrRunning is returned by Run and Drain when the dispatcher is already
// delivering (one Run or Drain at a time per Dispatcher).
var ErrRunning = errors.New("dispatcher already running")

// defaultPollInterval is how often Run re-reads the outbox without a Notify.
const defaultPollInterval = 5 * time.Second

// Options configure a Dispatcher. Zero values take the documented defaults.
type Options struct {
	Watch string
	// Actions is the watch's chain, run in order for every event. The
	// dispatcher does not close them; it calls Start of those implementing
	// actions.Starter once, before its first step, and orders events by
	// the keys of those implementing actions.Orderer as well as by path.
	Actions []actions.Action
	// Concurrency bounds the steps of this watch running at once (default 4).
	// An event waiting for a retry does not hold a slot.
	Concurrency int
	// Retry is the policy for failing steps. Zero fields default to
	// max_attempts 10, initial_backoff 1s, max_backoff 5m.
	Retry   config.Retry
	Logger  *zap.Logger      // nil = zap.NewNop()
	Metrics *metrics.Metrics // may be nil
	// Now gives the time for retry deadlines and dead-letter timestamps
	// (nil = time.Now). Waits use real timers for the difference.
	Now func() time.Time
	// Rand is the jitter source, values in [0,1) (nil = math/rand/v2). It is
	// called under a lock, so it need not be safe for concurrent use.
	Rand func() float64
	// PollInterval is how often Run re-reads the outbox as a safety net for a
	// missed Notify (default 5s).
	PollInterval time.Duration
	// OnDeadLetter, when set, runs when an event gives up (after its last
	// attempt or a permanent failure), before the dead letter is stored:
	// on_dead_letter's move of the remote file. Its note (what it did, ""
	// for nothing) and its error are appended to the dead letter's reason;
	// an error never keeps the event from being dead-lettered.
	OnDeadLetter func(ctx context.Context, ev *event.Event) (note string, err error)
}

// Summary counts what a Drain finished.
type Summary struct {
	Delivered    int // events whose chain completed (Store.Done)
	Superseded   int // events a later change overtook (Store.Done; see actions.ErrSuperseded)
	DeadLettered int // events given up (Store.DeadLetter)
}

// Dispatcher delivers one watch's outbox. Create it with New.
type Dispatcher struct {
	store  Store
	opt    Options
	log    *zap.Logger
	notify chan struct{}
	active atomic.Bool
	starts sync.Once // the chain's actions.Starters

	randMu sync.Mutex

	retryMu sync.Mutex
	retries map[string]Retry // event id → its wait for the next attempt
}

// Retry is an event of the outbox waiting for its next attempt.
type Retry struct {
	NextAttempt time.Time
	LastError   string
}

// Retries returns the events waiting for a retry, by event id: what only
// the running dispatcher knows (the store keeps the attempt count).
func (d *Dispatcher) Retries() map[string]Retry {
	d.retryMu.Lock()
	defer d.retryMu.Unlock()
	out := make(map[string]Retry, len(d.retries))
	for id, r := range d.retries {
		out[id] = r
	}
	return out
}

// noteRetry keeps Retries up to date with the result of a delivery.
func (d *Dispatcher) noteRetry(r result) {
	d.retryMu.Lock()
	defer d.retryMu.Unlock()
	switch {
	case r.outcome == outPark && r.lastErr != "":
		if d.retries == nil {
			d.retries = map[string]Retry{}
		}
		d.retries[r.id] = Retry{NextAttempt: r.until, LastError: r.lastErr}
	case r.outcome == outDone || r.outcome == outSuperseded || r.outcome == outDead:
		delete(d.retries, r.id)
	}
}

// New returns a Dispatcher for opt.Watch over store.
func New(store Store, opt Options) *Dispatcher {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	opt.Retry = withDefaults(opt.Retry)
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Rand == nil {
		opt.Rand = rand.Float64
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = defaultPollInterval
	}
	opt.Actions = append([]actions.Action(nil), opt.Actions...)
	return &Dispatcher{
		store:  store,
		opt:    opt,
		log:    opt.Logger.With(zap.String("watch", opt.Watch)),
		notify: make(chan struct{}, 1),
	}
}

// Notify tells the dispatcher that new events were committed. It never
// blocks; notifications arriving before the dispatcher looks coalesce into one
// re-read of the outbox.
func (d *Dispatcher) Notify() {
	select {
	case d.notify <- struct{}{}:
	default:
	}
}

// Run delivers the outbox until ctx is done, re-reading it after Notify and
// every PollInterval. When ctx is done it starts no new step and abandons
// events waiting for a retry (they stay in the outbox with their attempt
// count), lets the steps in flight run to completion under stepCtx (cancel
// stepCtx to interrupt them, e.g. when a shutdown timeout expires), waits for
// them and returns nil. Store errors never end Run; they are logged and
// retried.
func (d *Dispatcher) Run(ctx, stepCtx context.Context) error {
	if !d.active.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer d.active.Store(false)
	l := d.newLoop(ctx, stepCtx, false)
	l.run()
	return nil
}

// Drain delivers everything in the outbox, with retries and backoff as usual,
// and returns when the outbox is empty: every event delivered or
// dead-lettered. When ctx is done first, the steps in flight are cancelled
// (ctx is also their context), Drain waits for them and returns what it
// finished with ctx's error.
func (d *Dispatcher) Drain(ctx context.Context) (Summary, error) {
	if !d.active.CompareAndSwap(false, true) {
		return Summary{}, ErrRunning
	}
	defer d.active.Store(false)
	l := d.newLoop(ctx, ctx, true)
	l.run()
	return l.summary, ctx.Err()
}

// start runs Start of the chain's actions.Starters, once per Dispatcher. A
// failing Start is logged; delivery goes on (each Start says what it could
// not do, and the action copes without it).
func (d *Dispatcher) start(ctx context.Context) {
	d.starts.Do(func() {
		for i, a := range d.opt.Actions {
			s, ok := a.(actions.Starter)
			if !ok {
				continue
			}
			if err := s.Start(ctx); err != nil {
				d.log.Warn("action start failed; delivering anyway", zap.String("action", a.Type()),
					zap.Int("step", i), zap.Error(err))
			}
		}
	})
}

func (d *Dispatcher) jitter() float64 {
	d.randMu.Lock()
	defer d.randMu.Unlock()
	return d.opt.Rand()
}
