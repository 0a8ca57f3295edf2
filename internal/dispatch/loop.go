package dispatch

import (
	"container/heap"
	"container/list"
	"context"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// loop is the state of one Run or Drain. Everything in it except results and
// wg is owned by the goroutine executing run; workers talk to it only by
// sending one result each on results.
//
// An event is in exactly one of three places: idle (in the outbox, not
// started by this loop), running (a worker goroutine has it) or parked
// (waiting for a retry deadline, holding no concurrency slot). Running and
// parked events hold their path keys, so later events of the same paths stay
// idle behind them.
type loop struct {
	d               *Dispatcher
	runCtx, stepCtx context.Context
	drain           bool

	idle    *list.List          // of *Item, in commit order
	running map[string][]string // event id → path keys it holds
	parked  map[string]*parkedItem
	due     parkHeap          // parked, earliest deadline first
	held    map[string]string // path key → id of the event holding it

	results chan result
	wg      sync.WaitGroup

	needRefresh  bool      // the outbox must be re-read
	refreshAt    time.Time // not before this (after a failed read)
	refreshFails int
	countsDirty  bool // the gauges must be refreshed from Store.Counts

	summary Summary
}

func (d *Dispatcher) newLoop(runCtx, stepCtx context.Context, drain bool) *loop {
	return &loop{
		d:           d,
		runCtx:      runCtx,
		stepCtx:     stepCtx,
		drain:       drain,
		idle:        list.New(),
		running:     make(map[string][]string),
		parked:      make(map[string]*parkedItem),
		held:        make(map[string]string),
		results:     make(chan result, d.opt.Concurrency), // a worker never blocks on send
		needRefresh: true,
	}
}

func (l *loop) run() {
	l.d.start(l.runCtx)
	ticker := time.NewTicker(l.d.opt.PollInterval)
	defer ticker.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for l.runCtx.Err() == nil {
		refreshed := false
		if l.needRefresh && !l.d.opt.Now().Before(l.refreshAt) {
			refreshed = l.refresh()
		}
		free := l.startReady()
		if l.countsDirty {
			l.updateCounts()
		}
		if l.drain && l.idle.Len() == 0 && len(l.running) == 0 && len(l.parked) == 0 {
			if refreshed {
				return // the outbox, just read, is empty
			}
			if !l.needRefresh {
				l.needRefresh = true // looks finished: confirm against the store
				continue
			}
			// else wait for the retry of a failed read
		}

		timer.Stop()
		if wake, ok := l.nextWake(free); ok {
			timer.Reset(max(wake.Sub(l.d.opt.Now()), 0))
		}
		select {
		case <-l.runCtx.Done():
		case <-l.d.notify:
			l.needRefresh = true
		case <-ticker.C:
			l.needRefresh = true
		case r := <-l.results:
			l.handle(r)
		case <-timer.C:
		}
	}

	// Shutdown: nothing new starts; parked retries are abandoned (they stay in
	// the outbox with their attempt count); steps in flight finish under
	// stepCtx.
	l.wg.Wait()
	for len(l.results) > 0 {
		l.handle(<-l.results)
	}
	if l.countsDirty {
		l.updateCounts()
	}
}

// nextWake returns when the loop must look again without an outside event:
// a retry deadline (only when a slot is free; otherwise a finishing worker
// wakes it) or the retry of a failed outbox read.
func (l *loop) nextWake(free int) (time.Time, bool) {
	var wake time.Time
	if l.needRefresh {
		wake = l.refreshAt
	}
	if free > 0 && l.due.Len() > 0 {
		if u := l.due[0].until; wake.IsZero() || u.Before(wake) {
			wake = u
		}
	}
	return wake, !wake.IsZero()
}

// startReady starts due parked events, then idle events whose paths are free,
// while concurrency slots are free. It returns the slots still free.
func (l *loop) startReady() int {
	free := l.d.opt.Concurrency - len(l.running)
	if l.runCtx.Err() != nil || l.stepCtx.Err() != nil {
		return free // a step started now could only fail at once
	}
	now := l.d.opt.Now()
	for free > 0 && l.due.Len() > 0 && !now.Before(l.due[0].until) {
		p := heap.Pop(&l.due).(*parkedItem)
		delete(l.parked, p.w.item.Event.ID)
		l.launch(p.w, p.keys)
		free--
	}
	var blocked map[string]struct{} // keys of idle events that could not start
	for e := l.idle.Front(); e != nil && free > 0; {
		next := e.Next()
		it := e.Value.(*Item)
		id := it.Event.ID
		if _, ok := l.running[id]; ok || l.parked[id] != nil {
			l.idle.Remove(e) // a duplicate id in the outbox: never start an event twice
			e = next
			continue
		}
		keys := l.d.orderKeys(&it.Event)
		if l.isBlocked(keys, blocked) {
			if blocked == nil {
				blocked = make(map[string]struct{})
			}
			for _, k := range keys {
				blocked[k] = struct{}{}
			}
			e = next
			continue
		}
		l.idle.Remove(e)
		for _, k := range keys {
			l.held[k] = id
		}
		l.launch(work{item: *it}, keys)
		free--
		e = next
	}
	return free
}

func (l *loop) isBlocked(keys []string, blocked map[string]struct{}) bool {
	for _, k := range keys {
		if _, ok := l.held[k]; ok {
			return true
		}
		if _, ok := blocked[k]; ok {
			return true
		}
	}
	return false
}

func (l *loop) launch(w work, keys []string) {
	l.running[w.item.Event.ID] = keys
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.results <- l.d.deliver(l.runCtx, l.stepCtx, w)
	}()
}

