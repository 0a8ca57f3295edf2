package daemon

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// OnceResult sums up a `once` run.
type OnceResult struct {
	ScanErrors   int // watches whose scan failed
	Partial      int // watches whose scan was partial
	Events       int // events emitted (or, in a dry run, that would be)
	Delivered    int
	Superseded   int // events a later change overtook (not failures)
	DeadLettered int
	Watches      []WatchSummary // one per watch, in the order scanned
}

// WatchSummary is what `once` did for one watch.
type WatchSummary struct {
	Watch      string
	Result     string // scan result: ok | partial | error
	Err        error  // why the scan failed (Result error)
	Baseline   bool   // the scan recorded a silent baseline
	Entries    int    // entries the scan saw after filtering
	Events     int    // events the scan emitted (or would, in a dry run)
	Delivered  int    // events delivered (new ones and ones left from earlier runs)
	Failed     int    // events that went to the dead-letter store
	Superseded int
	Settling   int       // entries still settling
	SettleDue  time.Time // when the first of them is due
	DryRun     bool
}

// Failed reports whether anything went wrong (exit 1).
func (r OnceResult) Failed() bool { return r.ScanErrors > 0 || r.DeadLettered > 0 }

// Once scans each watch once and delivers what is in its outbox (the new
// events and any left from earlier runs). With dryRun it only reports the
// events a scan would emit (through emit) and changes nothing. Events are
// passed to emit as they are committed (or computed, in a dry run).
// progress, when not nil, is told what is happening (for a terminal).
func Once(ctx context.Context, cfg *config.Config, watches []config.Watch, dryRun bool, d Deps, emit func(event.Event), progress func(string)) (OnceResult, error) {
	if progress == nil {
		progress = func(string) {}
	}
	var res OnceResult
	pools := map[string]*sftpconn.Pool{}
	defer func() {
		for _, p := range pools {
			_ = p.Close()
		}
	}()
	for _, w := range watches {
		h := cfg.HostFor(&w)
		pool, ok := pools[h.Name]
		if !ok {
			pool = sftpconn.NewPool(HostConfig(h), d.Logger.With(zap.String("host", h.Name)), d.Metrics)
			pools[h.Name] = pool
		}
		wt, err := buildWatch(w, h, pool, d)
		if err != nil {
			return res, err
		}
		progress(fmt.Sprintf("%s: scanning %s:%s", w.Name, w.Host, w.Path))
		out, err := wt.poller.ScanOnce(ctx, dryRun)
		if err != nil {
			_ = closeChain(wt.chain)
			return res, err
		}
		sum := WatchSummary{Watch: w.Name, Result: out.Result, Err: out.Err, Baseline: out.Baseline, Entries: out.Entries,
			Events: len(out.Events), Settling: out.Settling, SettleDue: out.SettleDue, DryRun: dryRun}
		switch out.Result {
		case poller.ResultError:
			res.ScanErrors++ // logged by the poller, and told in the watch's summary
		case poller.ResultPartial:
			res.Partial++
		}
		if !dryRun {
			saveScanSummary(d.Store, w.Name, wt.poller, d.Logger)
		}
		res.Events += len(out.Events)
		for _, e := range out.Events {
			emit(e)
		}
		if dryRun {
			_ = closeChain(wt.chain)
			res.Watches = append(res.Watches, sum)
			continue
		}
		if n, _, err := d.Store.Counts(w.Name); err == nil && n > 0 {
			progress(fmt.Sprintf("%s: delivering %d events", w.Name, n))
		}
		ds, err := wt.disp.Drain(ctx)
		_ = closeChain(wt.chain)
		res.Delivered += ds.Delivered
		res.Superseded += ds.Superseded
		res.DeadLettered += ds.DeadLettered
		sum.Delivered, sum.Failed, sum.Superseded = ds.Delivered, ds.DeadLettered, ds.Superseded
		res.Watches = append(res.Watches, sum)
		if err != nil {
			return res, fmt.Errorf("watch %q: deliver events: %w", w.Name, err)
		}
	}
	return res, nil
}
