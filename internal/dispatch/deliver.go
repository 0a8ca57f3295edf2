package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// pendingOp is a store write that failed and must be repeated before the
// event can go on; the step it records is not run again.
type pendingOp int

const (
	opNone       pendingOp = iota
	opAdvance              // Advance(item.Step, item.Event), then run item.Step
	opDone                 // Done
	opDeadLetter           // DeadLetter(reason)
)

// work is what a worker starts from: the event, its progress and maybe a
// store write to repeat first.
type work struct {
	item       Item
	pending    pendingOp
	reason     string // for opDeadLetter
	storeFails int    // consecutive failed store writes for this event
}

type outcome int

const (
	outDone       outcome = iota // Store.Done written
	outSuperseded                // Store.Done written, chain cut short (actions.ErrSuperseded)
	outDead                      // Store.DeadLetter written
	outPark                      // wait until `until`, then go on from work
	outAbandoned                 // shutdown: left in the outbox as the store has it
)

type result struct {
	id      string
	outcome outcome
	work    work
	until   time.Time
	lastErr string // outPark after a failed attempt: its error
}

// deliver runs one event's remaining steps until it is done, dead-lettered,
// must wait for a retry, or shutdown stops it. It runs on a worker goroutine
// and touches no loop state.
func (d *Dispatcher) deliver(runCtx, stepCtx context.Context, w work) result {
	id := w.item.Event.ID
	log := d.log.With(zap.String("event", id), zap.String("rel_path", w.item.Event.RelPath))

	if w.pending != opNone {
		if err := d.applyPending(w); err != nil {
			return d.storeFailed(log, w, err)
		}
		switch w.pending {
		case opDone:
			return result{id: id, outcome: outDone}
		case opDeadLetter:
			return result{id: id, outcome: outDead}
		}
		w.pending, w.storeFails = opNone, 0
	}

	ev := w.item.Event
	attempts := w.item.Attempts
	for step := d.nextHandled(w.item.Step, ev.Type); ; {
		if step >= len(d.opt.Actions) {
			if err := d.store.Done(d.opt.Watch, id); err != nil {
				return d.storeFailed(log, work{item: Item{Event: ev, Step: step}, pending: opDone}, err)
			}
			return result{id: id, outcome: outDone}
		}
		if runCtx.Err() != nil {
			return result{id: id, outcome: outAbandoned} // shutdown: start no new step
		}

		a := d.opt.Actions[step]
		out := ev // the action works on a copy: a failed attempt leaves no trace
		began := time.Now()
		err := runStep(stepCtx, a, &out)
		d.observe(a.Type(), time.Since(began))

		if err == nil {
			d.count(a.Type(), resultOK)
			ev, attempts = out, 0
			next := d.nextHandled(step+1, ev.Type)
			if next < len(d.opt.Actions) {
				if err := d.store.Advance(d.opt.Watch, id, next, ev); err != nil {
					return d.storeFailed(log, work{item: Item{Event: ev, Step: next}, pending: opAdvance}, err)
				}
			}
			step = next
			continue
		}

		alog := log.With(zap.String("action", a.Type()), zap.Int("step", step))
		if stepCtx.Err() != nil {
			// Interrupted by shutdown, not the action's fault: no attempt counted.
			alog.Warn("step interrupted by shutdown; stays in the outbox", zap.Error(err))
			return result{id: id, outcome: outAbandoned}
		}

		if errors.Is(err, actions.ErrSuperseded) {
			// A later change of the path overtook the event; its event
			// carries the news. Not a failure: the rest of the chain is
			// skipped and the event leaves the outbox.
			d.count(a.Type(), resultSuperseded)
			alog.Info("event superseded by a later change; remaining steps skipped", zap.Error(err))
			if err := d.store.Done(d.opt.Watch, id); err != nil {
				return d.storeFailed(log, work{item: Item{Event: ev, Step: step}, pending: opDone}, err)
			}
			return result{id: id, outcome: outSuperseded}
		}
		if actions.IsPermanent(err) {
			d.count(a.Type(), resultFailed)
			reason := fmt.Sprintf("action %s (step %d) failed permanently: %v", a.Type(), step, err)
			return d.deadLetter(stepCtx, alog, Item{Event: ev, Step: step, Attempts: attempts + 1}, reason)
		}

		attempts++
		if serr := d.store.RecordAttempt(d.opt.Watch, id, attempts); serr != nil {
			// Keep counting in memory; a restart may allow a few more attempts.
			alog.Warn("record attempt failed", zap.Int("attempt", attempts), zap.Error(serr))
		}
		if attempts >= d.opt.Retry.MaxAttempts {
			d.count(a.Type(), resultFailed)
			reason := fmt.Sprintf("action %s (step %d) failed %d times, last: %v", a.Type(), step, attempts, err)
			return d.deadLetter(stepCtx, alog, Item{Event: ev, Step: step, Attempts: attempts}, reason)
		}

		hint, _ := actions.RetryAfter(err)
		wait := backoff(d.opt.Retry, attempts, d.jitter(), hint)
		d.count(a.Type(), resultRetry)
		alog.Warn("action failed; will retry",
			zap.Int("attempt", attempts), zap.Int("max_attempts", d.opt.Retry.MaxAttempts),
			zap.Error(err), zap.Duration("retry_in", wait))
		return result{id: id, outcome: outPark,
			work:    work{item: Item{Event: ev, Step: step, Attempts: attempts}},
			until:   d.opt.Now().Add(wait),
			lastErr: err.Error()}
	}
}

