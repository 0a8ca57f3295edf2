package sftpconn

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/sftp3"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpserver"
)

// inProcessConfig is a HostConfig for the embedded server.
func inProcessConfig(s *sftpserver.Server, requestTimeout time.Duration) HostConfig {
	return HostConfig{
		Name: "inprocess", Address: s.Addr(), User: fxUser, Password: fxPass,
		HostKeyFingerprint: ssh.FingerprintSHA256(s.HostKey()),
		RequestTimeout:     requestTimeout, ConnectTimeout: 5 * time.Second,
	}
}

// frozenFS is the embedded server with a Client whose requests time out
// after timeout; the server is thawed when the test ends.
func frozenFS(t *testing.T, timeout time.Duration) (*sftpserver.Server, string, *Client) {
	t.Helper()
	s, root := startInProcess(t)
	t.Cleanup(s.Thaw)
	c := dialInProcess(t, s)
	c.watchRequests("inprocess", timeout, zaptest.NewLogger(t))
	return s, root, c
}

// wantTimeout checks that err is the request timeout of op on host
// "inprocess" after timeout.
func wantTimeout(t *testing.T, err error, op string, timeout time.Duration) {
	t.Helper()
	var te *RequestTimeoutError
	if !errors.As(err, &te) || !IsConnectionError(err) {
		t.Fatalf("%s: err = %v, want a *RequestTimeoutError (a connection error)", op, err)
	}
	want := `no reply from host "inprocess" within request_timeout ` + timeout.String() + "; connection closed"
	if !strings.HasPrefix(err.Error(), op+": ") || !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: err = %q, want it to start with the operation and say %q", op, err, want)
	}
}

// result runs f in a goroutine and returns its error once it returns,
// failing the test when it takes longer than limit.
func result(t *testing.T, limit time.Duration, f func() error) (error, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err, time.Since(start)
	case <-time.After(limit):
		t.Fatalf("still waiting after %v", limit)
		return nil, 0
	}
}

// TestRequestTimeoutFrozenServer: on a server that stops answering SFTP
// while SSH lives on, a pkg/sftp request (Lstat) and a listing on the
// pipelined reader both fail after the request timeout with a
// *RequestTimeoutError naming the operation and path, and the SSH
// connection is closed.
func TestRequestTimeoutFrozenServer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s, root, c := frozenFS(t, timeout)
	if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.ReadDir(ctx, "/d"); err != nil { // opens the pipelined reader
		t.Fatal(err)
	}
	s.Freeze()
	listed := make(chan error, 1)
	go func() {
		_, err := c.ReadDir(ctx, "/d")
		listed <- err
	}()
	err, took := result(t, 10*time.Second, func() error {
		_, err := c.Lstat(ctx, "/d")
		return err
	})
	wantTimeout(t, err, `lstat "/d"`, timeout)
	if took < timeout {
		t.Errorf("Lstat failed after %v, before the request timeout %v", took, timeout)
	}
	err, _ = result(t, 10*time.Second, func() error { return <-listed })
	wantTimeout(t, err, `list "/d"`, timeout)
	if _, _, err := c.SSH().SendRequest("keepalive@openssh.com", true, nil); err == nil {
		t.Error("the SSH connection is still open after the request timeout")
	}
}

