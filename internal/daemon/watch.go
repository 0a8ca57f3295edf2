package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/actions"
	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/dispatch"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// Deps are what every watch of a process shares.
type Deps struct {
	Store   *state.Store
	Logger  *zap.Logger
	Metrics *metrics.Metrics
	Version string
	// OnScan, when set, is told every scan result (readiness tracking).
	OnScan func(watch, result string)
	// ScanProgress, when set, is told during each scan how many
	// directories were listed and entries seen so far (terminal progress).
	ScanProgress func(watch string, dirs, entries int)
}

// watch is one configured watch, built: its poller, its chain of actions
// and its dispatcher.
type watch struct {
	cfg    config.Watch
	host   config.Host
	poller *poller.Poller
	disp   *dispatch.Dispatcher
	chain  []actions.Action
	log    *zap.Logger
}

// selfRemovals records paths the daemon moves or deletes itself: first in
// the store (so a crash right after the remote operation still yields no
// delete event), then in the poller's in-memory copy.
type selfRemovals struct {
	store  *state.Store
	poller *poller.Poller
}

func (s selfRemovals) MarkSelfRemoved(watch, rel string) error {
	if err := s.store.MarkSelfRemoved(watch, rel); err != nil {
		return err
	}
	s.poller.MarkSelfRemoved(rel)
	return nil
}

func (s selfRemovals) UnmarkSelfRemoved(watch, rel string) error {
	s.poller.UnmarkSelfRemoved(rel)
	return s.store.UnmarkSelfRemoved(watch, rel)
}

// confirmingRemote is the remote the actions of a watch use: a successful
// rename or remove of a path in the watched tree confirms its self-removal
// marker (store first, then poller), so that the path seen again by a
// later scan is a re-upload, a new file (SPEC §4).
type confirmingRemote struct {
	actions.Remote
	watch, root string
	store       *state.Store
	poller      *poller.Poller
	log         *zap.Logger
}

func (r confirmingRemote) Rename(ctx context.Context, oldpath, newpath string) error {
	if err := r.Remote.Rename(ctx, oldpath, newpath); err != nil {
		return err
	}
	r.confirm(oldpath)
	return nil
}

func (r confirmingRemote) FetchTo(ctx context.Context, p string, size int64, w io.Writer, progress func(int64)) (int64, os.FileInfo, error) {
	return fetchVia(ctx, r.Remote, p, size, w, progress)
}

func (r confirmingRemote) Remove(ctx context.Context, p string) error {
	if err := r.Remote.Remove(ctx, p); err != nil {
		return err
	}
	r.confirm(p)
	return nil
}

// confirm records that remote path p is gone because of the daemon. A
// failure only loses the confirmation: the marker still keeps the path's
// disappearance from being a delete, and the operation itself succeeded.
func (r confirmingRemote) confirm(p string) {
	rel, ok := strings.CutPrefix(path.Clean(p), r.root+"/")
	if r.root == "/" {
		rel, ok = strings.CutPrefix(path.Clean(p), "/")
	}
	if !ok || rel == "" {
		return
	}
	at := time.Now()
	if err := r.store.ConfirmSelfRemoved(r.watch, rel, at); err != nil {
		r.log.Warn("cannot record that the daemon removed a path; a re-upload of it with the same size and mtime will not be seen until it changes", zap.String("path", p), zap.Error(err))
		return
	}
	r.poller.ConfirmSelfRemoved(rel, at)
}

// buildWatch constructs a watch over pool. On error nothing is left open.
func buildWatch(w config.Watch, host config.Host, pool *sftpconn.Pool, d Deps) (*watch, error) {
	// poller, dispatcher and actions each scope the logger with the watch
	// name themselves; wt.log is the daemon's own view of the watch.
	log := d.Logger
	wt := &watch{cfg: w, host: host, log: log.With(zap.String("watch", w.Name))}
	var disp *dispatch.Dispatcher
	lister, err := poller.NewLister(w.Lister, ExplainingDoer(pool, host), host.MaxConcurrentRequests)
	if err != nil {
		return nil, fmt.Errorf("watches %q: %w", w.Name, err)
	}
	if d.ScanProgress != nil {
		lister = &countingLister{Lister: lister, report: func(dirs, entries int) { d.ScanProgress(w.Name, dirs, entries) }}
	}
	wt.poller = poller.New(poller.Options{
		Watch:   w,
		Lister:  lister,
		Store:   pollerStore{d.Store},
		Logger:  log,
		Metrics: d.Metrics,
		Notify:  func() { disp.Notify() },
		OnScan: func(result string, _ time.Time) {
			if d.OnScan != nil {
				d.OnScan(w.Name, result)
			}
		},
	})
	deps := actions.Deps{
		Watch: w.Name,
		Host:  w.Host,
		Root:  w.Path,
		Remote: confirmingRemote{Remote: explainingRemote{r: pool, host: host}, watch: w.Name, root: path.Clean(w.Path), store: d.Store,
			poller: wt.poller, log: wt.log},
		Self:    selfRemovals{store: d.Store, poller: wt.poller},
		Logger:  log,
		Metrics: d.Metrics,
		Version: d.Version,
	}
	// A followed link is reported as its target, and download copies it.
	deps.FollowSymlinks = w.FollowSymlinks
	for i, ac := range w.Actions {
		a, err := actions.New(ac, deps)
		if err != nil {
			closeChain(wt.chain)
			return nil, fmt.Errorf("watches %q: actions[%d] (%s): %w", w.Name, i, ac.Type, err)
		}
		wt.chain = append(wt.chain, a)
	}
	if w.RemoveMarker && w.RequireMarker != "" {
		// The chain's last step: the marker goes once everything else
		// succeeded.
		rm, err := actions.NewRemoveMarker(w.RequireMarker, deps)
		if err != nil {
			closeChain(wt.chain)
			return nil, fmt.Errorf("watches %q: remove_marker: %w", w.Name, err)
		}
		wt.chain = append(wt.chain, rm)
	}
	opt := dispatch.Options{
		Watch:       w.Name,
		Actions:     wt.chain,
		Concurrency: w.Concurrency,
		Retry:       w.Retry,
		Logger:      log,
		Metrics:     d.Metrics,
	}
	if w.OnDeadLetter.MoveTo != "" {
		q, err := actions.NewQuarantine(w.OnDeadLetter.MoveTo, deps)
		if err != nil {
			closeChain(wt.chain)
			return nil, fmt.Errorf("watches %q: %w", w.Name, err)
		}
		opt.OnDeadLetter = q.Run
	}
	disp = dispatch.New(storeAdapter{d.Store}, opt)
	wt.disp = disp
	return wt, nil
}

func closeChain(chain []actions.Action) error {
	var errs []error
	for _, a := range chain {
		if c, ok := a.(actions.Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// run scans and dispatches until ctx is done; in-flight action steps then
// finish under stepCtx.
func (w *watch) run(ctx, stepCtx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.disp.Run(ctx, stepCtx); err != nil && ctx.Err() == nil {
			w.log.Error("dispatcher stopped", zap.Error(err))
		}
	}()
	w.poller.Run(ctx)
	<-done
}
