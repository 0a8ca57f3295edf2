package sftp3

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Conn is a small SFTP v3 client that lists directories (List) and
// downloads files (Download, download.go), on its own "sftp" subsystem
// channel of an SSH connection. pkg/sftp's ReadDirContext
// costs 4 sequential round trips for a directory of up to ~100 entries
// (OPENDIR, READDIR, READDIR answering EOF, CLOSE, whose answer it waits
// for) and allocates a longname string and two structs per entry. Here a
// listing costs 2 round trips: OPENDIR, then two READDIRs at once (one
// more per data reply until one says EOF), then a CLOSE whose answer
// nobody waits for.
//
// Many goroutines list concurrently on one Conn: requests carry ids,
// one mutex serialises the writes, and one goroutine (run) reads every
// reply and hands it to the listing waiting for that id; replies nobody
// waits for (CLOSE, requests of a cancelled listing) are dropped. When the
// channel fails (EOF, a read error, a reply that is not SFTP) every
// waiter, and every later request, fails with the channel's error
// (ErrProtocol, ErrClosed or the transport's): the connection is lost.
type Conn struct {
	ch ssh.Channel

	wmu     sync.Mutex
	queued  []byte // whole request packets waiting to be written
	spare   []byte // the last buffer written, reused for the next queue
	writing bool   // a goroutine is writing; it writes what is queued meanwhile too

	flushTimer *time.Timer // writes queued CLOSEs nobody else wrote (closeHandle)
	flushArmed bool        // under wmu: flushTimer is set

	mu      sync.Mutex
	nextID  uint32
	pending map[uint32]*replyWaiter
	err     error         // why the reader broke; set once, with done closed
	done    chan struct{} // closed when the reader broke or was closed

	orphan *replyWaiter   // marks an OPENDIR or OPEN whose caller gave up: close the handle it gets
	wg     sync.WaitGroup // run

	limits limitsState // the read size of downloads (limits.go)
	bufs   sync.Pool   // buffers of large replies, reused (download.go)
}

// Packet types (SFTP v3).
const (
	fxpInit    = 1
	fxpVersion = 2
	fxpClose   = 4
	fxpOpenDir = 11
	fxpReadDir = 12
	fxpStatus  = 101
	fxpHandle  = 102
	fxpName    = 104
)

// maxReplyPacket bounds a reply the reader accepts (length field included
// in the count, not in the limit): 1 MiB of payload. OpenSSH sends at most
// 256 KiB. A bigger length is a protocol error that breaks the reader.
const maxReplyPacket = 1<<20 + 1024

// replyBuffer is the capacity of a listing's reply channel: a listing
// never has more than two requests unanswered, so the reader never blocks
// handing over a reply.
const replyBuffer = 2

// reply is one answer: its type and the payload after the id. The payload
// belongs to the receiver.
type reply struct {
	typ     byte
	id      uint32
	payload []byte
	buf     *[]byte // the pooled buffer payload lies in (putReplyBuf), or nil
}

type replyWaiter struct {
	ch chan reply
}