// TestRequestTimeoutPoolRedials: through a Pool, the timed-out request is
// a connection error, the connection is dropped, and once the server
// answers again the next call dials a new connection and succeeds.
func TestRequestTimeoutPoolRedials(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s, _ := startInProcess(t)
	t.Cleanup(s.Thaw)
	m := newMetrics()
	pool := NewPool(inProcessConfig(s, timeout), zaptest.NewLogger(t), m)
	defer pool.Close()
	ctx := context.Background()
	if _, err := pool.Stat(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	s.Freeze()
	err, _ := result(t, 10*time.Second, func() error {
		_, err := pool.Stat(ctx, "/")
		return err
	})
	wantTimeout(t, err, `stat "/"`, timeout)
	var ce *ConnectionError
	if errors.As(err, &ce) {
		t.Errorf("err = %q: wrapped in a ConnectionError that names the host twice", err)
	}
	s.Thaw()
	if _, err := pool.Stat(ctx, "/"); err != nil {
		t.Fatalf("Stat after the server recovered: %v", err)
	}
	if got := promtest.ToFloat64(m.SFTPDialsTotal.WithLabelValues("inprocess", "ok")); got != 2 {
		t.Errorf("dials = %v, want 2 (the timed-out connection was replaced)", got)
	}
}

// TestContextDeadlineKeepsConnection: a call whose own context ends while
// the server is slow returns the context's error, which is not a
// connection error: the pool keeps the connection.
func TestContextDeadlineKeepsConnection(t *testing.T) {
	s, _ := startInProcess(t)
	t.Cleanup(s.Thaw)
	m := newMetrics()
	pool := NewPool(inProcessConfig(s, time.Minute), zaptest.NewLogger(t), m)
	defer pool.Close()
	if _, err := pool.ReadDir(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
	s.Freeze()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := pool.ReadDir(ctx, "/")
	if !errors.Is(err, context.DeadlineExceeded) || IsConnectionError(err) {
		t.Fatalf("ReadDir with an ended context: err = %v, want context.DeadlineExceeded, not a connection error", err)
	}
	s.Thaw()
	if _, err := pool.ReadDir(context.Background(), "/"); err != nil {
		t.Fatal(err)
	}
	if got := promtest.ToFloat64(m.SFTPDialsTotal.WithLabelValues("inprocess", "ok")); got != 1 {
		t.Errorf("dials = %v, want 1: the connection was dropped for a context deadline", got)
	}
}

// TestRequestTimeoutSparesLongDownloads: the deadline is per request, not
// per transfer: a download that takes many times the request timeout
// (each READ answered in well under it) completes, on the pipelined
// reader and on pkg/sftp's, and so does one whose local writes are slow.
func TestRequestTimeoutSparesLongDownloads(t *testing.T) {
	const timeout = time.Second
	s, root, c := frozenFS(t, timeout)
	want := make([]byte, 1<<20)
	rand.Read(want)
	if err := os.WriteFile(filepath.Join(root, "big"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(name string, w io.Writer, got *bytes.Buffer, minTook time.Duration) {
		t.Helper()
		err, took := result(t, 60*time.Second, func() error {
			_, err := c.GetTo(ctx, "/big", w, nil)
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%s: got %d bytes, not the file's %d", name, got.Len(), len(want))
		}
		if took < minTook {
			t.Fatalf("%s took %v: too fast to show anything", name, took)
		}
	}

	// 250 ms per request, 4 KiB per READ: ~256 KiB per round trip, 4+
	// round trips for the MiB.
	s.SetLatency(250 * time.Millisecond)
	s.ShortReads(4 << 10)
	var got bytes.Buffer
	check("pipelined", &got, &got, 2*timeout)

	c.lister.mu.Lock()
	c.lister.off = sftp3.ErrUnavailable // as on a server refusing the second channel
	c.lister.mu.Unlock()
	got.Reset()
	check("pkg/sftp", &got, &got, 2*timeout)

	// Local writes that take longer than the timeout hold the clock.
	s.SetLatency(0)
	s.ShortReads(0)
	got.Reset()
	check("slow writer", &slowWriter{w: &got, pause: 3 * timeout / 2}, &got, timeout)
}

// slowWriter takes pause for its first write, like a local disk stalling.
type slowWriter struct {
	w      io.Writer
	pause  time.Duration
	paused bool
}

func (w *slowWriter) Write(p []byte) (int, error) {
	if !w.paused {
		w.paused = true
		time.Sleep(w.pause)
	}
	return w.w.Write(p)
}

// TestCloseFrozenServer: Close returns on a server that stopped answering,
// and a request waiting on it fails.
func TestCloseFrozenServer(t *testing.T) {
	s, _ := startInProcess(t)
	t.Cleanup(s.Thaw)
	c := dialInProcess(t, s)
	s.Freeze()
	before := s.Requests()
	stat := make(chan error, 1)
	go func() {
		_, err := c.Lstat(context.Background(), "/")
		stat <- err
	}()
	poll(t, 10*time.Second, "the LSTAT to reach the server", func() bool { return s.Requests() > before })
	err, _ := result(t, 10*time.Second, c.Close)
	if err != nil {
		t.Errorf("Close: %v", err)
	}
	err, _ = result(t, 10*time.Second, func() error { return <-stat })
	if !IsConnectionError(err) {
		t.Errorf("Lstat on the closed client: err = %v, want a connection error", err)
	}
}
