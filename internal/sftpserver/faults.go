package sftpserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// faults holds the fault-injection settings shared by every connection.
type faults struct {
	mu       sync.Mutex
	fail     map[string]error
	dropLeft int // requests still served before the drop; -1 = disarmed
	latency  time.Duration
	maxRead  int           // bytes a file read returns at most; 0 = no limit
	thaw     chan struct{} // while frozen: closed by Thaw; nil otherwise
	setstat  error         // every SETSTAT fails with it; nil = served
}

func (f *faults) init() {
	f.fail = make(map[string]error)
	f.dropLeft = -1
}

// FailPath makes every request on p (as the client names it, "/dir/file";
// relative paths are taken from "/") fail with err until it is cleared with a
// nil err. Listing, stat, lstat, open, readlink, realpath and commands whose
// source or target is p all fail. err is classified for the SFTP status:
// fs.ErrNotExist → SSH_FX_NO_SUCH_FILE, fs.ErrPermission →
// SSH_FX_PERMISSION_DENIED, anything else → SSH_FX_FAILURE with err's text.
func (s *Server) FailPath(p string, err error) {
	p = cleanAbs(p)
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if err == nil {
		delete(s.faults.fail, p)
		return
	}
	s.faults.fail[p] = err
}

// DropAfter arms a one-shot drop: the next n SFTP requests (on any
// connection) are received normally, and when the one after them arrives the
// server closes that request's TCP connection abruptly, without answering it
// and without an SSH disconnect message. Answers still in flight may be lost,
// as on a real broken link. A negative n disarms it.
func (s *Server) DropAfter(n int) {
	if n < 0 {
		n = -1
	}
	s.faults.mu.Lock()
	s.faults.dropLeft = n
	s.faults.mu.Unlock()
}

// SetLatency delays every incoming request by d before the server sees it.
// Each request is delayed independently from its arrival, like a link with a
// one-way latency of d: concurrent requests overlap instead of queueing
// behind each other's delay.
func (s *Server) SetLatency(d time.Duration) {
	if d < 0 {
		d = 0
	}
	s.faults.mu.Lock()
	s.faults.latency = d
	s.faults.mu.Unlock()
}

// ShortReads makes every read of a file's content (SSH_FXP_READ) return at
// most n bytes, even when more were asked for and the file has them: the
// DATA reply is short although the file goes on, as from a server that
// caps reads below the client's request size. n <= 0 lifts the cap. It
// applies to reads made after the call, on files open or not.
func (s *Server) ShortReads(n int) {
	s.faults.mu.Lock()
	s.faults.maxRead = max(n, 0)
	s.faults.mu.Unlock()
}

// Freeze makes the server stop serving SFTP, like an sftp-server that is
// stopped or blocked on a dead mount: requests (on every session, new
// ones included) are received and queued, but none is handed to the
// request server, so none is answered, until Thaw. The SSH connection
// lives on: keepalives, channel and exec requests are answered. Requests
// being served when Freeze is called are answered.
func (s *Server) Freeze() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.thaw == nil {
		s.faults.thaw = make(chan struct{})
	}
}

// Thaw ends Freeze: the queued requests are served in order.
func (s *Server) Thaw() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.thaw != nil {
		close(s.faults.thaw)
		s.faults.thaw = nil
	}
}

// frozen is closed by Thaw while the server is frozen, nil otherwise.
func (f *faults) frozen() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.thaw
}

// RefuseSetstat makes every SETSTAT (chmod, chown, times, truncate by
// path) on every path fail with err, classified as for FailPath, as on
// servers that never let clients set attributes; a nil err serves them
// again. Creating files and directories still works.
func (s *Server) RefuseSetstat(err error) {
	s.faults.mu.Lock()
	s.faults.setstat = err
	s.faults.mu.Unlock()
}

// checkSetstat returns the RefuseSetstat error for p, or nil.
func (f *faults) checkSetstat(p string) error {
	f.mu.Lock()
	err := f.setstat
	f.mu.Unlock()
	if err == nil {
		return nil
	}
	return statusError(p, err)
}

// readCap is the ShortReads limit, 0 for none.
func (f *faults) readCap() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxRead
}

// shortReader is an open file whose reads obey ShortReads.
type shortReader struct {
	f      *os.File
	faults *faults
}

func (r shortReader) ReadAt(p []byte, off int64) (int, error) {
	if c := r.faults.readCap(); c > 0 && len(p) > c {
		p = p[:c]
	}
	return r.f.ReadAt(p, off)
}

// Close closes the file (the request server calls it on SSH_FXP_CLOSE).
func (r shortReader) Close() error { return r.f.Close() }