// Open opens a session channel on sshc and starts a reader on it
// (New). A refusal by the server (the channel or the subsystem
// refused, an unusable VERSION) is returned as ErrUnavailable; anything else
// is the connection's failure or ctx's.
func Open(ctx context.Context, sshc *ssh.Client) (*Conn, error) {
	ch, reqs, err := sshc.OpenChannel("session", nil)
	if err != nil {
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			return nil, fmt.Errorf("%w: open session channel: %w", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("open session channel: %w", err)
	}
	go ssh.DiscardRequests(reqs)
	return New(ctx, ch)
}

// New starts the sftp subsystem on session channel ch, agrees on
// version 3 and starts reading replies. ctx bounds the exchange; on error
// ch is closed.
func New(ctx context.Context, ch ssh.Channel) (*Conn, error) {
	// Cut the exchange when ctx ends: every blocked read or write returns.
	stop := context.AfterFunc(ctx, func() { ch.Close() })
	r, err := start(ch)
	if !stop() {
		err = errors.Join(ctx.Err(), err)
	}
	if err != nil {
		ch.Close()
		return nil, err
	}
	r.wg.Add(1)
	go r.run(bufio.NewReaderSize(ch, 64<<10))
	return r, nil
}

// start requests the subsystem and exchanges INIT and VERSION.
func start(ch ssh.Channel) (*Conn, error) {
	go io.Copy(io.Discard, ch.Stderr()) //nolint:errcheck // ends with the channel
	ok, err := ch.SendRequest("subsystem", true, ssh.Marshal(struct{ Name string }{"sftp"}))
	if err != nil {
		return nil, fmt.Errorf("start sftp subsystem: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: the server refused the sftp subsystem", ErrUnavailable)
	}
	init := []byte{0, 0, 0, 5, fxpInit, 0, 0, 0, 3}
	if _, err := ch.Write(init); err != nil {
		return nil, fmt.Errorf("send sftp init: %w", err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(ch, hdr[:]); err != nil {
		return nil, fmt.Errorf("read sftp version: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 5 || n > maxReplyPacket {
		return nil, fmt.Errorf("%w: sftp version packet of %d bytes", ErrUnavailable, n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(ch, p); err != nil {
		return nil, fmt.Errorf("read sftp version: %w", err)
	}
	if p[0] != fxpVersion {
		return nil, fmt.Errorf("%w: packet type %d instead of version", ErrUnavailable, p[0])
	}
	if v := binary.BigEndian.Uint32(p[1:5]); v < 3 {
		return nil, fmt.Errorf("%w: server speaks sftp version %d", ErrUnavailable, v)
	}
	r := &Conn{ch: ch, pending: make(map[uint32]*replyWaiter), done: make(chan struct{})}
	r.limits.offered = hasExtension(p[5:], extLimits)
	r.limits.ready = make(chan struct{})
	r.orphan = &replyWaiter{}
	r.flushTimer = time.AfterFunc(time.Hour, r.flush)
	r.flushTimer.Stop()
	return r, nil
}

// ErrUnavailable means the server does not offer what Conn needs (a second
// session channel, the sftp subsystem, version 3); callers use another
// client instead.
var ErrUnavailable = errors.New("pipelined directory reader unavailable")

// ErrClosed is why requests fail after Close.
var ErrClosed = fmt.Errorf("directory reader: %w", net.ErrClosed)

// Close ends the channel; the reader goroutine and every waiter stop.
func (r *Conn) Close() {
	r.fail(ErrClosed)
	r.flushTimer.Stop()
	r.ch.Close()
}

// Wait returns when the reader goroutine is done.
func (r *Conn) Wait() { r.wg.Wait() }

// Broken reports whether the reader can no longer be used.
func (r *Conn) Broken() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// fail records why the reader broke (the first reason wins), wakes every
// waiter and drops their requests.
func (r *Conn) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	r.err = fmt.Errorf("pipelined sftp channel: %w", err)
	close(r.done)
	clear(r.pending)
}

// failure is the error waiters report once done is closed.
func (r *Conn) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// run reads replies until the channel fails, handing each to its waiter.
func (r *Conn) run(br *bufio.Reader) {
	defer r.wg.Done()
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			r.fail(err)
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n < 5 || n > maxReplyPacket {
			r.fail(fmt.Errorf("%w: reply of %d bytes", ErrProtocol, n))
			r.ch.Close()
			return
		}
		p, buf := r.replyBuf(int(n))
		if _, err := io.ReadFull(br, p); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			r.fail(err)
			return
		}
		rep := reply{typ: p[0], id: binary.BigEndian.Uint32(p[1:5]), payload: p[5:], buf: buf}
		r.mu.Lock()
		w, ok := r.pending[rep.id]
		if ok {
			delete(r.pending, rep.id)
			if w != r.orphan {
				w.ch <- rep // never blocks: see replyBuffer
			}
		}
		r.mu.Unlock()
		if ok && w == r.orphan && rep.typ == fxpHandle {
			if h, err := handleOf(rep.payload); err == nil {
				r.closeHandle(h) // queued, not written: a write may wait for the server, which may wait for us to read
			}
		}
		if !ok || w == r.orphan {
			r.putReplyBuf(rep.buf) // nobody else has seen it
		}
	}
}

// register fills ids with fresh request ids whose replies go to w; with a
// nil w the replies are dropped.
func (r *Conn) register(w *replyWaiter, ids []uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	for i := range ids {
		r.nextID++
		ids[i] = r.nextID
		if w != nil {
			r.pending[r.nextID] = w
		}
	}
	return nil
}

// abandon stops waiting for ids: their replies will be dropped.
func (r *Conn) abandon(ids ...uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		delete(r.pending, id)
	}
}

// orphanOpen hands a pending OPENDIR over to the reader: when its HANDLE
// arrives the handle is closed. It reports false if the reply was already
// handed to the listing (or the reader broke).
func (r *Conn) orphanOpen(id uint32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[id]; !ok {
		return false
	}
	r.pending[id] = r.orphan
	return true
}

// appendRequest appends one request packet with one string argument.
func appendRequest(b []byte, typ byte, id uint32, arg []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+4+4+len(arg)))
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint32(b, uint32(len(arg)))
	return append(b, arg...)
}

