package sftpconn

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// The request deadline (HostConfig.RequestTimeout). A server whose SSH
// transport is alive but whose sftp-server is stuck (blocked on a dead NFS
// mount, stopped) answers keepalives and nothing else: without a deadline
// every request on its connection waits forever. Every request a Client
// sends therefore runs as a *request of the connection's requestWatch,
// which closes the SSH connection once one of them has seen no progress
// for the timeout: every request on the connection then fails, each with a
// *RequestTimeoutError, and the pool dials a new connection for the next
// call.
//
// Progress is a reply for a single request (stat, rename...), and for the
// streams that are many requests (a download, a directory listing, a find
// run) each piece of the answer: a 10 GB download is not timed as a
// whole. While the stream waits for us (the local write of a downloaded
// chunk, a find listing waiting for the scan to take it) its clock is
// held.

// RequestTimeoutError is why a request failed when the server left it
// unanswered for the request timeout and the connection was closed.
// IsConnectionError holds for it: the operation may succeed on a new
// connection.
type RequestTimeoutError struct {
	Host    string
	Timeout time.Duration
	Err     error // how the request failed when the connection closed
}

func (e *RequestTimeoutError) Error() string {
	return fmt.Sprintf("no reply from host %q within request_timeout %v; connection closed", e.Host, e.Timeout)
}

func (e *RequestTimeoutError) Unwrap() error { return e.Err }

// requestWatch times the requests of one connection. A nil *requestWatch
// times nothing (a Client over a bare pipe).
type requestWatch struct {
	host    string
	timeout time.Duration
	kill    func() // closes the connection
	epoch   time.Time

	mu      sync.Mutex
	reqs    map[*request]struct{}
	timer   *time.Timer
	armed   bool // timer is set
	expired bool // a request timed out and the connection was closed
}

// request is one request (or stream of requests) in flight.
type request struct {
	rw   *requestWatch
	last atomic.Int64 // rw.now() at the start or the last progress
	held atomic.Int32 // >0: waiting for us, not for the server
}

func newRequestWatch(host string, timeout time.Duration, kill func()) *requestWatch {
	rw := &requestWatch{host: host, timeout: timeout, kill: kill, epoch: time.Now(), reqs: make(map[*request]struct{})}
	rw.timer = time.AfterFunc(time.Hour, rw.check)
	rw.timer.Stop()
	return rw
}

// now is the monotonic time since the watch was made.
func (rw *requestWatch) now() int64 { return int64(time.Since(rw.epoch)) }

// start begins timing a request.
func (rw *requestWatch) start() *request {
	if rw == nil {
		return nil
	}
	rq := &request{rw: rw}
	rq.last.Store(rw.now())
	rw.mu.Lock()
	rw.reqs[rq] = struct{}{}
	if !rw.armed && !rw.expired {
		rw.armed = true
		rw.timer.Reset(rw.timeout)
	}
	rw.mu.Unlock()
	return rq
}

// check is the timer's function: it closes the connection when a request
// is overdue, and otherwise sets the timer for the next one that may be.
func (rw *requestWatch) check() {
	rw.mu.Lock()
	now := rw.now()
	next := time.Duration(-1)
	overdue := false
	for rq := range rw.reqs {
		left := rw.timeout
		if rq.held.Load() == 0 {
			left = time.Duration(rq.last.Load() + int64(rw.timeout) - now)
		}
		if left <= 0 {
			overdue = true
			break
		}
		if next < 0 || left < next {
			next = left
		}
	}
	switch {
	case overdue:
		rw.expired, rw.armed = true, false
	case next < 0:
		rw.armed = false
	default:
		rw.timer.Reset(next)
	}
	rw.mu.Unlock()
	if overdue {
		rw.kill()
	}
}

// touch records progress.
func (rq *request) touch() {
	if rq != nil {
		rq.last.Store(rq.rw.now())
	}
}

// hold stops the clock until release: the request waits for us.
func (rq *request) hold() {
	if rq != nil {
		rq.held.Add(1)
	}
}

// release restarts the clock stopped by hold, as progress.
func (rq *request) release() {
	if rq != nil {
		rq.touch()
		rq.held.Add(-1)
	}
}

// end stops timing the request and returns its error, as a
// *RequestTimeoutError when the watch closed the connection.
func (rq *request) end(err error) error {
	if rq == nil {
		return err
	}
	rw := rq.rw
	rw.mu.Lock()
	delete(rw.reqs, rq)
	expired := rw.expired
	rw.mu.Unlock()
	if expired && err != nil {
		return &RequestTimeoutError{Host: rw.host, Timeout: rw.timeout, Err: err}
	}
	return err
}

// timed runs f, one request to the server, under the request deadline.
func timed[A, T any](c *Client, f func(A) (T, error), a A) (T, error) {
	rq := c.watch.start()
	v, err := f(a)
	return v, rq.end(err)
}

// timed runs f, requests to the server, under the request deadline.
func (c *Client) timed(f func() error) error {
	rq := c.watch.start()
	return rq.end(f())
}

// progressWriter passes writes on to w, each as progress of rq: the clock
// is held while w writes.
type progressWriter struct {
	rq *request
	w  io.Writer
}

func (pw progressWriter) Write(p []byte) (int, error) {
	pw.rq.hold()
	defer pw.rq.release()
	return pw.w.Write(p)
}