// check returns the injected error for p, or nil.
func (f *faults) check(p string) error {
	f.mu.Lock()
	err, ok := f.fail[p]
	f.mu.Unlock()
	if !ok {
		return nil
	}
	return statusError(p, err)
}

// onPacket accounts one received request.
func (f *faults) onPacket() (drop bool, latency time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dropLeft == 0 {
		f.dropLeft = -1
		return true, 0
	}
	if f.dropLeft > 0 {
		f.dropLeft--
	}
	return false, f.latency
}

// statusError shapes err so that pkg/sftp's request server sends the status
// code matching its classification.
func statusError(p string, err error) error {
	var errno syscall.Errno
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &os.PathError{Op: "sftp", Path: p, Err: syscall.ENOENT}
	case errors.Is(err, fs.ErrPermission):
		return &os.PathError{Op: "sftp", Path: p, Err: syscall.EACCES}
	case errors.As(err, &errno):
		return &os.PathError{Op: "sftp", Path: p, Err: errno}
	default:
		return fmt.Errorf("%s: %w", p, err)
	}
}

func cleanAbs(p string) string { return path.Clean("/" + p) }

// maxPacket bounds one incoming SFTP packet; pkg/sftp's own limit is 256 KiB.
const maxPacket = 256*1024 + 1024

// faultConn sits between the SSH channel and the SFTP request server. A pump
// goroutine frames the incoming byte stream into SFTP packets, counts them,
// applies DropAfter, and queues each with its due time (arrival + latency);
// Read hands them to the request server no earlier than that. Writes go
// straight to the channel.
type faultConn struct {
	ch  ssh.Channel
	nc  net.Conn
	srv *Server

	q        chan chunk
	done     chan struct{}
	pumpDone chan struct{}
	once     sync.Once

	cur []byte // only touched by Read, which the request server calls from one goroutine

	wmu   sync.Mutex // serialises Write with end
	ended bool
}

type chunk struct {
	data []byte
	due  time.Time
}

func newFaultConn(ch ssh.Channel, nc net.Conn, srv *Server) *faultConn {
	c := &faultConn{
		ch:       ch,
		nc:       nc,
		srv:      srv,
		q:        make(chan chunk, 4096),
		done:     make(chan struct{}),
		pumpDone: make(chan struct{}),
	}
	go c.pump()
	return c
}

func (c *faultConn) pump() {
	defer close(c.pumpDone)
	defer close(c.q)
	var hdr [4]byte
	var last time.Time
	for {
		if _, err := io.ReadFull(c.ch, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 || n > maxPacket {
			c.nc.Close()
			return
		}
		buf := make([]byte, 4+int(n))
		copy(buf, hdr[:])
		if _, err := io.ReadFull(c.ch, buf[4:]); err != nil {
			return
		}
		c.srv.requests.Add(1)
		drop, lat := c.srv.faults.onPacket()
		if drop {
			if tc, ok := c.nc.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // reset, like a broken link
			}
			c.nc.Close()
			return
		}
		due := time.Now().Add(lat)
		if due.Before(last) {
			due = last // keep the stream in order when the latency shrinks
		}
		last = due
		select {
		case c.q <- chunk{data: buf, due: due}:
		case <-c.done:
			return
		}
	}
}

func (c *faultConn) Read(p []byte) (int, error) {
	if len(c.cur) == 0 {
		var ck chunk
		var ok bool
		select {
		case ck, ok = <-c.q:
		case <-c.done:
		}
		if !ok {
			return 0, io.EOF
		}
		if wait := time.Until(ck.due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.done:
				t.Stop()
				return 0, io.EOF
			}
		}
		if thaw := c.srv.faults.frozen(); thaw != nil {
			select {
			case <-thaw:
			case <-c.done:
				return 0, io.EOF
			}
		}
		c.cur = ck.data
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// Write sends p to the client, unless the session was ended (end): the
// request server's writer may still answer after Serve returned.
func (c *faultConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ended {
		return 0, io.ErrClosedPipe
	}
	return c.ch.Write(p)
}

// end sends the exit-status and EOF, after which Write fails; no write
// runs concurrently with it.
func (c *faultConn) end(status uint32) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ended = true
	_, _ = c.ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
	_ = c.ch.CloseWrite()
}

// Close stops handing packets to the request server (its Read returns
// EOF). The channel stays open, for the exit-status: its owner closes it.
func (c *faultConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// wait blocks until the pump goroutine has exited; call after Close and
// after closing the channel.
func (c *faultConn) wait() { <-c.pumpDone }
