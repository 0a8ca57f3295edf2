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

// Daemon runs every watch of a config until stopped.
type Daemon struct {
	deps Deps

	mu      sync.Mutex
	cfg     *config.Config
	pools   map[string]*hostPool
	running map[string]*running
	stopped bool
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
	done       chan struct{}
}

// New creates a daemon; nothing runs before Start.
func New(d Deps) *Daemon {
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	return &Daemon{deps: d, pools: map[string]*hostPool{}, running: map[string]*running{}}
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
	// Stop removed and changed watches.
	var stopping []*running
	for name, r := range d.running {
		if _, keep := want[name]; keep && built[name] == nil {
			continue
		}
		stopping = append(stopping, r)
		delete(d.running, name)
		if _, keep := want[name]; !keep {
			d.deps.Metrics.ForgetWatch(name)
		}
	}
	d.stopAll(stopping, cfg.ShutdownTimeout)
	// Swap pools, closing the ones no longer needed.
	for name, p := range newPools {
		if old, ok := d.pools[name]; ok {
			_ = old.pool.Close()
		}
		d.pools[name] = p
	}
	used := map[string]bool{}
	for _, w := range cfg.Watches {
		used[w.Host] = true
	}
	for name, p := range d.pools {
		if !used[name] {
			_ = p.pool.Close()
			delete(d.pools, name)
			d.deps.Metrics.ForgetHost(name)
		}
	}
	names := make([]string, 0, len(built))
	for name := range built {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		d.deps.Metrics.InitWatch(name)
		for _, a := range built[name].chain {
			d.deps.Metrics.InitAction(name, a.Type())
		}
		d.running[name] = d.start(built[name])
		d.deps.Logger.Info("watch started", zap.String("watch", name), zap.String("host", built[name].cfg.Host),
			zap.String("path", built[name].cfg.Path), zap.Duration("interval", built[name].cfg.Interval))
	}
	d.cfg = cfg
	return nil
}

func (d *Daemon) start(w *watch) *running {
	ctx, cancel := context.WithCancel(context.Background())
	stepCtx, cancelStep := context.WithCancel(context.Background())
	r := &running{w: w, cancel: cancel, cancelStep: cancelStep, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		w.run(ctx, stepCtx)
	}()
	return r
}

// stopAll stops watches: no new scans or steps at once, in-flight steps get
// up to timeout, then they are cancelled. Returns when all have stopped.
func (d *Daemon) stopAll(rs []*running, timeout time.Duration) {
	if len(rs) == 0 {
		return
	}
	for _, r := range rs {
		r.cancel()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for _, r := range rs {
		select {
		case <-r.done:
		case <-timer.C:
			d.deps.Logger.Warn("shutdown_timeout reached: cancelling in-flight actions", zap.Duration("shutdown_timeout", timeout))
			for _, r := range rs {
				r.cancelStep()
			}
			<-r.done
		}
	}
	for _, r := range rs {
		r.cancelStep()
		if err := closeChain(r.w.chain); err != nil {
			d.deps.Logger.Warn("closing actions", zap.String("watch", r.w.cfg.Name), zap.Error(err))
		}
		d.deps.Logger.Info("watch stopped", zap.String("watch", r.w.cfg.Name))
	}
}

// Stop stops every watch (in-flight steps get the config's shutdown_timeout)
// and closes every pool.
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
	timeout := 30 * time.Second
	if d.cfg != nil {
		timeout = d.cfg.ShutdownTimeout
	}
	d.stopAll(rs, timeout)
	for name, p := range d.pools {
		_ = p.pool.Close()
		delete(d.pools, name)
	}
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
