package poller

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
	"github.com/sftpwatchd/sftpwatchd/internal/snapshot"
)

// Options configure a Poller.
type Options struct {
	Watch   config.Watch
	Lister  Lister
	Store   Store
	Logger  *zap.Logger
	Metrics *metrics.Metrics
	// Notify is called after a commit that added events to the outbox.
	Notify func()
	// OnScan is told the result of every scan (for readiness).
	OnScan func(result string, at time.Time)
	Now    func() time.Time
}

// Poller scans one watch. ScanOnce may be called directly (`once`); Run
// calls it on the watch's interval.
type Poller struct {
	opt Options
	log *zap.Logger

	scanMu sync.Mutex // one ScanOnce at a time: overlapping scans would emit twice

	commitFailing bool // the last commit failed (under scanMu)

	// Run's rate limit of state failures in the log.
	lastStateLog time.Time
	suppressed   int

	trigger chan struct{} // ScanNow: Run scans at once

	statusMu sync.Mutex
	lastScan *ScanSummary
	nextScan time.Time

	mu          sync.Mutex // guards the in-memory copy of the stored state
	loaded      bool
	initialized bool
	emitFirst   bool // state reset --emit: the first scan emits creates
	snap        *snapshot.Tree
	pending     map[string]diff.Pending
	self        map[string]bool
	selfDone    map[string]time.Time // self-removals confirmed done, and when
	basePending map[string]bool      // dirs a baseline could not list (stored)
	meta        metaChange           // for the next commit (set by load)
}

// metaChange is what the next commit stores besides a scan's own changes;
// load sets it, a successful commit clears it.
type metaChange struct {
	filter, origin string        // to store; "" when the stored one is current
	change         *filterChange // the coverage changed since the last commit
}

// New creates a poller; state is loaded lazily on the first scan.
func New(opt Options) *Poller {
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Poller{opt: opt, log: opt.Logger.With(zap.String("watch", opt.Watch.Name)),
		trigger: make(chan struct{}, 1)}
}

// MarkSelfRemoved tells the poller that the daemon itself moved or deleted
// rel (already persisted in the store), so that its disappearance is no
// delete event.
func (p *Poller) MarkSelfRemoved(rel string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.self == nil {
		p.self = map[string]bool{}
	}
	p.self[rel] = true
	delete(p.selfDone, rel)
}

// UnmarkSelfRemoved undoes MarkSelfRemoved.
func (p *Poller) UnmarkSelfRemoved(rel string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.self, rel)
	delete(p.selfDone, rel)
}

// ConfirmSelfRemoved tells the poller that the move or delete of rel that
// MarkSelfRemoved announced succeeded at at (already persisted in the
// store): rel seen by a scan that started later was uploaded again, and is
// a new file even with the same size and mtime.
func (p *Poller) ConfirmSelfRemoved(rel string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.self[rel] {
		return
	}
	if p.selfDone == nil {
		p.selfDone = map[string]time.Time{}
	}
	p.selfDone[rel] = at
}

func (p *Poller) load() error {
	if p.loaded {
		return nil
	}
	name := p.opt.Watch.Name
	l := snapshot.NewLoader()
	w, err := p.opt.Store.LoadInto(name, l)
	if err != nil {
		return fmt.Errorf("load state of watch %q: %w", name, err)
	}
	origin := p.origin()
	if w.Origin != "" && w.Origin != origin {
		// Another tree: what is stored says nothing about it.
		p.log.Info("the watch's host or path changed: it is a new watch, its snapshot is reset and its next scan is a first scan",
			zap.String("was", w.Origin), zap.String("now", origin), zap.String("initial", p.opt.Watch.Initial))
		if err := p.opt.Store.ResetSnapshot(name); err != nil {
			return err
		}
		l = snapshot.NewLoader()
		if w, err = p.opt.Store.LoadInto(name, l); err != nil {
			return fmt.Errorf("load state of watch %q: %w", name, err)
		}
	}
	p.initialized = w.Initialized
	p.emitFirst = w.EmitFirst
	p.snap = l.Tree()
	p.pending = w.Pending
	if p.pending == nil {
		p.pending = map[string]diff.Pending{}
	}
	if p.self == nil {
		p.self = map[string]bool{}
	}
	for k := range w.SelfRemoved {
		p.self[k] = true
	}
	if p.selfDone == nil {
		p.selfDone = map[string]time.Time{}
	}
	maps.Copy(p.selfDone, w.SelfRemovedDone)
	p.basePending = make(map[string]bool, len(w.BaselinePending))
	for _, d := range w.BaselinePending {
		p.basePending[d] = true
	}
	p.meta = metaChange{}
	if w.Origin != origin {
		p.meta.origin = origin
	}
	// A state written before the filter was stored was produced by the
	// filter in use in practice: it is recorded, and nothing is dropped.
	if cur := coverageOf(p.opt.Watch).encode(); w.Filter != cur {
		p.meta.filter = cur
		if w.Filter != "" && w.Initialized {
			if p.meta.change, err = p.changeFilter(w.Filter); err != nil {
				return fmt.Errorf("load state of watch %q: %w", name, err)
			}
		}
	}
	p.loaded = true
	p.opt.Metrics.SetSnapshotSize(name, p.snap.Len(), p.snap.Bytes())
	return nil
}

