package sftpconn

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// poll waits until cond holds, failing the test after d.
func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proxied is keyConfig dialling s through a counting proxy.
func proxied(t *testing.T, s *sshdtest.Server) (HostConfig, *sshdtest.Proxy) {
	p := sshdtest.NewProxy(t, s.Addr)
	cfg := keyConfig(s)
	cfg.Address = p.Addr
	cfg.KnownHostsFile, cfg.HostKeyFingerprint = "", s.HostKeyFingerprint
	return cfg, p
}

func newMetrics() *metrics.Metrics { return metrics.New(prometheus.NewRegistry(), "test") }

func TestPoolLimits(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	cfg, proxy := proxied(t, s)
	cfg.MaxConnections, cfg.MaxConcurrentRequests = 2, 8 // 4 calls per connection before a second dial
	m := newMetrics()
	pool := NewPool(cfg, zaptest.NewLogger(t), m)
	defer pool.Close()
	if pool.Host() != "partner" {
		t.Errorf("Host() = %q", pool.Host())
	}

	var inFn, maxInFn atomic.Int32
	var clientsMu sync.Mutex
	clients := map[*Client]int{} // calls seen per connection
	release := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	start := func(n int) {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- pool.Do(context.Background(), func(c *Client) error {
					clientsMu.Lock()
					clients[c]++
					clientsMu.Unlock()
					cur := inFn.Add(1)
					defer inFn.Add(-1)
					for old := maxInFn.Load(); cur > old && !maxInFn.CompareAndSwap(old, cur); old = maxInFn.Load() {
					}
					if _, err := c.SFTP().Stat(s.Root); err != nil {
						return err
					}
					<-release
					return nil
				})
			}()
		}
	}
	start(4)
	poll(t, 20*time.Second, "4 calls in flight", func() bool { return inFn.Load() == 4 })
	if n := proxy.Accepted(); n != 1 {
		t.Errorf("4 calls (≤ 8/2 per connection) opened %d connections, want 1", n)
	}
	start(1)
	poll(t, 20*time.Second, "5 calls in flight", func() bool { return inFn.Load() == 5 })
	clientsMu.Lock()
	if len(clients) != 1 {
		t.Errorf("the 5th call ran on a new connection; it should share the open one while the next is dialled")
	}
	clientsMu.Unlock()
	poll(t, 20*time.Second, "a second connection dialled in the background", func() bool { return proxy.Accepted() == 2 })
	poll(t, 20*time.Second, "the second connection in the pool", func() bool {
		return promtest.ToFloat64(m.SFTPConnections.WithLabelValues("partner")) == 2
	})
	start(7) // 12 calls wanted, 8 allowed
	poll(t, 20*time.Second, "8 calls in flight", func() bool { return inFn.Load() == 8 })
	time.Sleep(200 * time.Millisecond) // a window for a 9th call to (wrongly) get in
	if n := inFn.Load(); n != 8 {
		t.Errorf("%d calls in flight, MaxConcurrentRequests is 8", n)
	}
	if g := promtest.ToFloat64(m.SFTPConnections.WithLabelValues("partner")); g != 2 {
		t.Errorf("connections gauge %v, want 2", g)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Do: %v", err)
		}
	}
	if got := maxInFn.Load(); got != 8 {
		t.Errorf("max calls in flight %d, want 8", got)
	}
	if got := proxy.MaxActive(); got != 2 {
		t.Errorf("max connections %d, want 2", got)
	}
	if ok := promtest.ToFloat64(m.SFTPDialsTotal.WithLabelValues("partner", "ok")); ok != 2 {
		t.Errorf("dials ok = %v, want 2", ok)
	}
}