// runStep runs one attempt of a. A panicking action fails the attempt (and is
// retried like any failure) instead of taking the daemon down.
func runStep(ctx context.Context, a actions.Action, ev *event.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("action %s panicked: %v", a.Type(), p)
		}
	}()
	return a.Run(ctx, ev)
}

func (d *Dispatcher) deadLetter(ctx context.Context, log *zap.Logger, it Item, reason string) result {
	id := it.Event.ID
	if d.opt.OnDeadLetter != nil {
		ev := it.Event // the hook works on a copy, as actions do
		note, err := d.opt.OnDeadLetter(ctx, &ev)
		switch {
		case err != nil:
			// Never lose the letter: it is stored all the same, saying why
			// the file is still where it was.
			log.Error("on_dead_letter failed; the event is dead-lettered all the same", zap.Error(err))
			reason += "; on_dead_letter failed: " + err.Error()
		case note != "":
			reason += "; " + note
		}
	}
	log.Error("event dead-lettered", zap.Int("attempts", it.Attempts), zap.String("reason", reason))
	if err := d.store.DeadLetter(d.opt.Watch, id, reason, d.opt.Now()); err != nil {
		return d.storeFailed(log, work{item: it, pending: opDeadLetter, reason: reason}, err)
	}
	return result{id: id, outcome: outDead}
}

func (d *Dispatcher) applyPending(w work) error {
	id := w.item.Event.ID
	switch w.pending {
	case opAdvance:
		return d.store.Advance(d.opt.Watch, id, w.item.Step, w.item.Event)
	case opDone:
		return d.store.Done(d.opt.Watch, id)
	case opDeadLetter:
		return d.store.DeadLetter(d.opt.Watch, id, w.reason, d.opt.Now())
	}
	return nil
}

// storeFailed parks an event whose store write failed; the write is repeated
// first when it resumes. The event stays in the outbox meanwhile.
func (d *Dispatcher) storeFailed(log *zap.Logger, w work, err error) result {
	w.storeFails++
	wait := storeBackoff(d.opt.Retry, w.storeFails)
	log.Warn("store write failed; will retry", zap.String("op", w.pending.String()),
		zap.Int("failures", w.storeFails), zap.Error(err), zap.Duration("retry_in", wait))
	return result{id: w.item.Event.ID, outcome: outPark, work: w, until: d.opt.Now().Add(wait)}
}

// nextHandled returns the index of the first action at or after step that
// handles events of type t (len(Actions) when none). Skipped actions are not
// recorded: Handles depends only on the event type, so a restart skips them
// the same way.
func (d *Dispatcher) nextHandled(step int, t event.Type) int {
	step = max(step, 0)
	for step < len(d.opt.Actions) && !d.opt.Actions[step].Handles(t) {
		step++
	}
	return step
}

func (p pendingOp) String() string {
	switch p {
	case opAdvance:
		return "advance"
	case opDone:
		return "done"
	case opDeadLetter:
		return "dead_letter"
	}
	return "none"
}
