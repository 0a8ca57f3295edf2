package sftp3

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// Downloads on the client (conn.go): OPEN, then many READs
// of the server's read size in flight (limits.go), the data written to an
// io.Writer in order, then a CLOSE nobody waits for.
//
// A DATA reply shorter than the READ asked for is not the end of the file:
// the rest of that range is asked for again at once (servers may cap
// reads; pkg/sftp's File.WriteTo would leave a gap there). Only a STATUS
// EOF ends the file, at the offset of the READ it answered.

// Packet types of downloads (SFTP v3).
const (
	fxpOpen  = 3
	fxpRead  = 5
	fxpStat  = 17
	fxpData  = 103
	fxpAttrs = 105

	fxfRead = 0x00000001 // SSH_FXF_READ
)

// maxUnanswered bounds a download's READs unanswered at once, and sizes
// its reply channel: run never blocks handing it a reply.
const maxUnanswered = 64 + 2

// Reply buffers of READs at large read sizes are reused: a 256 MiB
// download at 255 KiB per READ otherwise allocates 256 MiB more, which the
// garbage collector then has to reclaim.
const (
	pooledReplyMin = 64 << 10                       // smaller replies are allocated
	pooledReplyCap = maxReadSize + dataOverhead + 4 // a DATA reply of maxReadSize, and its length
)

// replyBuf returns a buffer for a reply of n bytes, and its pool handle
// (nil when n is not pooled).
func (r *Conn) replyBuf(n int) ([]byte, *[]byte) {
	if n < pooledReplyMin || n > pooledReplyCap {
		return make([]byte, n), nil
	}
	if b, ok := r.bufs.Get().(*[]byte); ok {
		return (*b)[:n], b
	}
	b := make([]byte, pooledReplyCap)
	return b[:n], &b
}

// putReplyBuf gives a reply's buffer back once nothing refers to it.
func (r *Conn) putReplyBuf(b *[]byte) {
	if b != nil {
		r.bufs.Put(b)
	}
}

// span is a byte range of the file asked for by one READ.
type span struct {
	off int64
	n   int
}

// appendRead appends a READ of s on handle.
func appendRead(b []byte, id uint32, handle []byte, s span) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+4+4+len(handle)+8+4))
	b = append(b, fxpRead)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint32(b, uint32(len(handle)))
	b = append(b, handle...)
	b = binary.BigEndian.AppendUint64(b, uint64(s.off))
	return binary.BigEndian.AppendUint32(b, uint32(s.n))
}

