package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/admin"
	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/dispatch"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// AdminStore is the part of the state the admin operations use; every
// state backend has it (the backends' conformance suite,
// internal/state/statetest, checks what these promise).
type AdminStore interface {
	Watches() ([]string, error)
	Info(watch string) (state.WatchInfo, error)
	Outbox(watch string) ([]state.Item, error)
	DeadLetters(watch string) ([]state.DeadLetter, error)
	RetryDeadLetter(watch, id string, fromStart bool) error
	DiscardDeadLetter(watch, id string) error
	ResetWatch(watch string, emit bool) error
	DeleteWatch(watch string) error
	// WriteTo writes a consistent backup copy of the whole state.
	WriteTo(w io.Writer) (int64, error)
}

// Admin implements the admin operations over the state store and, when a
// daemon runs, its running watches: the same code answers the admin socket
// of `run` and the admin commands on a stopped daemon's state dir.
type Admin struct {
	store AdminStore
	log   *zap.Logger
	d     *Daemon        // nil: no daemon runs
	cfg   *config.Config // the config when no daemon runs
}

var _ admin.Ops = (*Admin)(nil)

// Admin returns the admin operations of the running daemon.
func (d *Daemon) Admin() *Admin {
	return &Admin{store: d.deps.Store, log: d.deps.Logger, d: d}
}

// LocalAdmin returns the admin operations over store alone, for a state
// dir no daemon runs on; cfg names the configured watches.
func LocalAdmin(cfg *config.Config, store AdminStore, log *zap.Logger) *Admin {
	if log == nil {
		log = zap.NewNop()
	}
	return &Admin{store: store, log: log, cfg: cfg}
}

// live is what a running watch adds to what the store holds.
type live struct {
	poller *poller.Poller
	disp   *dispatch.Dispatcher
	chain  []string
}

// view returns the config in force and the running watches.
func (a *Admin) view() (*config.Config, map[string]live) {
	if a.d == nil {
		return a.cfg, nil
	}
	a.d.mu.Lock()
	defer a.d.mu.Unlock()
	lv := make(map[string]live, len(a.d.running))
	for name, r := range a.d.running {
		chain := make([]string, len(r.w.chain))
		for i, ac := range r.w.chain {
			chain[i] = ac.Type()
		}
		lv[name] = live{poller: r.w.poller, disp: r.w.disp, chain: chain}
	}
	if a.d.cfg == nil {
		return &config.Config{}, lv // not started yet
	}
	return a.d.cfg, lv
}