func (l *loop) handle(r result) {
	keys := l.running[r.id]
	delete(l.running, r.id)
	l.d.noteRetry(r)
	switch r.outcome {
	case outDone:
		l.summary.Delivered++
		l.release(r.id, keys)
		l.countsDirty = true
	case outSuperseded:
		l.summary.Superseded++
		l.release(r.id, keys)
		l.countsDirty = true
	case outDead:
		l.summary.DeadLettered++
		l.release(r.id, keys)
		l.countsDirty = true
	case outPark:
		p := &parkedItem{w: r.work, until: r.until, keys: keys}
		l.parked[r.id] = p
		heap.Push(&l.due, p)
		if r.work.pending != opNone {
			// A store write failed; it may have been written all the same
			// (an ambiguous commit). The re-read tells: an event gone from the
			// outbox is dropped instead of being retried forever.
			l.needRefresh = true
		}
	case outAbandoned:
		l.release(r.id, keys)
		l.needRefresh = true
	}
}

func (l *loop) release(id string, keys []string) {
	for _, k := range keys {
		if l.held[k] == id {
			delete(l.held, k)
		}
	}
}

// refresh re-reads the outbox into idle and reports whether it could. Events
// running or parked here keep their in-memory state; parked events that left
// the outbox meanwhile are dropped.
func (l *loop) refresh() bool {
	items, err := l.d.store.Outbox(l.d.opt.Watch)
	if err != nil {
		l.refreshFails++
		wait := storeBackoff(l.d.opt.Retry, l.refreshFails)
		l.needRefresh = true
		l.refreshAt = l.d.opt.Now().Add(wait)
		l.d.log.Warn("read outbox failed; will retry", zap.Error(err), zap.Duration("retry_in", wait))
		return false
	}
	l.refreshFails = 0
	l.needRefresh = false
	l.refreshAt = time.Time{}
	l.countsDirty = true

	var present map[string]struct{}
	if len(l.parked) > 0 {
		present = make(map[string]struct{}, len(items))
	}
	l.idle.Init()
	for i := range items {
		id := items[i].Event.ID
		if present != nil {
			present[id] = struct{}{}
		}
		if _, ok := l.running[id]; ok || l.parked[id] != nil {
			continue
		}
		l.idle.PushBack(&items[i])
	}
	for id, p := range l.parked {
		if _, ok := present[id]; ok {
			continue
		}
		// Gone from the outbox: a Done or DeadLetter that reported an error
		// had in fact been written, or someone else removed the event.
		switch p.w.pending {
		case opDone:
			l.summary.Delivered++
		case opDeadLetter:
			l.summary.DeadLettered++
		}
		heap.Remove(&l.due, p.index)
		delete(l.parked, id)
		l.release(id, p.keys)
		l.d.log.Info("event left the outbox while waiting; dropped", zap.String("event", id))
	}
	return true
}

func (l *loop) updateCounts() {
	l.countsDirty = false
	if l.d.opt.Metrics == nil {
		return
	}
	outbox, dead, err := l.d.store.Counts(l.d.opt.Watch)
	if err != nil {
		l.d.log.Warn("count outbox failed", zap.Error(err))
		return
	}
	l.d.setGauges(outbox, dead)
}

// orderKeys are the keys an event orders on: its rel_path and, for a
// rename, the old one too, and the keys of the chain's actions.Orderers
// that handle it (download with flatten: the local name). Events sharing a
// key run one at a time in commit order.
func (d *Dispatcher) orderKeys(ev *event.Event) []string {
	keys := []string{ev.RelPath}
	if ev.OldRelPath != "" && ev.OldRelPath != ev.RelPath {
		keys = append(keys, ev.OldRelPath)
	}
	for _, a := range d.opt.Actions {
		if o, ok := a.(actions.Orderer); ok && a.Handles(ev.Type) {
			for _, k := range o.OrderKeys(ev) {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
	}
	return keys
}

// parkedItem is an event waiting for a retry deadline.
type parkedItem struct {
	w     work
	until time.Time
	keys  []string
	index int // in parkHeap
}

// parkHeap orders parked events by deadline (container/heap).
type parkHeap []*parkedItem

func (h parkHeap) Len() int           { return len(h) }
func (h parkHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h parkHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *parkHeap) Push(x any) {
	p := x.(*parkedItem)
	p.index = len(*h)
	*h = append(*h, p)
}
func (h *parkHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}