// send queues requests of one type, each with its id and one string
// argument, and writes them. Writes are grouped: while one goroutine
// writes, others queue their packets and return, and the writer sends
// everything queued meanwhile in its next write. A failed write breaks the
// reader; every waiter learns it from done.
func (r *Conn) send(typ byte, ids []uint32, arg []byte) error {
	r.wmu.Lock()
	for _, id := range ids {
		r.queued = appendRequest(r.queued, typ, id, arg)
	}
	return r.writeQueuedLocked()
}

// writeQueuedLocked writes the queue unless another goroutine is writing
// (it will write it). Called with wmu held; it returns with wmu released.
func (r *Conn) writeQueuedLocked() error {
	if r.writing {
		r.wmu.Unlock()
		return nil // the goroutine writing now sends these next
	}
	r.writing = true
	for len(r.queued) > 0 {
		b := r.queued
		r.queued = r.spare[:0]
		r.wmu.Unlock()
		_, err := r.ch.Write(b) // the channel copies b
		r.wmu.Lock()
		r.spare = b
		if err != nil {
			r.writing = false
			r.queued = r.queued[:0]
			r.wmu.Unlock()
			r.fail(err)
			r.ch.Close()
			return r.failure()
		}
	}
	r.writing = false
	r.wmu.Unlock()
	return nil
}

// closeDelay is how long a CLOSE may wait in the queue for a request to
// ride with: in a walk the next OPENDIR comes sooner, and the CLOSE costs
// no SSH packet of its own.
const closeDelay = time.Millisecond

// closeHandle queues a CLOSE for handle; its answer is dropped. It never
// blocks: the CLOSE goes out with the next request written, or from the
// flush timer after closeDelay.
func (r *Conn) closeHandle(handle []byte) {
	ids := []uint32{0}
	if r.register(nil, ids) != nil {
		return // broken: the server drops the session's handles with it
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.queued = appendRequest(r.queued, fxpClose, ids[0], handle)
	if !r.writing && !r.flushArmed {
		r.flushArmed = true
		r.flushTimer.Reset(closeDelay)
	}
}

// flush writes what is queued (the flush timer's function).
func (r *Conn) flush() {
	r.wmu.Lock()
	r.flushArmed = false
	r.writeQueuedLocked() //nolint:errcheck // a failure breaks the reader, which reports it
}

// handleOf decodes a HANDLE payload.
func handleOf(p []byte) ([]byte, error) {
	d := decoder{b: p}
	h := d.bytes()
	if d.err != nil {
		return nil, d.err
	}
	return h, nil
}
