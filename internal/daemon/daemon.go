package daemon

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// stopGrace is how long a stop waits, once shutdown_timeout has passed and
// the watches' steps were cancelled and their connections closed, for the
// watches to return: a stop takes at most shutdown_timeout + stopGrace,
// whatever the servers do.
const stopGrace = 2 * time.Second

// Daemon runs every watch of a config until stopped.
type Daemon struct {
	deps Deps

	mu       sync.Mutex
	cfg      *config.Config
	pools    map[string]*hostPool
	running  map[string]*running
	draining map[*running]bool       // stopped by a reload, still stopping
	retired  map[*sftpconn.Pool]bool // replaced by a reload, closed once its watches stopped
	stopped  bool
}

type hostPool struct {
	cfg  config.Host
	pool *sftpconn.Pool
}

// running is a started watch.
type running struct {
	w          *watch
	cancel     context.CancelFunc // stops scanning and starting new steps
	cancelStep context.CancelFunc // aborts in-flight steps
	stopped    chan struct{}      // closed when it stopped and its actions are closed
}

// New creates a daemon; nothing runs before Start.
func New(d Deps) *Daemon {
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	return &Daemon{deps: d, pools: map[string]*hostPool{}, running: map[string]*running{},
		draining: map[*running]bool{}, retired: map[*sftpconn.Pool]bool{}}
}

// Start runs the watches of cfg. It fails when a watch cannot be built (an
// action rejects its config); then nothing is left running.
func (d *Daemon) Start(cfg *config.Config) error {
	return d.Apply(cfg)
}

// Apply makes the running watches match cfg: watches that were removed or
// changed (their own settings or their host's) are stopped (in-flight steps
// get cfg.ShutdownTimeout), new and changed ones started; unchanged ones
// keep running untouched. If any new watch cannot be built, the running set
// is left as it was and the error returned.
//
// Apply does not wait for the watches it stops: they stop in the
// background (as Stop does, bounded), and a changed watch's new instance
// starts working once its old one has stopped, so that the two never
// share the watch's state. A host whose settings changed gets a new pool;
// the old one is closed once the watches using it have stopped.
func (d *Daemon) Apply(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return errors.New("daemon is stopped")
	}
	want := map[string]config.Watch{}
	for _, w := range cfg.Watches {
		want[w.Name] = w
	}
	// Pools for hosts whose settings are new or changed.
	newPools := map[string]*hostPool{}
	for _, w := range cfg.Watches {
		h := cfg.HostFor(&w)
		if old, ok := d.pools[h.Name]; ok && reflect.DeepEqual(old.cfg, h) {
			continue
		}
		if _, ok := newPools[h.Name]; !ok {
			d.deps.Metrics.InitHost(h.Name)
			newPools[h.Name] = &hostPool{cfg: h, pool: sftpconn.NewPool(HostConfig(h),
				d.deps.Logger.With(zap.String("host", h.Name)), d.deps.Metrics)}
		}
	}
	poolFor := func(name string) *hostPool {
		if p, ok := newPools[name]; ok {
			return p
		}
		return d.pools[name]
	}
	// Build every new or changed watch before touching the running ones.
	built := map[string]*watch{}
	for name, w := range want {
		if r, ok := d.running[name]; ok && reflect.DeepEqual(r.w.cfg, w) && reflect.DeepEqual(r.w.host, cfg.HostFor(&w)) {
			continue
		}
		wt, err := buildWatch(w, cfg.HostFor(&w), poolFor(w.Host).pool, d.deps)
		if err != nil {
			for _, b := range built {
				_ = closeChain(b.chain)
			}
			for _, p := range newPools {
				_ = p.pool.Close()
			}
			return err
		}
		built[name] = wt
	}
	// Stop removed and changed watches, in the background.
	var stopping []*running
	predecessor := map[string]*running{}
	for name, r := range d.running {
		if _, keep := want[name]; keep && built[name] == nil {
			continue
		}
		stopping = append(stopping, r)
		d.draining[r] = true
		delete(d.running, name)
		if _, keep := want[name]; !keep {
			d.deps.Metrics.ForgetWatch(name)
		} else {
			predecessor[name] = r
		}
	}
	// Swap pools; the ones no longer needed are closed once the watches
	// stopping now have stopped.
	var retired []*sftpconn.Pool
	for name, p := range newPools {
		if old, ok := d.pools[name]; ok {
			retired = append(retired, old.pool)
		}
		d.pools[name] = p
	}
	used := map[string]bool{}
	for _, w := range cfg.Watches {
		used[w.Host] = true
	}
	for name, p := range d.pools {
		if !used[name] {
			retired = append(retired, p.pool)
			delete(d.pools, name)
			d.deps.Metrics.ForgetHost(name)
		}
	}
	for _, p := range retired {
		d.retired[p] = true
	}
	go d.drain(stopping, retired, cfg.ShutdownTimeout)
	names := make([]string, 0, len(built))
	for name := range built {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d.deps.Metrics.InitWatch(name)
		d.deps.Metrics.SetWatchInterval(name, built[name].cfg.Interval)
		for _, a := range built[name].chain {
			d.deps.Metrics.InitAction(name, a.Type())
		}
		var after <-chan struct{}
		if r := predecessor[name]; r != nil {
			after = r.stopped
		}
		d.running[name] = d.start(built[name], after)
		d.deps.Logger.Info("watch started", zap.String("watch", name), zap.String("host", built[name].cfg.Host),
			zap.String("path", built[name].cfg.Path), zap.Duration("interval", built[name].cfg.Interval))
	}
	d.cfg = cfg
	return nil
}