// appendOpen appends an OPEN of name for reading, with no attributes.
func appendOpen(b []byte, id uint32, name string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+4+4+len(name)+4+4))
	b = append(b, fxpOpen)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint32(b, uint32(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint32(b, fxfRead)
	return binary.BigEndian.AppendUint32(b, 0) // ATTRS: no flags
}

// sendPackets queues whole request packets and writes them, grouped with
// other goroutines' requests like send.
func (r *Conn) sendPackets(pkts []byte) error {
	r.wmu.Lock()
	r.queued = append(r.queued, pkts...)
	return r.writeQueuedLocked()
}

// Download copies remote file full into dst, in order, from its first
// byte to its end, and returns the bytes written. size is the length the
// caller expects, or -1 (then a STAT goes with the OPEN, answered in the
// same round trip, and its size is used instead): it is only a hint,
// which saves asking past the end of a file as long as expected (a READ
// starts exactly at size, and none beyond it until that one returns data).
//
// Errors: a *StatusError when the server refused the OPEN or a READ
// (errors.Is fs.ErrNotExist, fs.ErrPermission); ctx.Err() when ctx ended
// first; dst's error; the channel's failure otherwise (ErrProtocol for a
// reply that breaks the protocol). Whatever the outcome, the
// handle is closed once the server gave one.
func (r *Conn) Download(ctx context.Context, full string, size int64, dst io.Writer) (int64, error) {
	r.startLimits()
	w := &replyWaiter{ch: make(chan reply, maxUnanswered)}
	handle, statSize, err := r.openFile(ctx, w, full, size < 0)
	if err != nil {
		return 0, err
	}
	defer r.closeHandle(handle)
	if size < 0 {
		size = statSize
	}
	rs, err := r.readSize(ctx)
	if err != nil {
		return 0, err
	}
	fc := &fileCopier{
		r: r, w: w, handle: handle, dst: dst,
		rs: rs, window: int64(readDepth(rs)) * int64(rs),
		out:  make(map[uint32]span, maxUnanswered),
		held: make(map[int64]heldData),
		hint: size, eof: -1,
	}
	n, err := fc.copy(ctx)
	if err != nil {
		fc.abandon()
	}
	return n, err
}

// openFile sends OPEN (and STAT when withStat) and waits for the handle
// (and the size, -1 when not known). When ctx ends first the handle is
// closed when it arrives.
func (r *Conn) openFile(ctx context.Context, w *replyWaiter, full string, withStat bool) (handle []byte, size int64, err error) {
	ids := []uint32{0, 0}
	if !withStat {
		ids = ids[:1]
	}
	if err := r.register(w, ids); err != nil {
		return nil, 0, err
	}
	pkts := appendOpen(nil, ids[0], full)
	if withStat {
		pkts = appendRequest(pkts, fxpStat, ids[1], []byte(full))
	}
	if err := r.sendPackets(pkts); err != nil {
		return nil, 0, err
	}
	size = -1
	opened, statted := false, !withStat
	giveUp := func(err error) ([]byte, int64, error) {
		switch {
		case opened:
			r.closeHandle(handle)
		case !r.orphanOpen(ids[0]):
			// The HANDLE (or a STATUS) is in w.ch, or the reader broke.
			for len(w.ch) > 0 {
				if rep := <-w.ch; rep.id == ids[0] && rep.typ == fxpHandle {
					if h, err := handleOf(rep.payload); err == nil {
						r.closeHandle(h)
					}
				}
			}
		}
		if withStat {
			r.abandon(ids[1])
		}
		return nil, 0, err
	}
	for !opened || !statted {
		var rep reply
		select {
		case rep = <-w.ch:
		case <-r.done:
			return giveUp(r.failure())
		case <-ctx.Done():
			return giveUp(ctx.Err())
		}
		if rep.id != ids[0] {
			statted = true
			if rep.typ == fxpAttrs {
				size = attrsSize(rep.payload)
			}
			continue // a failed STAT only costs the hint: OPEN says why
		}
		switch rep.typ {
		case fxpHandle:
			h, err := handleOf(rep.payload)
			if err != nil {
				return giveUp(err)
			}
			handle, opened = h, true
		case fxpStatus:
			if !statted {
				r.abandon(ids[1])
			}
			return nil, 0, statusReplyErr(rep, "open")
		default:
			return giveUp(fmt.Errorf("%w: packet type %d in reply to open", ErrProtocol, rep.typ))
		}
	}
	return handle, size, nil
}

// attrsSize is the size in an ATTRS payload, or -1.
func attrsSize(p []byte) int64 {
	d := decoder{b: p}
	flags := d.uint32()
	if flags&attrSize == 0 {
		return -1
	}
	n := d.uint64()
	if d.err != nil || n > 1<<62 {
		return -1
	}
	return int64(n)
}

// statusReplyErr turns a STATUS reply that failed op into its error.
func statusReplyErr(rep reply, op string) error {
	code, msg, err := decodeStatus(rep.payload)
	if err != nil {
		return err
	}
	if code == fxOK || code == fxEOF {
		return fmt.Errorf("%w: status %d in reply to %s", ErrProtocol, code, op)
	}
	return &StatusError{Code: code, Msg: msg}
}

// fileCopier is one download's state after the OPEN.
type fileCopier struct {
	r      *Conn
	w      *replyWaiter
	handle []byte
	dst    io.Writer

	rs     int   // bytes per READ
	window int64 // bytes asked for or held ahead of next, at most

	out  map[uint32]span    // READs unanswered, by id
	held map[int64]heldData // data received ahead of next, by offset

	next    int64 // the next byte to write to dst
	fresh   int64 // the first byte never asked for
	hint    int64 // no READ beyond it until data past it came back; -1: none
	eof     int64 // where the file ends, once a READ answered EOF; -1: unknown
	written int64 // bytes dst took

	want []span   // READs to send
	ids  []uint32 // their ids
	pkts []byte   // their packets
}

// copy runs the download to the end of the file, or to the first error.
func (fc *fileCopier) copy(ctx context.Context) (int64, error) {
	for {
		fc.plan()
		if err := fc.ask(); err != nil {
			return fc.written, err
		}
		if len(fc.out) == 0 {
			break
		}
		var rep reply
		select {
		case rep = <-fc.w.ch:
		case <-fc.r.done:
			return fc.written, fc.r.failure()
		case <-ctx.Done():
			return fc.written, ctx.Err()
		}
		// Take every reply already here, then write what became contiguous.
		for {
			if err := fc.take(rep); err != nil {
				return fc.written, err
			}
			select {
			case rep = <-fc.w.ch:
				continue
			default:
			}
			break
		}
		if err := fc.deliver(); err != nil {
			return fc.written, err
		}
	}
	if fc.eof < 0 || fc.next < fc.eof {
		return fc.written, fmt.Errorf("%w: reads ended at offset %d without end of file", ErrProtocol, fc.next)
	}
	return fc.written, nil
}

// plan adds fresh READs to want while the window, the reply channel, the
// end of the file and the hint allow. A READ is cut to end at the hint so
// that the next one starts there.
func (fc *fileCopier) plan() {
	for len(fc.out)+len(fc.want) < maxUnanswered {
		if fc.eof >= 0 && fc.fresh >= fc.eof || fc.hint >= 0 && fc.fresh > fc.hint {
			return
		}
		n := fc.rs
		if fc.hint > fc.fresh && fc.fresh+int64(n) > fc.hint {
			n = int(fc.hint - fc.fresh)
		}
		if fc.fresh+int64(n)-fc.next > fc.window {
			return
		}
		fc.want = append(fc.want, span{fc.fresh, n})
		fc.fresh += int64(n)
	}
}

// ask sends the READs in want.
func (fc *fileCopier) ask() error {
	if len(fc.want) == 0 {
		return nil
	}
	if cap(fc.ids) < len(fc.want) {
		fc.ids = make([]uint32, maxUnanswered)
	}
	fc.ids = fc.ids[:len(fc.want)]
	if err := fc.r.register(fc.w, fc.ids); err != nil {
		return err
	}
	fc.pkts = fc.pkts[:0]
	for i, s := range fc.want {
		fc.out[fc.ids[i]] = s
		fc.pkts = appendRead(fc.pkts, fc.ids[i], fc.handle, s)
	}
	fc.want = fc.want[:0]
	return fc.r.sendPackets(fc.pkts)
}

// take records one reply: data is held until it can be written, and the
// rest of a short read asked for again; EOF sets the end of the file.
func (fc *fileCopier) take(rep reply) error {
	s, ok := fc.out[rep.id]
	if !ok {
		return fmt.Errorf("%w: reply to an unknown read", ErrProtocol)
	}
	delete(fc.out, rep.id)
	switch rep.typ {
	case fxpData:
		d := decoder{b: rep.payload}
		data := d.bytes()
		switch {
		case d.err != nil:
			return d.err
		case len(data) > s.n:
			return fmt.Errorf("%w: %d bytes in reply to a read of %d at offset %d", ErrProtocol, len(data), s.n, s.off)
		case len(data) == 0:
			return fmt.Errorf("%w: no data in reply to a read at offset %d", ErrProtocol, s.off)
		}
		end := s.off + int64(len(data))
		if fc.hint >= 0 && end > fc.hint {
			fc.hint = -1 // longer than expected: read on
		}
		if fc.eof >= 0 && s.off >= fc.eof {
			fc.r.putReplyBuf(rep.buf)
			return nil // past the end another READ found
		}
		fc.held[s.off] = heldData{data, rep.buf}
		if len(data) < s.n && (fc.eof < 0 || end < fc.eof) {
			fc.want = append(fc.want, span{end, s.n - len(data)})
		}
	case fxpStatus:
		code, _, err := decodeStatus(rep.payload)
		if err != nil {
			return err
		}
		if code != fxEOF {
			return statusReplyErr(rep, "read")
		}
		if fc.eof < 0 || s.off < fc.eof {
			fc.eof = s.off
		}
	default:
		return fmt.Errorf("%w: packet type %d in reply to read", ErrProtocol, rep.typ)
	}
	return nil
}

// deliver writes the held data that continues what was written, up to the
// end of the file.
func (fc *fileCopier) deliver() error {
	for fc.eof < 0 || fc.next < fc.eof {
		h, ok := fc.held[fc.next]
		if !ok {
			return nil
		}
		delete(fc.held, fc.next)
		b := h.data
		if fc.eof >= 0 && fc.next+int64(len(b)) > fc.eof {
			b = b[:fc.eof-fc.next]
		}
		n, err := fc.dst.Write(b)
		fc.r.putReplyBuf(h.buf) // dst may not keep b (io.Writer)
		fc.written += int64(n)
		if err == nil && n < len(b) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return err
		}
		fc.next += int64(len(b))
	}
	return nil
}

// heldData is a DATA reply's data waiting for its turn, and the pooled
// buffer it lies in.
type heldData struct {
	data []byte
	buf  *[]byte
}

// abandon drops the READs still unanswered: their replies are discarded.
func (fc *fileCopier) abandon() {
	ids := make([]uint32, 0, len(fc.out))
	for id := range fc.out {
		ids = append(ids, id)
	}
	fc.r.abandon(ids...)
}
