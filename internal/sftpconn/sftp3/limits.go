package sftp3

import (
	"context"
	"sync"
)

// The read size of the client's downloads (download.go). OpenSSH
// offers "limits@openssh.com" in its VERSION packet (OpenSSH PROTOCOL,
// section 4.8): an EXTENDED request answered by four uint64 values,
// max-packet-length, max-read-length, max-write-length, max-open-handles.
// Its sftp-server answers READs of up to max-read-length bytes (older
// releases cap reads at 64 KiB and do not offer the extension). OpenSSH's
// own sftp client reads that much per request; smaller requests cost a
// download throughput in packets and syscalls on both sides (the figures
// are in bench/RESULTS.md).

const (
	fxpExtended      = 200
	fxpExtendedReply = 201

	extLimits = "limits@openssh.com"

	// DefaultReadSize is the read size without the extension: every SFTP
	// server answers READs of 32 KiB (draft-ietf-secsh-filexfer-02 makes
	// servers accept packets of 34,000 bytes).
	DefaultReadSize = 32 << 10
	// maxReadSize caps what the server allows: beyond it, bigger requests
	// save too little to pay for the memory (depth × read size per download).
	maxReadSize = 256 << 10
	// dataOverhead is a DATA reply's bytes besides the data: type, id, length.
	dataOverhead = 1 + 4 + 4
)

// limitsState is the reader's read size, asked of the server once, on the
// first download, and never by a listing.
type limitsState struct {
	offered bool // the server's VERSION lists limits@openssh.com; set before use

	mu    sync.Mutex
	asked bool
	w     *replyWaiter  // gets the answer to the limits request; nil when not sent
	ready chan struct{} // closed once size is set
	size  int
}

// hasExtension reports whether the extension pairs of a VERSION payload
// (after the version number: name and data strings) include name. A
// truncated list counts up to where it breaks.
func hasExtension(p []byte, name string) bool {
	d := decoder{b: p}
	for len(d.b) > 0 {
		n := d.bytes()
		d.bytes()
		if d.err != nil {
			return false
		}
		if string(n) == name {
			return true
		}
	}
	return false
}

// startLimits sends the limits request unless it was sent already. It does
// not wait for the answer (readSize does): the first download sends it
// just before its OPEN, so both are answered in the same round trip.
func (r *Conn) startLimits() {
	l := &r.limits
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.asked {
		return
	}
	l.asked = true
	if l.offered {
		w := &replyWaiter{ch: make(chan reply, 1)}
		ids := []uint32{0}
		if r.register(w, ids) == nil && r.send(fxpExtended, ids, []byte(extLimits)) == nil {
			l.w = w
			return
		}
		// The reader broke: the download fails on its own; no size needed.
	}
	l.size = DefaultReadSize
	close(l.ready)
}

// readSize waits for the read size (startLimits must have been called).
// The caller that receives the server's answer sets it for every other.
func (r *Conn) readSize(ctx context.Context) (int, error) {
	l := &r.limits
	l.mu.Lock()
	var answer chan reply
	if l.w != nil {
		answer = l.w.ch
	}
	l.mu.Unlock()
	select {
	case <-l.ready:
		return l.size, nil
	case rep := <-answer:
		l.size = readSizeFrom(rep)
		close(l.ready)
		return l.size, nil
	case <-r.done:
		return 0, r.failure()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// readSizeFrom turns the answer to the limits request into a read size:
// max-read-length, no bigger than a DATA reply fitting max-packet-length,
// than maxReadSize and than what run accepts. Any other answer, or a zero,
// gives DefaultReadSize.
func readSizeFrom(rep reply) int {
	if rep.typ != fxpExtendedReply {
		return DefaultReadSize // SSH_FX_OP_UNSUPPORTED or the like
	}
	d := decoder{b: rep.payload}
	maxPacket, maxRead := d.uint64(), d.uint64()
	if d.err != nil || maxRead == 0 {
		return DefaultReadSize
	}
	n := min(maxRead, maxReadSize, maxReplyPacket-dataOverhead)
	if maxPacket != 0 {
		if maxPacket <= dataOverhead {
			return DefaultReadSize
		}
		n = min(n, maxPacket-dataOverhead)
	}
	return int(n)
}

// readDepth is how many READs of size rs a download keeps unanswered:
// enough to cover 4 MiB, twice the SSH channel window x/crypto/ssh gives
// the server, so the server always has requests queued; between 8 and 64.
func readDepth(rs int) int {
	return min(max((4<<20+rs-1)/rs, 8), 64)
}

// ReadSize is the read size of downloads, waiting for the server's
// answer when a download asked for it; asked is false (and size 0) while
// no download has asked.
func (r *Conn) ReadSize(ctx context.Context) (size int, asked bool, err error) {
	r.limits.mu.Lock()
	asked = r.limits.asked
	r.limits.mu.Unlock()
	if !asked {
		return 0, false, nil
	}
	size, err = r.readSize(ctx)
	return size, true, err
}