// origin names the watch's remote tree in the state.
func (p *Poller) origin() string { return p.opt.Watch.Host + ":" + p.opt.Watch.Path }

// Outcome is what one scan did.
type Outcome struct {
	Result    string        // ok | partial | error
	Events    []event.Event // committed (or, in a dry run, would-be) events
	DirErrors []DirError
	Err       error // set when Result is error

	// What the scan left, for a closing summary (`once`): whether it was a
	// silent baseline, the entries it saw after filtering, and the entries
	// still settling with the earliest time one of them is due.
	Baseline  bool
	Entries   int
	Settling  int
	SettleDue time.Time
}

// ScanOnce scans the watch once. With dryRun it computes the events but
// commits nothing. A scan error is reported in Outcome (Result "error"); the
// returned error is for failures to load or commit state.
func (p *Poller) ScanOnce(ctx context.Context, dryRun bool) (Outcome, error) {
	return p.scanAt(ctx, dryRun, p.opt.Now())
}

// scanAt is ScanOnce for a scan that started at start. Settle and min_age
// are judged at start, not at the end of the walk: Run schedules scans from
// their starts, so a file first seen by one scan is settled exactly when a
// later scan starts settle after it, and never waits an extra interval
// because the walk took a moment.
func (p *Poller) scanAt(ctx context.Context, dryRun bool, start time.Time) (Outcome, error) {
	p.scanMu.Lock()
	defer p.scanMu.Unlock()
	w := p.opt.Watch
	p.mu.Lock()
	err := p.load()
	p.mu.Unlock()
	if err != nil {
		p.finish(ResultError, start, -1, err)
		return Outcome{Result: ResultError, Err: err}, err
	}
	// p.snap only changes in ScanOnce (under scanMu), so the walk may read
	// it without p.mu.
	baseline := !p.initialized && w.Initial != "emit" && !p.emitFirst
	d, so, err := scanDelta(ctx, p.opt.Lister, w, p.snap, baseline && !dryRun)
	if err != nil {
		if ctx.Err() != nil {
			return Outcome{}, ctx.Err()
		}
		p.finish(ResultError, start, -1, err)
		p.log.Warn("scan failed", zap.Error(err))
		return Outcome{Result: ResultError, Err: err}, nil
	}
	if len(so.dirErrors) > 0 {
		p.log.Warn("scan partial: directories could not be listed; their entries keep their stored state",
			zap.Int("dirs", len(so.dirErrors)), zap.Error(errorsJoin(so.dirErrors, 5)))
	}
	now := start

	p.mu.Lock()
	defer p.mu.Unlock()
	prev, sc := d.finish(so.failed, p.pending, p.self)
	q := p.quiet(prev, &sc, so.failed, baseline)
	var res diff.Result
	if baseline {
		// baseline: record what is there, silently (and drop what a baseline
		// interrupted before it was committed completely left behind).
		res = diff.Result{Set: sc.Entries}
		for k := range prev {
			if _, ok := sc.Entries[k]; !ok {
				res.Removed = append(res.Removed, k)
			}
		}
		slices.Sort(res.Removed)
	} else {
		reup, self := p.reuploads(prev, sc, start)
		opt := compareOptions(w)
		opt.RequireRelease, opt.Released = d.markers != nil, d.markers
		res = diff.Compare(prev, sc, p.pending, self, now, opt)
		reuploaded(&res, reup)
		if len(q.silent) > 0 && res.Set == nil {
			res.Set = make(diff.Snapshot, len(q.silent))
		}
		maps.Copy(res.Set, q.silent)
	}
	if len(d.outOfBounds) > 0 {
		// Files that left min_size..max_size leave the state silently.
		res.Removed = append(res.Removed, d.outOfBounds...)
		slices.Sort(res.Removed)
		res.Removed = slices.Compact(res.Removed) // a re-upload may be listed already
		p.log.Debug("files outside min_size..max_size left the watch's coverage silently", zap.Int("files", len(d.outOfBounds)))
	}
	events := make([]event.Event, 0, len(res.Changes))
	for _, c := range res.Changes {
		events = append(events, p.toEvent(c, now))
	}
	if dryRun {
		out := Outcome{Result: so.result, Events: events, DirErrors: so.dirErrors, Baseline: baseline, Entries: d.entries}
		after := maps.Clone(p.pending)
		for _, k := range res.PendingRemoved {
			delete(after, k)
		}
		maps.Copy(after, res.PendingSet)
		out.Settling, out.SettleDue = settling(after, w)
		return out, nil
	}
	fc := p.meta.change
	if !res.Empty() || !p.initialized || q.changed || p.meta != (metaChange{}) {
		b := Batch{
			Set:                 res.Set,
			Removed:             res.Removed,
			PendingSet:          res.PendingSet,
			PendingRemoved:      res.PendingRemoved,
			SelfRemovedConsumed: res.SelfRemovedConsumed,
			Events:              events,
			Filter:              p.meta.filter,
			Origin:              p.meta.origin,
			BaselinePending:     q.basePending,
			SetBaselinePending:  q.changed,
		}
		// A baseline goes as a stream: the store may write a large one in
		// parts.
		if d.fresh != nil {
			d.fresh.Trim() // before the parts add to the heap
			b.Set, b.Stream = nil, d.fresh.All()
		} else if baseline {
			b.Set, b.Stream = nil, maps.All(res.Set)
		}
		if fc != nil {
			b.Removed = append(slices.Clone(b.Removed), fc.dropped...)
			b.PendingRemoved = append(slices.Clone(b.PendingRemoved), fc.droppedPending...)
		}
		committed, err := p.opt.Store.Commit(w.Name, b)
		if err != nil {
			if baseline {
				p.loaded = false // parts may be stored: reload before the next baseline
			}
			return p.commitFailed(start, err)
		}
		if p.commitFailing {
			p.log.Info("state commits work again")
			p.commitFailing = false
		}
		events = committed
		if d.fresh != nil {
			p.snap = d.fresh
			p.opt.Metrics.SetSnapshotSize(w.Name, p.snap.Len(), p.snap.Bytes())
		} else {
			p.applyLocked(res)
		}
		for _, k := range res.SelfRemovedConsumed {
			delete(p.self, k)
			delete(p.selfDone, k)
		}
		p.initialized = true
		p.emitFirst = false
		p.meta = metaChange{}
		if q.changed {
			clear(p.basePending)
			for _, d := range q.basePending {
				p.basePending[d] = true
			}
		}
		if fc != nil {
			p.log.Info("filter changed: entries it no longer covers left the state silently, entries it newly covers were taken as a first scan takes them",
				zap.Int("dropped", len(fc.dropped)), zap.Int("added", q.added), zap.String("initial", w.Initial))
		}
	}
	var partial error
	if len(so.dirErrors) > 0 {
		partial = fmt.Errorf("%d directories could not be listed: %w", len(so.dirErrors), errorsJoin(so.dirErrors, 3))
	}
	p.finish(so.result, start, p.snap.Len(), partial)
	p.log.Debug("scan finished", zap.String("result", so.result), zap.Int("entries", d.entries),
		zap.Int("events", len(events)), zap.Duration("took", p.opt.Now().Sub(start)))
	for _, e := range events {
		p.opt.Metrics.EventsCommitted(w.Name, string(e.Type), 1, now)
	}
	if len(events) > 0 && p.opt.Notify != nil {
		p.opt.Notify()
	}
	out := Outcome{Result: so.result, Events: events, DirErrors: so.dirErrors, Baseline: baseline, Entries: d.entries}
	out.Settling, out.SettleDue = settling(p.pending, w)
	return out, nil
}