func TestPoolCtxCancelUnblocksWaitingDo(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	cfg := keyConfig(s)
	cfg.MaxConcurrentRequests = 1
	pool := NewPool(cfg, zap.NewNop(), nil) // nil metrics are fine
	defer pool.Close()

	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- pool.Do(context.Background(), func(*Client) error { close(entered); <-release; return nil })
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := pool.Do(ctx, func(*Client) error { t.Error("fn ran without a free slot"); return nil })
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("waiting Do: %v after %v", err, time.Since(start))
	}
	close(release)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestPoolRedialsAfterConnectionLoss(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t)
	cfg, proxy := proxied(t, s)
	pool := NewPool(cfg, zaptest.NewLogger(t), nil)
	defer pool.Close()
	stat := func(ctx context.Context) error {
		return pool.Do(ctx, func(c *Client) error { _, err := c.SFTP().Stat(s.Root); return err })
	}
	if err := stat(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A call running when the connection is cut fails as a connection error.
	entered := make(chan struct{})
	running := make(chan error, 1)
	go func() {
		running <- pool.Do(context.Background(), func(c *Client) error {
			close(entered)
			for { // until the cut reaches this call
				if _, err := c.SFTP().Stat(s.Root); err != nil {
					return err
				}
			}
		})
	}()
	<-entered
	proxy.CloseConns()
	err := <-running
	var ce *ConnectionError
	if !IsConnectionError(err) || !errors.As(err, &ce) || ce.Host != "partner" {
		t.Fatalf("call on a cut connection: %v (%T)", err, err)
	}
	// The next call gets a fresh connection.
	if err := stat(context.Background()); err != nil {
		t.Fatalf("after the cut: %v", err)
	}
	if n := proxy.Accepted(); n != 2 {
		t.Errorf("%d connections accepted, want 2 (one redial)", n)
	}

	// An outage: calls fail fast (no call waits out the outage) and within
	// a backoff window without dialling again; after the restart the next
	// call past the backoff connects.
	s.Stop()
	m := newMetrics()
	pool2 := NewPool(cfg, zaptest.NewLogger(t), m)
	defer pool2.Close()
	do2 := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return pool2.Do(ctx, func(c *Client) error { _, err := c.SFTP().Stat(s.Root); return err })
	}
	if err := do2(); err == nil || !IsConnectionError(err) {
		t.Fatalf("during the outage: %v", err)
	}
	dials := promtest.ToFloat64(m.SFTPDialsTotal.WithLabelValues("partner", "error"))
	for i := 0; i < 20; i++ {
		if err := do2(); !IsConnectionError(err) {
			t.Fatalf("call %d during the outage: %v", i, err)
		}
	}
	if n := promtest.ToFloat64(m.SFTPDialsTotal.WithLabelValues("partner", "error")); n > dials+2 {
		t.Errorf("21 calls in a backoff window dialled %v times; want the backoff to hold them", n)
	}
	s.Restart()
	poll(t, 20*time.Second, "a call to succeed after the restart", func() bool { return do2() == nil })
	if err := stat(context.Background()); err != nil {
		t.Fatalf("first pool after the restart: %v", err)
	}
}

func TestPoolAuthErrorNotRetried(t *testing.T) {
	t.Parallel()
	s := sshdtest.Start(t, sshdtest.WithPassword())
	cfg := HostConfig{Name: "partner", Address: s.Addr, User: s.User, Password: "wrong", KnownHostsFile: s.KnownHostsFile}
	m := newMetrics()
	pool := NewPool(cfg, zap.NewNop(), m)
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := pool.Do(ctx, func(*Client) error { t.Error("fn ran"); return nil })
	if !IsAuthError(err) || IsConnectionError(err) {
		t.Fatalf("want an auth error, got %v", err)
	}
	if n := promtest.ToFloat64(m.SFTPDialsTotal.WithLabelValues("partner", "error")); n != 1 {
		t.Errorf("%v failed dials, want 1 (no retry)", n)
	}
	// Within the backoff window the same verdict comes back without a dial.
	if err := pool.Do(ctx, func(*Client) error { return nil }); !IsAuthError(err) {
		t.Errorf("second call: %v", err)
	}
}

// Not parallel: it counts the process's goroutines.
func TestPoolCloseIsClean(t *testing.T) {
	s := sshdtest.Start(t)
	baseline := runtime.NumGoroutine()
	cfg := keyConfig(s)
	cfg.MaxConnections, cfg.MaxConcurrentRequests, cfg.Keepalive = 3, 6, 100*time.Millisecond
	pool := NewPool(cfg, zap.NewNop(), nil)

	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pool.Do(context.Background(), func(c *Client) error {
				_, err := c.SFTP().ReadDir(s.Root)
				return err
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if runtime.NumGoroutine() <= baseline {
		t.Error("no goroutines while connections are open: the count proves nothing")
	}
	if err := pool.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := pool.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := pool.Do(context.Background(), func(*Client) error { return nil }); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Do after Close: %v", err)
	}
	poll(t, 10*time.Second, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

func TestBackoff(t *testing.T) {
	for n, max := range map[int]time.Duration{1: 200 * time.Millisecond, 2: 400 * time.Millisecond, 8: 25600 * time.Millisecond, 9: 30 * time.Second, 1000: 30 * time.Second} {
		for range 50 {
			if d := backoffFor(n); d < max/2 || d > max {
				t.Fatalf("backoffFor(%d) = %v, want in [%v, %v]", n, d, max/2, max)
			}
		}
	}
}
