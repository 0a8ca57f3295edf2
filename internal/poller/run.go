package poller

import (
	"context"
	"time"
)

// Run scans on the watch's interval until ctx is done. Scans run on the
// watch's own slots of the clock (see schedule): spread over the interval by
// the watch's name, the same after a restart or a reload. When a scan leaves
// entries settling that become due before the next slot, one more scan runs
// when they are due, so a new file is delivered settle after it was first
// seen rather than a whole interval later. ScanNow runs a scan at once.
// Neither a follow-up nor a manual scan moves the slots.
func (p *Poller) Run(ctx context.Context) {
	sched := newSchedule(p.opt.Watch.Name, p.opt.Watch.Interval)
	slot := sched.first(p.opt.Now())
	var due time.Time // when settling entries become due; zero: none before slot
	for {
		wake := slot
		if !due.IsZero() && due.Before(wake) {
			wake = due
		}
		p.statusMu.Lock()
		p.nextScan = wake
		p.statusMu.Unlock()
		if wait := wake.Sub(p.opt.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-p.trigger:
				t.Stop()
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		start := p.opt.Now()
		if _, err := p.scanAt(ctx, false, start); err != nil && ctx.Err() == nil {
			p.logStateError(err)
		}
		if !start.Before(slot) {
			slot = sched.after(start)
		}
		due = p.settleDue(start)
	}
}

// minFollowUp is the shortest gap between a scan and a follow-up scan for
// entries that become due: a file rewritten all the time with a tiny settle
// costs at most one extra scan a second.
const minFollowUp = time.Second

// settleDue is when the earliest entry left settling by the scan that
// started at start becomes due (settle after it was first seen, min_age
// after its mtime), at least minFollowUp after start; zero when none becomes
// due after start (an entry already due but held back, by a marker or an
// mtime in the future, waits for the slots).
func (p *Poller) settleDue(start time.Time) time.Time {
	w := p.opt.Watch
	p.mu.Lock()
	defer p.mu.Unlock()
	var due time.Time
	for _, pe := range p.pending {
		at := time.Unix(0, pe.Since).Add(w.Settle)
		if w.MinAge > 0 {
			if old := time.Unix(pe.Entry.MTime, 0).Add(w.MinAge); old.After(at) {
				at = old
			}
		}
		if !at.After(start) {
			continue
		}
		if due.IsZero() || at.Before(due) {
			due = at
		}
	}
	if !due.IsZero() && due.Before(start.Add(minFollowUp)) {
		due = start.Add(minFollowUp)
	}
	return due
}
