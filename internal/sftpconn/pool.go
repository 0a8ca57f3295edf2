package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Redial backoff after a failed dial: doubling from minBackoff to
// maxBackoff, jittered to between half and all of that.
const (
	minBackoff = 200 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Pool shares up to MaxConnections SSH connections to one host among any
// number of goroutines. Each connection carries many calls at once (pkg/sftp
// pipelines requests); a new connection is dialled only when every open
// one already carries MaxConcurrentRequests/MaxConnections calls, in the
// background: calls keep sharing the open connections until it is up. At
// most MaxConcurrentRequests calls run at once across the pool.
//
// A connection that breaks (an error from fn for which IsConnectionError
// holds, or the SSH connection ending) is dropped and closed once its
// calls return; the next call dials a new one. A failed dial is returned
// to the call that made it (a *DialError: IsConnectionError holds for it
// unless it is an authentication or host key failure), and every call until the jittered backoff has
// passed fails at once with the same error, so no call waits out an outage
// and the host is not hammered. The first call after the backoff dials
// again.
type Pool struct {
	cfg     HostConfig
	host    string
	perConn int // calls per connection before another is dialled
	log     *zap.Logger
	obs     Observer

	sem         chan struct{} // one token per call in flight
	closeCtx    context.Context
	closeCancel context.CancelFunc
	dials       sync.WaitGroup // background dials (dialSpare), waited for by Close

	mu       sync.Mutex
	conns    []*poolConn // usable connections
	dialing  bool
	closed   bool
	changed  chan struct{} // closed and replaced whenever the state above changes
	failures int           // consecutive failed dials
	retryAt  time.Time     // no dial before this after a failure
	lastErr  error         // of the last failed dial
	// noReader, once set, is why this host's connections list through
	// pkg/sftp: opening the pipelined reader's channel ended a connection
	// (see Do). keepReader (tests) never sets it.
	noReader   error
	keepReader bool
}

var _ Doer = (*Pool)(nil)

// poolConn is one pooled connection.
type poolConn struct {
	c        *Client
	dead     <-chan struct{} // closed when the SSH connection ends
	inflight int             // calls running on it (guarded by Pool.mu)
	broken   bool            // dropped from the pool; close at inflight 0
	once     sync.Once
}

func (pc *poolConn) close() error {
	var err error
	pc.once.Do(func() { err = pc.c.Close() })
	return err
}

func (pc *poolConn) isDead() bool {
	select {
	case <-pc.dead:
		return true
	default:
		return false
	}
}

// Observer is told what a Pool's connections do, for metrics: the number
// of connections open to host after each change, and the result of each
// dial ("ok" or "error"). *metrics.Metrics satisfies it.
type Observer interface {
	SFTPConnectionsOpen(host string, n int)
	SFTPDial(host, result string)
}

// NewPool creates a pool for the host; it dials on first use. obs may be
// nil.
func NewPool(cfg HostConfig, log *zap.Logger, obs Observer) *Pool {
	if log == nil {
		log = zap.NewNop()
	}
	cfg = cfg.withDefaults()
	per := (cfg.MaxConcurrentRequests + cfg.MaxConnections - 1) / cfg.MaxConnections
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{
		cfg: cfg, host: cfg.displayName(), perConn: max(per, 1), log: log, obs: obs,
		sem:      make(chan struct{}, cfg.MaxConcurrentRequests),
		closeCtx: ctx, closeCancel: cancel,
		changed: make(chan struct{}),
	}
}

// Host is the name of the host the pool connects to.
func (p *Pool) Host() string { return p.host }

// Do runs fn with a connected Client, waiting (while ctx allows) for a
// free request slot and, if needed, a connection. fn may run concurrently
// with other calls on the same Client. Do does not retry fn: when fn's
// error shows the connection broke, the connection is dropped and the
// error is returned as a *ConnectionError, or as the *RequestTimeoutError
// of a request the server left unanswered (IsConnectionError holds for
// both), and the caller decides whether to call Do again.
func (p *Pool) Do(ctx context.Context, fn func(*Client) error) (err error) {
	select {
	case <-p.closeCtx.Done():
		return ErrPoolClosed
	default:
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.closeCtx.Done():
		return ErrPoolClosed
	}
	defer func() { <-p.sem }()

	// A server that allows one channel (ProFTPD with SFTPMaxChannels 1)
	// ends the whole connection when the pipelined reader opens its own:
	// the host is then marked (call), and fn runs again on a connection
	// that lists through pkg/sftp. Bounded: each connection open before
	// the mark can fail so once.
	for attempt := 0; ; attempt++ {
		retry, err := p.call(ctx, fn)
		if !retry || attempt >= p.cfg.MaxConnections {
			return err
		}
	}
}

// call is one attempt of Do; retry tells that fn failed only because the
// reader's channel ended its connection, so fn may run again.
func (p *Pool) call(ctx context.Context, fn func(*Client) error) (retry bool, err error) {
	pc, err := p.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer func() { retry = p.release(pc, err) }() // also on panic in fn
	err = fn(pc.c)
	var ce *ConnectionError
	var te *RequestTimeoutError // names the host already
	switch {
	case errors.As(err, &ce):
		if ce.Host == "" {
			ce.Host = p.host // made by the Client, which does not know it
		}
	case IsConnectionError(err) && !errors.As(err, &te):
		err = &ConnectionError{Host: p.host, Err: err}
	}
	return false, err
}

// acquire returns the connection the call runs on, counted in flight.
func (p *Pool) acquire(ctx context.Context) (*poolConn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrPoolClosed
		}
		toClose := p.reapLocked()
		best := p.leastLoadedLocked()
		now := time.Now()
		backingOff := now.Before(p.retryAt)
		full := best == nil || best.inflight >= p.perConn
		canDial := !p.dialing && len(p.conns) < p.cfg.MaxConnections && !backingOff

		switch {
		case best != nil && (!full || !canDial):
			// Room on an open connection, or no new one may be dialled
			// now: share the least loaded.
			best.inflight++
			p.mu.Unlock()
			closeAll(toClose)
			return best, nil
		case best != nil:
			// Every open connection is busy: dial one more in the
			// background and share the least loaded meanwhile, rather than
			// hold this call for a handshake (~10 round trips) when a
			// connection that can carry it is open.
			p.dialing = true
			best.inflight++
			p.dials.Add(1)
			p.mu.Unlock()
			closeAll(toClose)
			go p.dialSpare()
			return best, nil
		case canDial:
			p.dialing = true
			p.mu.Unlock()
			closeAll(toClose)
			pc, err := p.dialOne(ctx)
			if pc != nil {
				return pc, nil
			}
			if err != nil {
				return nil, err
			}
			continue // the dial failed: the next pass reports it
		case best == nil && backingOff && !p.dialing && p.lastErr != nil:
			// No connection and the host is backing off after a failed
			// dial: fail fast with that error rather than hold the caller
			// (a scan, an action) for as long as the outage lasts. The
			// next call after the backoff dials again.
			err := p.lastErr
			p.mu.Unlock()
			closeAll(toClose)
			// A *DialError: it names the host and address, and
			// IsConnectionError holds for it unless it is permanent.
			return nil, err
		}
		// No connection yet: wait for a dial in progress, the end of the
		// backoff, or a call to finish.
		ch, wait, lastErr := p.changed, time.Until(p.retryAt), p.lastErr
		p.mu.Unlock()
		closeAll(toClose)
		if err := p.wait(ctx, ch, wait, lastErr); err != nil {
			return nil, err
		}
	}
}

