package poller_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpserver"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

const (
	fxUser = "watcher"
	fxPass = "pass word"
	// fxRoot is the watched remote directory; it is fixture.local/up.
	fxRoot = "/up"
)

// baseTime is the mtime test files get unless a test says otherwise.
var baseTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture is the embedded SFTP server (real SSH on loopback) serving a
// temporary directory, and a pool connected to it.
type fixture struct {
	srv    *sftpserver.Server
	signer ssh.Signer
	local  string // the served directory; the watch root is local/up
	pool   *sftpconn.Pool
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{signer: signer, local: t.TempDir()}
	if err := os.Mkdir(filepath.Join(f.local, "up"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.start(t, "")
	f.pool = sftpconn.NewPool(sftpconn.HostConfig{
		Name:               "h1",
		Address:            f.srv.Addr(),
		User:               fxUser,
		Password:           fxPass,
		HostKeyFingerprint: f.srv.Fingerprint(),
		ConnectTimeout:     5 * time.Second,
	}, zap.NewNop(), nil)
	t.Cleanup(func() { f.pool.Close() })
	return f
}

// start (re)starts the server on addr ("" = any port) with the fixture's
// host key.
func (f *fixture) start(t testing.TB, addr string) {
	t.Helper()
	srv, err := sftpserver.Start(sftpserver.Options{
		Root: f.local, Addr: addr, User: fxUser, Password: fxPass, HostKey: f.signer, Logger: zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("sftpserver.Start: %v", err)
	}
	f.srv = srv
	t.Cleanup(func() { srv.Close() })
}

func (f *fixture) lister() poller.Lister { return poller.SFTPLister{Doer: f.pool, Concurrency: 4} }

// path is the local path of rel under the watch root.
func (f *fixture) path(rel string) string {
	return filepath.Join(f.local, "up", filepath.FromSlash(rel))
}

// write creates or overwrites rel (parents created) with content, mode 0644
// and mtime mt.
func (f *fixture) write(t testing.TB, rel, content string, mt time.Time) {
	t.Helper()
	p := f.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
}

// mkdir creates directory rel with mode 0755 and mtime mt.
func (f *fixture) mkdir(t testing.TB, rel string, mt time.Time) {
	t.Helper()
	p := f.path(rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		t.Fatal(err)
	}
	f.touch(t, rel, mt)
}

func (f *fixture) touch(t testing.TB, rel string, mt time.Time) {
	t.Helper()
	if err := os.Chtimes(f.path(rel), mt, mt); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) remove(t testing.TB, rel string) {
	t.Helper()
	if err := os.Remove(f.path(rel)); err != nil {
		t.Fatal(err)
	}
}

// baseWatch is a watch of fxRoot with every field the poller reads set
// explicitly: recursive, no depth limit, no filters, every type, no
// settle, no min_age, baseline, every event type.
func baseWatch() config.Watch {
	return config.Watch{
		Name:      "w",
		Host:      "h1",
		Path:      fxRoot,
		Recursive: true,
		MaxDepth:  0,
		Types:     []string{"file", "dir", "symlink"},
		Interval:  time.Minute,
		Settle:    0,
		MinAge:    0,
		Initial:   "baseline",
		Events:    []string{"create", "modify", "delete"},
	}
}

// openStore opens a real bbolt state store in a fresh directory.
func openStore(t testing.TB) *state.Store {
	t.Helper()
	return openStoreIn(t, t.TempDir())
}

func openStoreIn(t testing.TB, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatalf("state.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// errInjected is the failure countingStore.failNext injects.
var errInjected = errors.New("injected commit failure")

// countingStore is the real store, counting Commit calls; failNext makes
// the next Commit fail before it reaches the store.
type countingStore struct {
	*state.Store
	commits  atomic.Int64
	failNext atomic.Bool
	failing  atomic.Bool // every Commit fails while set
}

var _ poller.Store = (*countingStore)(nil)

func (c *countingStore) LoadInto(watch string, l poller.SnapshotLoader) (*poller.Stored, error) {
	return poller.StateStore{Store: c.Store}.LoadInto(watch, l)
}

func (c *countingStore) Commit(watch string, b poller.Batch) ([]event.Event, error) {
	c.commits.Add(1)
	if c.failNext.CompareAndSwap(true, false) || c.failing.Load() {
		return nil, errInjected
	}
	return poller.StateStore{Store: c.Store}.Commit(watch, b)
}

// clock is an injectable scan clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock(t time.Time) *clock { return &clock{now: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// eventKeys returns "type rel_path" for each event, in order.
func eventKeys(evs []event.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.Type) + " " + e.RelPath
	}
	return out
}
