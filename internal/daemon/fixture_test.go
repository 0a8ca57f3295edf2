package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpserver"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

const fxPass = "pw"

// fixture is a daemon over a real state store in a temporary directory and
// the embedded SFTP server (real SSH on loopback) serving another one. The
// server accepts any user name with fxPass, so that a host whose user
// changes still connects.
type fixture struct {
	t      *testing.T
	srv    *sftpserver.Server
	remote string // the served directory; watch w watches /w
	out    string // exec actions append the events of watch w to out/w
	store  *state.Store
	d      *Daemon

	mu    sync.Mutex
	scans map[string]int // scans reported per watch name
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, remote: t.TempDir(), out: t.TempDir(), scans: map[string]int{}}
	srv, err := sftpserver.Start(sftpserver.Options{Root: f.remote, Password: fxPass})
	if err != nil {
		t.Fatalf("sftpserver.Start: %v", err)
	}
	f.srv = srv
	t.Cleanup(func() { srv.Close() })
	st, err := state.Open(filepath.Join(t.TempDir(), "state"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.store = st
	t.Cleanup(func() { st.Close() })
	f.d = New(Deps{Store: st, OnScan: func(w, _ string) {
		f.mu.Lock()
		f.scans[w]++
		f.mu.Unlock()
	}})
	t.Cleanup(f.d.Stop) // registered last: runs before the store and server close
	return f
}

// host is one entry of hosts: for the fixture's server, reached at addr
// ("" = the server's address) as user.
func (f *fixture) host(name, addr, user string) string {
	if addr == "" {
		addr = f.srv.Addr()
	}
	return fmt.Sprintf("  %s: {address: %q, user: %q, password: %q, host_key_fingerprint: %q, connect_timeout: 5s}\n",
		name, addr, user, fxPass, f.srv.Fingerprint())
}

// watch is one entry of watches: name on host, watching /name every
// 100ms, its events appended to out/name by an exec action; extra are
// more keys, each line indented by four spaces.
func (f *fixture) watch(name, host, extra string) string {
	return f.watchActions(name, host, extra,
		fmt.Sprintf("      - {type: exec, command: [sh, -c, 'cat >> \"$0\"; echo >> \"$0\"', %q]}\n", filepath.Join(f.out, name)))
}

// watchActions is watch with the given actions: list entries.
func (f *fixture) watchActions(name, host, extra, actions string) string {
	if err := os.MkdirAll(filepath.Join(f.remote, name), 0o755); err != nil {
		f.t.Fatal(err)
	}
	return fmt.Sprintf("  - name: %s\n    host: %s\n    path: /%s\n    interval: 100ms\n    settle: 0s\n    types: [file]\n%s    actions:\n%s",
		name, host, name, extra, actions)
}

// config parses a config of the given hosts: and watches: entries.
func (f *fixture) config(shutdown time.Duration, hosts, watches string) *config.Config {
	f.t.Helper()
	doc := fmt.Sprintf("state_dir: %q\nshutdown_timeout: %s\nhttp: {listen: \"\"}\nhosts:\n%swatches:\n%s",
		filepath.Join(f.t.TempDir(), "unused"), shutdown, hosts, watches)
	c, err := config.Parse([]byte(doc), "test.yaml")
	if err != nil {
		f.t.Fatalf("config.Parse:\n%v\n%s", err, doc)
	}
	return c
}

func (f *fixture) scanCount(w string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scans[w]
}

// put writes remote file rel with an mtime in the past.
func (f *fixture) put(rel string) {
	f.t.Helper()
	p := filepath.Join(f.remote, filepath.FromSlash(rel))
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		f.t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		f.t.Fatal(err)
	}
}

// events is how many events of watch w for rel_path name the exec action
// saw.
func (f *fixture) events(w, name string) int {
	b, err := os.ReadFile(filepath.Join(f.out, w))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		f.t.Fatal(err)
	}
	return strings.Count(string(b), fmt.Sprintf(`"rel_path":%q`, name))
}

// waitEvent waits for watch w to deliver the event of file name once.
func (f *fixture) waitEvent(w, name string) {
	f.t.Helper()
	eventually(f.t, 10*time.Second, fmt.Sprintf("watch %s delivers the event of %s", w, name), func() bool {
		return f.events(w, name) > 0
	})
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isStopped reports whether the instance r has stopped.
func isStopped(r *running) bool {
	select {
	case <-r.stopped:
		return true
	default:
		return false
	}
}

// poolClosed reports whether p was closed: Do refuses to run.
func poolClosed(p *sftpconn.Pool) bool {
	err := p.Do(canceledCtx(), func(*sftpconn.Client) error { return nil })
	return errors.Is(err, sftpconn.ErrPoolClosed)
}

// snapshot is what the daemon runs: per watch the instance, per host the
// pool.
type snapshot struct {
	running map[string]*running
	pools   map[string]*sftpconn.Pool
}

func (f *fixture) snapshot() snapshot {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	s := snapshot{running: map[string]*running{}, pools: map[string]*sftpconn.Pool{}}
	for n, r := range f.d.running {
		s.running[n] = r
	}
	for n, p := range f.d.pools {
		s.pools[n] = p.pool
	}
	return s
}

// settledGoroutines waits until no more goroutines run than base, and
// fails with every goroutine's stack otherwise.
func settledGoroutines(t *testing.T, base int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines still running %v after stop, %d before start:\n%s",
				runtime.NumGoroutine(), timeout, base, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// canceledCtx is a context that is already done.
func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// sleepingExec is an exec action that never returns by itself, and the pid
// of its latest run (0 before the first). In config syntax $$ is a $.
func sleepingExec(t *testing.T) (actions string, pid func() int) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	actions = fmt.Sprintf("      - {type: exec, command: [sh, -c, 'echo $$$$ > \"$0.tmp\" && mv \"$0.tmp\" \"$0\"; exec sleep 1000', %q], timeout: 1h}\n", pidFile)
	return actions, func() int {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
}