// dialSpare dials a connection for the pool, not for a call (p.dialing is
// set by the caller). A failure is recorded for the backoff and logged, as
// any failed dial; the calls go on on the open connections.
func (p *Pool) dialSpare() {
	defer p.dials.Done()
	pc, _ := p.dialOne(p.closeCtx)
	if pc != nil {
		p.release(pc, nil) // dialOne counted it in flight for a caller
	}
}

// wait blocks until ch is closed, wait has passed (if positive), ctx ends
// or the pool closes.
func (p *Pool) wait(ctx context.Context, ch <-chan struct{}, wait time.Duration, lastErr error) error {
	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ch:
	case <-timer:
	case <-p.closeCtx.Done():
		return ErrPoolClosed
	case <-ctx.Done():
		if lastErr != nil {
			return fmt.Errorf("host %q: gave up waiting for a connection: %w; last dial: %w", p.host, ctx.Err(), lastErr)
		}
		return ctx.Err()
	}
	return nil
}

// dialOne dials one connection, with p.dialing set by the caller. It
// returns the new connection (counted in flight for the caller), or an
// error to return to the caller, or neither when the caller should wait
// for the backoff and try again.
func (p *Pool) dialOne(ctx context.Context) (*poolConn, error) {
	dctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.closeCtx, cancel)
	c, dead, err := dial(dctx, p.cfg, p.log)
	stop()
	cancel()

	var discard *Client // closed after the lock is released
	defer func() {
		if discard != nil {
			discard.Close()
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dialing = false
	p.notifyLocked()
	if err == nil {
		p.countDial("ok")
		if p.closed {
			discard = c
			return nil, ErrPoolClosed
		}
		if p.noReader != nil {
			c.lister.disable(p.noReader)
		}
		pc := &poolConn{c: c, dead: dead, inflight: 1}
		p.conns = append(p.conns, pc)
		p.failures, p.retryAt, p.lastErr = 0, time.Time{}, nil
		p.setGaugeLocked()
		p.log.Info("connected", zap.Int("connections", len(p.conns)),
			zap.String("server_version", c.ServerVersion()))
		return pc, nil
	}
	p.countDial("error")
	if p.closed {
		return nil, ErrPoolClosed
	}
	if ctx.Err() != nil {
		// The caller gave up; that says nothing about the server.
		return nil, err
	}
	p.failures++
	backoff := backoffFor(p.failures)
	p.retryAt, p.lastErr = time.Now().Add(backoff), err
	if IsPermanentDialError(err) {
		p.log.Error("dial failed; not retrying until asked again", zap.Error(err))
		return nil, err
	}
	p.log.Warn("dial failed; will retry", zap.Error(err), zap.Int("attempt", p.failures),
		zap.Duration("backoff", backoff))
	return nil, nil
}

// release ends a call on pc; a connection error from fn drops pc. It
// reports whether the error came from a connection that the reader's
// channel open ended (the host is marked then, see markNoReaderLocked).
func (p *Pool) release(pc *poolConn, err error) (readerKilled bool) {
	p.mu.Lock()
	pc.inflight--
	if !pc.broken && (IsConnectionError(err) || pc.isDead()) {
		p.log.Warn("dropping broken connection", zap.Error(err))
		p.dropLocked(pc)
	}
	if IsConnectionError(err) && !p.keepReader && !p.closed {
		if kerr := pc.c.lister.killedConn(); kerr != nil {
			readerKilled = true
			p.markNoReaderLocked(kerr)
		}
	}
	closeNow := pc.broken && pc.inflight == 0
	p.notifyLocked()
	p.mu.Unlock()
	if closeNow {
		pc.close() //nolint:errcheck // it is broken already
	}
	return readerKilled
}

// markNoReaderLocked remembers that opening the pipelined reader's channel
// ended a connection to this host: its connections, open and future, list
// through pkg/sftp. Logged once per Pool. Only a refused channel followed
// by the end of the connection counts (dirlister.go): a connection lost
// with no refusal is the network, and stays a connection error.
func (p *Pool) markNoReaderLocked(cause error) {
	if p.noReader != nil {
		return
	}
	p.noReader = fmt.Errorf("host %q ended the connection when a second SSH channel was opened: %w", p.host, cause)
	for _, pc := range p.conns {
		pc.c.lister.disable(p.noReader)
	}
	p.log.Warn(fmt.Sprintf("host %q ended the connection when the directory reader opened a second SSH channel "+
		"(a server that allows one channel per connection, such as ProFTPD with SFTPMaxChannels 1); "+
		"listing through the sftp session's own channel on this host from now on", p.host), zap.Error(cause))
}

// reapLocked drops connections whose SSH connection ended while idle and
// returns those with no calls left, to close outside the lock.
func (p *Pool) reapLocked() []*poolConn {
	var idle []*poolConn
	for _, pc := range append([]*poolConn(nil), p.conns...) {
		if pc.isDead() {
			p.log.Info("connection closed by the server or keepalive; dropping it")
			p.dropLocked(pc)
			if pc.inflight == 0 {
				idle = append(idle, pc)
			}
		}
	}
	return idle
}

func (p *Pool) dropLocked(pc *poolConn) {
	pc.broken = true
	for i, q := range p.conns {
		if q == pc {
			p.conns = append(p.conns[:i], p.conns[i+1:]...)
			break
		}
	}
	p.setGaugeLocked()
}

func (p *Pool) leastLoadedLocked() *poolConn {
	var best *poolConn
	for _, pc := range p.conns {
		if best == nil || pc.inflight < best.inflight {
			best = pc
		}
	}
	return best
}

func (p *Pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Pool) setGaugeLocked() {
	if p.obs != nil {
		p.obs.SFTPConnectionsOpen(p.host, len(p.conns))
	}
}

func (p *Pool) countDial(result string) {
	if p.obs != nil {
		p.obs.SFTPDial(p.host, result)
	}
}

// Stats returns the connections open now and the error of the last dial
// when it failed ("" after a successful one).
func (p *Pool) Stats() (conns int, lastDialError string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastErr != nil {
		lastDialError = p.lastErr.Error()
	}
	return len(p.conns), lastDialError
}

// Close closes every connection; calls still running see their requests
// fail, and later calls to Do return ErrPoolClosed. Close is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	conns := p.conns
	p.conns = nil
	for _, pc := range conns {
		pc.broken = true
	}
	p.setGaugeLocked()
	p.notifyLocked()
	p.mu.Unlock()
	p.closeCancel()
	p.dials.Wait() // a background dial sees the pool closed and discards its connection

	var errs []error
	for _, pc := range conns {
		if err := pc.close(); err != nil && !IsConnectionError(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close connections to host %q: %w", p.host, err)
	}
	return nil
}

func closeAll(pcs []*poolConn) {
	for _, pc := range pcs {
		pc.close() //nolint:errcheck // dead already
	}
}

// backoffFor is the jittered wait after the n-th consecutive failure.
func backoffFor(n int) time.Duration {
	d := maxBackoff
	if n < 20 {
		d = min(maxBackoff, minBackoff<<(n-1))
	}
	return d/2 + rand.N(d/2+1)
}