// settling counts the pending entries and finds the earliest time one of
// them can be reported: settle after it was first seen with its current
// attributes, and min_age after its mtime, whichever is later.
func settling(pending map[string]diff.Pending, w config.Watch) (int, time.Time) {
	var due time.Time
	for _, pe := range pending {
		t := time.Unix(0, pe.Since).Add(w.Settle)
		if w.MinAge > 0 {
			t = later(t, time.Unix(pe.Entry.MTime, 0).Add(w.MinAge))
		}
		if due.IsZero() || t.Before(due) {
			due = t
		}
	}
	return len(pending), due
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// reuploads finds the paths the daemon moved or deleted (confirmed before
// the scan started) that the scan sees again: they were uploaded again.
// Each leaves prev, so that Compare takes it as new (a create, after
// settle), and the self-removed set handed to Compare (returned) goes
// without them. The keys map to whether they were stored.
func (p *Poller) reuploads(prev diff.Snapshot, sc diff.Scan, start time.Time) (map[string]bool, map[string]bool) {
	var reup map[string]bool
	for k, at := range p.selfDone {
		if _, seen := sc.Entries[k]; !seen || !p.self[k] || !start.After(at) {
			continue
		}
		if reup == nil {
			reup = map[string]bool{}
		}
		_, stored := prev[k]
		reup[k] = stored
		delete(prev, k)
	}
	if reup == nil {
		return nil, p.self
	}
	self := maps.Clone(p.self)
	for k := range reup {
		delete(self, k)
	}
	return reup, self
}

// reuploaded completes res for the re-uploaded paths: their markers are
// consumed, and a stored entry that is not replaced at once (the create is
// still settling) leaves the snapshot, so that the create comes later.
func reuploaded(res *diff.Result, reup map[string]bool) {
	if len(reup) == 0 {
		return
	}
	for k, stored := range reup {
		res.SelfRemovedConsumed = append(res.SelfRemovedConsumed, k)
		if _, set := res.Set[k]; stored && !set {
			res.Removed = append(res.Removed, k)
		}
	}
	slices.Sort(res.SelfRemovedConsumed)
	slices.Sort(res.Removed)
}

// commitFailed ends a scan whose commit failed: an error scan, counted in
// commit_errors_total. Nothing of it happened: the in-memory state is
// unchanged, so the next scan finds the same changes and commits them.
func (p *Poller) commitFailed(start time.Time, err error) (Outcome, error) {
	p.commitFailing = true
	p.opt.Metrics.CommitFailed(p.opt.Watch.Name)
	p.finish(ResultError, start, -1, err)
	return Outcome{Result: ResultError, Err: err}, fmt.Errorf("commit scan of watch %q: %w", p.opt.Watch.Name, err)
}

// stateErrorEvery is how often Run logs a state failure that repeats scan
// after scan (a full state disk fails every commit).
const stateErrorEvery = time.Minute

// logStateError logs a scan's state failure, at most once per
// stateErrorEvery, saying how many were not logged since.
func (p *Poller) logStateError(err error) {
	now := p.opt.Now()
	if !p.lastStateLog.IsZero() && now.Sub(p.lastStateLog) < stateErrorEvery {
		p.suppressed++
		return
	}
	p.log.Error("scan not committed: it emits nothing until a later scan commits", zap.Error(err),
		zap.Int("not_logged_since_last", p.suppressed))
	p.lastStateLog, p.suppressed = now, 0
}

func compareOptions(w config.Watch) diff.Options {
	opt := diff.Options{Settle: w.Settle, MinAge: w.MinAge, DetectRenames: w.DetectRenames}
	if len(w.Events) > 0 {
		opt.Events = make(map[event.Type]bool, len(w.Events))
		for _, t := range w.Events {
			opt.Events[event.Type(t)] = true
		}
	}
	return opt
}

func (p *Poller) toEvent(c diff.Change, now time.Time) event.Event {
	w := p.opt.Watch
	e := event.Event{
		Watch:      w.Name,
		Host:       w.Host,
		Type:       c.Type,
		Path:       path.Join(w.Path, c.RelPath),
		RelPath:    c.RelPath,
		Name:       path.Base(c.RelPath),
		EntryType:  c.Entry.Type.String(),
		Size:       c.Entry.Size,
		MTime:      time.Unix(c.Entry.MTime, 0).UTC(),
		Mode:       fmt.Sprintf("%04o", c.Entry.Mode&0o7777),
		DetectedAt: now.UTC(),
	}
	// SPEC: prev only on modify and delete (a rename keeps size and mtime).
	if c.Prev != nil && (c.Type == event.Modify || c.Type == event.Delete) {
		e.Prev = &event.Prev{Size: c.Prev.Size, MTime: time.Unix(c.Prev.MTime, 0).UTC()}
	}
	if c.Type == event.Rename {
		e.OldRelPath = c.OldRelPath
		e.OldPath = path.Join(w.Path, c.OldRelPath)
	}
	return e
}

// finish reports a finished scan (metrics, OnScan) and records it for
// Status; entries < 0 keeps the entries of the last scan.
func (p *Poller) finish(result string, start time.Time, entries int, err error) {
	end := p.opt.Now()
	p.noteScan(result, start, end, entries, err)
	p.opt.Metrics.ScanFinished(p.opt.Watch.Name, result, end.Sub(start), end)
	if p.opt.OnScan != nil {
		p.opt.OnScan(result, end)
	}
}

// applyLocked applies a committed result to the in-memory state and moves
// watch_entries and watch_bytes by what changed (an unchanged rescan never
// walks the snapshot). Called with p.mu held.
func (p *Poller) applyLocked(res diff.Result) {
	p.snap.Apply(res.Set, res.Removed)
	for _, k := range res.PendingRemoved {
		delete(p.pending, k)
	}
	maps.Copy(p.pending, res.PendingSet)
	p.opt.Metrics.SetSnapshotSize(p.opt.Watch.Name, p.snap.Len(), p.snap.Bytes())
}