// watches returns the configured watches named by name ("" = all) and,
// for the event commands, the watches that only the state still holds.
func (a *Admin) watches(cfg *config.Config, name string, stored bool) ([]string, error) {
	var names []string
	for _, w := range cfg.Watches {
		names = append(names, w.Name)
	}
	if stored {
		have, err := a.store.Watches()
		if err != nil {
			return nil, err
		}
		for _, n := range have {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	if name == "" {
		return names, nil
	}
	if !slices.Contains(names, name) {
		return nil, fmt.Errorf("--watch %q: no such watch in %s (watches: %s): %w", name, cfg.File, strings.Join(names, ", "), admin.ErrUsage)
	}
	return []string{name}, nil
}

// Status implements admin.Ops.
func (a *Admin) Status(_ context.Context, name string) (admin.Status, error) {
	cfg, lv := a.view()
	names, err := a.watches(cfg, name, false)
	if err != nil {
		return admin.Status{}, err
	}
	st := admin.Status{Running: a.d != nil}
	hosts := map[string]bool{}
	for _, n := range names {
		w, _ := cfg.Watch(n)
		hosts[w.Host] = true
		info, err := a.store.Info(n)
		if err != nil {
			return admin.Status{}, err
		}
		ws := admin.WatchStatus{Watch: n, Host: w.Host, Path: w.Path, Settling: info.Settling,
			Pending: info.Outbox, DeadLetters: info.Dead}
		last := info.LastScan
		if l, ok := lv[n]; ok {
			ps := l.poller.Status()
			ws.Settling = ps.Settling
			if ps.LastScan != nil {
				sum := state.ScanSummary(*ps.LastScan)
				last = &sum
			}
			if !ps.NextScan.IsZero() {
				next := ps.NextScan.UTC()
				ws.NextScan = &next
			}
		}
		if last != nil {
			ws.LastScan = &admin.LastScan{Time: last.Time, Result: last.Result, DurationSeconds: last.Duration.Seconds(),
				Entries: last.Entries, Error: last.Error}
		}
		st.Watches = append(st.Watches, ws)
	}
	for h := range hosts {
		hs := admin.HostStatus{Host: h}
		if a.d != nil {
			a.d.mu.Lock()
			if p, ok := a.d.pools[h]; ok {
				hs.Connections, hs.LastDialError = p.pool.Stats()
			}
			a.d.mu.Unlock()
		}
		st.Hosts = append(st.Hosts, hs)
	}
	sort.Slice(st.Hosts, func(i, j int) bool { return st.Hosts[i].Host < st.Hosts[j].Host })
	return st, nil
}

// chainOf returns the action types of watch's chain.
func chainOf(cfg *config.Config, lv map[string]live, watch string) []string {
	if l, ok := lv[watch]; ok {
		return l.chain
	}
	w, ok := cfg.Watch(watch)
	if !ok {
		return nil
	}
	chain := make([]string, len(w.Actions))
	for i, ac := range w.Actions {
		chain[i] = ac.Type
	}
	return chain
}

func eventLine(it state.Item, chain []string) admin.EventLine {
	e := admin.EventLine{ID: it.Event.ID, Watch: it.Event.Watch, Type: string(it.Event.Type), Path: it.Event.Path,
		RelPath: it.Event.RelPath, Attempts: it.Attempts}
	if it.Step >= 0 && it.Step < len(chain) {
		e.Step = chain[it.Step]
	}
	return e
}

// Pending implements admin.Ops.
func (a *Admin) Pending(_ context.Context, name string) ([]admin.Pending, error) {
	cfg, lv := a.view()
	names, err := a.watches(cfg, name, true)
	if err != nil {
		return nil, err
	}
	out := []admin.Pending{}
	for _, n := range names {
		items, err := a.store.Outbox(n)
		if err != nil {
			return nil, err
		}
		var retries map[string]dispatch.Retry
		if l, ok := lv[n]; ok {
			retries = l.disp.Retries()
		}
		chain := chainOf(cfg, lv, n)
		for _, it := range items {
			p := admin.Pending{EventLine: eventLine(it, chain)}
			if r, ok := retries[it.Event.ID]; ok {
				next := r.NextAttempt.UTC()
				p.NextAttempt, p.LastError = &next, r.LastError
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// DeadLetters implements admin.Ops.
func (a *Admin) DeadLetters(_ context.Context, name string) ([]admin.DeadLetter, error) {
	cfg, lv := a.view()
	names, err := a.watches(cfg, name, true)
	if err != nil {
		return nil, err
	}
	out := []admin.DeadLetter{}
	for _, n := range names {
		dead, err := a.store.DeadLetters(n)
		if err != nil {
			return nil, err
		}
		chain := chainOf(cfg, lv, n)
		for _, d := range dead {
			out = append(out, admin.DeadLetter{EventLine: eventLine(d.Item, chain), Reason: d.Reason})
		}
	}
	return out, nil
}

// selected resolves a selection to (watch, id) pairs of dead letters.
func (a *Admin) selected(ctx context.Context, sel admin.Selection) ([][2]string, error) {
	if sel.All == (len(sel.IDs) > 0) {
		return nil, fmt.Errorf("name dead letters by ID or with --all (not both): %w", admin.ErrUsage)
	}
	if sel.All {
		dead, err := a.DeadLetters(ctx, sel.Watch)
		if err != nil {
			return nil, err
		}
		out := make([][2]string, len(dead))
		for i, d := range dead {
			out[i] = [2]string{d.Watch, d.ID}
		}
		return out, nil
	}
	out := make([][2]string, 0, len(sel.IDs))
	for _, id := range sel.IDs {
		i := strings.LastIndexByte(id, '-')
		if i <= 0 || (sel.Watch != "" && id[:i] != sel.Watch) {
			return nil, fmt.Errorf("event %q is not an event ID of %s: %w", id, watchOrAny(sel.Watch), admin.ErrNotFound)
		}
		out = append(out, [2]string{id[:i], id})
	}
	return out, nil
}

func watchOrAny(w string) string {
	if w == "" {
		return "any watch (IDs look like WATCH-000000000042)"
	}
	return fmt.Sprintf("watch %q", w)
}

// notFound turns the store's ErrNotFound into the admin one.
func notFound(err error) error {
	if errors.Is(err, state.ErrNotFound) {
		return fmt.Errorf("%w: %w (see deadletters list)", err, admin.ErrNotFound)
	}
	return err
}

// Retry implements admin.Ops.
func (a *Admin) Retry(ctx context.Context, sel admin.Selection, fromStart bool) ([]string, error) {
	return a.eachDead(ctx, sel, "dead letter retried", func(watch, id string) error {
		return a.store.RetryDeadLetter(watch, id, fromStart)
	}, zap.Bool("from_start", fromStart))
}

// Discard implements admin.Ops.
func (a *Admin) Discard(ctx context.Context, sel admin.Selection) ([]string, error) {
	return a.eachDead(ctx, sel, "dead letter discarded", func(watch, id string) error {
		return a.store.DiscardDeadLetter(watch, id)
	})
}

// eachDead applies op to every selected dead letter, logs each, and tells
// the running watches' dispatchers (which pick retried events up at once
// and refresh the dead_letters gauge).
func (a *Admin) eachDead(ctx context.Context, sel admin.Selection, msg string, op func(watch, id string) error, fields ...zap.Field) ([]string, error) {
	pairs, err := a.selected(ctx, sel)
	if err != nil {
		return nil, err
	}
	_, lv := a.view()
	done := []string{}
	touched := map[string]bool{}
	defer func() {
		for w := range touched {
			if l, ok := lv[w]; ok {
				l.disp.Notify()
			}
		}
	}()
	for _, p := range pairs {
		if err := op(p[0], p[1]); err != nil {
			return done, notFound(err)
		}
		touched[p[0]] = true
		done = append(done, p[1])
		a.log.Info(msg, append([]zap.Field{zap.String("watch", p[0]), zap.String("event", p[1])}, fields...)...)
	}
	return done, nil
}

// Scan implements admin.Ops.
func (a *Admin) Scan(_ context.Context, watch string) error {
	cfg, lv := a.view()
	if _, err := a.watches(cfg, watch, false); err != nil {
		return err
	}
	l, ok := lv[watch]
	if !ok {
		return fmt.Errorf("watch %q: scan needs the running daemon (start `sftpwatchd run`, or scan once with `sftpwatchd once --watch %s`): %w", watch, watch, admin.ErrNotRunning)
	}
	l.poller.ScanNow()
	a.log.Info("scan requested", zap.String("watch", watch))
	return nil
}

// Reset implements admin.Ops.
func (a *Admin) Reset(_ context.Context, watch string, emit bool) error {
	cfg, lv := a.view()
	if _, err := a.watches(cfg, watch, true); err != nil {
		return err
	}
	reset := func() error { return a.store.ResetWatch(watch, emit) }
	var err error
	if l, ok := lv[watch]; ok {
		err = l.poller.Reset(reset)
	} else {
		err = reset()
	}
	if err != nil {
		return err
	}
	a.log.Info("watch state reset: its next scan is a first scan", zap.String("watch", watch), zap.Bool("emit", emit))
	return nil
}

// Prune implements admin.Ops.
func (a *Admin) Prune(_ context.Context, keep []string) ([]string, error) {
	cfg, lv := a.view()
	have, err := a.store.Watches()
	if err != nil {
		return nil, err
	}
	pruned := []string{}
	for _, n := range have {
		if _, ok := cfg.Watch(n); ok || slices.Contains(keep, n) {
			continue
		}
		if _, ok := lv[n]; ok {
			continue
		}
		if err := a.store.DeleteWatch(n); err != nil {
			return pruned, err
		}
		a.log.Info("state of an unconfigured watch removed", zap.String("watch", n))
		pruned = append(pruned, n)
	}
	return pruned, nil
}

// Backup implements admin.Ops.
func (a *Admin) Backup(_ context.Context, w io.Writer) error {
	_, err := a.store.WriteTo(w)
	return err
}

// saveScanSummary stores the last scan of a watch, so that the status of a
// stopped daemon tells it.
func saveScanSummary(store *state.Store, watch string, p *poller.Poller, log *zap.Logger) {
	st := p.Status()
	if st.LastScan == nil {
		return
	}
	if err := store.PutScanSummary(watch, state.ScanSummary(*st.LastScan)); err != nil {
		log.Warn("cannot store the last scan summary", zap.String("watch", watch), zap.Error(err))
	}
}
