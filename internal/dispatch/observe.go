package dispatch

import (
	"time"
)

// Values of the result label of actions_total (SPEC section 5).
const (
	resultOK     = "ok"     // the attempt succeeded
	resultRetry  = "retry"  // the attempt failed and will be retried
	resultFailed = "failed" // the attempt failed and the event was given up
	// the event was overtaken by a later change of its path
	// (actions.ErrSuperseded): not a failure, the rest of its chain is skipped
	resultSuperseded = "superseded"
)

// Nil-safe metric updates for this watch.

func (d *Dispatcher) count(action, result string) {
	if m := d.opt.Metrics; m != nil {
		m.ActionsTotal.WithLabelValues(d.opt.Watch, action, result).Inc()
	}
}

func (d *Dispatcher) observe(action string, took time.Duration) {
	if m := d.opt.Metrics; m != nil {
		m.ActionDuration.WithLabelValues(d.opt.Watch, action).Observe(took.Seconds())
	}
}

func (d *Dispatcher) setGauges(outbox, dead int) {
	if m := d.opt.Metrics; m != nil {
		m.EventsPending.WithLabelValues(d.opt.Watch).Set(float64(outbox))
		m.DeadLetters.WithLabelValues(d.opt.Watch).Set(float64(dead))
	}
}