// start runs w; when after is not nil, w waits for it to be closed (its
// predecessor to stop) before it scans.
func (d *Daemon) start(w *watch, after <-chan struct{}) *running {
	ctx, cancel := context.WithCancel(context.Background())
	stepCtx, cancelStep := context.WithCancel(context.Background())
	r := &running{w: w, cancel: cancel, cancelStep: cancelStep, stopped: make(chan struct{})}
	go func() {
		defer close(r.stopped)
		if after != nil {
			select {
			case <-after:
			case <-ctx.Done():
				<-after // stopped means: no instance of the watch runs any more
			}
		}
		if ctx.Err() == nil {
			w.run(ctx, stepCtx)
			saveScanSummary(d.deps.Store, w.cfg.Name, w.poller, d.deps.Logger)
		}
		cancelStep()
		if err := closeChain(w.chain); err != nil {
			d.deps.Logger.Warn("closing actions", zap.String("watch", w.cfg.Name), zap.Error(err))
		}
		d.deps.Logger.Info("watch stopped", zap.String("watch", w.cfg.Name))
	}()
	return r
}

// stopAll stops watches: no new scans or steps at once; in-flight steps
// get up to timeout, then they are cancelled and pools are closed (a
// request blocked on a server that does not answer fails at once). It
// returns when all have stopped, or stopGrace after that, whatever the
// servers do; watches still running then stop on their own.
func (d *Daemon) stopAll(rs []*running, pools []*sftpconn.Pool, timeout time.Duration) {
	for _, r := range rs {
		r.cancel()
	}
	if !waitStopped(rs, timeout) {
		d.deps.Logger.Warn("shutdown_timeout reached: cancelling in-flight actions and closing connections",
			zap.Duration("shutdown_timeout", timeout))
		for _, r := range rs {
			r.cancelStep()
		}
		closePools(pools)
		if !waitStopped(rs, stopGrace) {
			var names []string
			for _, r := range rs {
				select {
				case <-r.stopped:
				default:
					names = append(names, r.w.cfg.Name)
				}
			}
			d.deps.Logger.Warn("watches did not stop in time; not waiting for them", zap.Strings("watches", names),
				zap.Duration("waited", timeout+stopGrace))
		}
	}
	closePools(pools)
}

// drain stops watches a reload removed or replaced, then closes the pools
// it retired.
func (d *Daemon) drain(rs []*running, pools []*sftpconn.Pool, timeout time.Duration) {
	d.stopAll(rs, pools, timeout)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range rs {
		delete(d.draining, r)
	}
	for _, p := range pools {
		delete(d.retired, p)
	}
}

// waitStopped waits up to d for every watch of rs to stop.
func waitStopped(rs []*running, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for _, r := range rs {
		select {
		case <-r.stopped:
		case <-timer.C:
			return false
		}
	}
	return true
}

func closePools(pools []*sftpconn.Pool) {
	for _, p := range pools {
		_ = p.Close()
	}
}

// Stop stops every watch, those a reload is still stopping included
// (in-flight steps get the config's shutdown_timeout), and closes every
// pool. It returns within shutdown_timeout + stopGrace.
func (d *Daemon) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	d.stopped = true
	var rs []*running
	for name, r := range d.running {
		rs = append(rs, r)
		delete(d.running, name)
	}
	for r := range d.draining {
		rs = append(rs, r)
	}
	var pools []*sftpconn.Pool
	for name, p := range d.pools {
		pools = append(pools, p.pool)
		delete(d.pools, name)
	}
	for p := range d.retired {
		pools = append(pools, p)
	}
	timeout := 30 * time.Second
	if d.cfg != nil {
		timeout = d.cfg.ShutdownTimeout
	}
	d.stopAll(rs, pools, timeout)
}

// Watches returns the names of the running watches.
func (d *Daemon) Watches() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.running))
	for n := range d.running {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
