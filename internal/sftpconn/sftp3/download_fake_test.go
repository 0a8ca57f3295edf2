package sftp3

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// pipeChannel is one end of a net.Pipe dressed as an ssh.Channel whose
// subsystem request is accepted: the reader talks to a scripted server.
type pipeChannel struct{ net.Conn }

var _ ssh.Channel = pipeChannel{}

func (pipeChannel) CloseWrite() error { return nil }
func (pipeChannel) SendRequest(string, bool, []byte) (bool, error) {
	return true, nil
}
func (pipeChannel) Stderr() io.ReadWriter { return new(bytes.Buffer) }

// scriptedSFTP is a minimal SFTP v3 server for one file, "/f", whose
// answers to READs a test shapes: short, out of order, or hostile.
type scriptedSFTP struct {
	conn    net.Conn
	file    []byte
	limits  []uint64 // the limits@openssh.com answer; nil: not offered
	reorder bool     // answer READs that arrive together in reverse order
	// read answers a READ of n bytes at off; nil: the file's bytes, as
	// many as asked, EOF at the end.
	read func(off int64, n int, file []byte) (typ byte, payload []byte)

	mu       sync.Mutex
	maxAsked int // the largest READ length asked for
	reads    int
	closes   int
	opens    int
}

func appendStatus(b []byte, code uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, code)
	b = appendString(b, "scripted")
	return appendString(b, "")
}

func appendData(b, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// startScripted serves s on one end of a pipe and returns a reader on the
// other.
func startScripted(t *testing.T, s *scriptedSFTP) *Conn {
	t.Helper()
	client, server := net.Pipe()
	s.conn = server
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve()
	}()
	r, err := New(context.Background(), pipeChannel{client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		r.Wait()
		server.Close()
		<-done
	})
	return r
}

// packet reads one request. With wait > 0 it gives up with
// os.ErrDeadlineExceeded when no byte of one arrives within wait; once a
// byte arrived it reads the rest whatever the time (a deadline in the
// middle would lose the bytes read and desynchronise the stream).
func (s *scriptedSFTP) packet(buf []byte, wait time.Duration) ([]byte, error) {
	var hdr [4]byte
	if wait > 0 {
		s.conn.SetReadDeadline(time.Now().Add(wait))
	}
	got, err := io.ReadFull(s.conn, hdr[:])
	s.conn.SetReadDeadline(time.Time{})
	if err != nil && got > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		_, err = io.ReadFull(s.conn, hdr[got:])
	}
	if err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err = io.ReadFull(s.conn, buf)
	return buf, err
}

func (s *scriptedSFTP) reply(typ byte, id uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+4+len(payload)))
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, payload...)
}

func (s *scriptedSFTP) serve() {
	if _, err := s.packet(nil, 0); err != nil { // INIT
		return
	}
	version := binary.BigEndian.AppendUint32(nil, 3)
	if s.limits != nil {
		version = appendString(version, extLimits)
		version = appendString(version, "1")
	}
	version = appendString(version, "other@example.com")
	version = appendString(version, "x")
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(version)))
	b = append(b, fxpVersion)
	if _, err := s.conn.Write(append(b, version...)); err != nil {
		return
	}
	var held [][]byte // READ answers held back to be sent reversed
	flush := func() error {
		for i := len(held) - 1; i >= 0; i-- {
			if _, err := s.conn.Write(held[i]); err != nil {
				return err
			}
		}
		held = held[:0]
		return nil
	}
	var buf []byte
	for {
		var wait time.Duration
		if len(held) > 0 {
			wait = 2 * time.Millisecond // hold answers while more requests come in at once
		}
		p, err := s.packet(buf, wait)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if flush() != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		buf = p
		typ, id := p[0], binary.BigEndian.Uint32(p[1:5])
		d := decoder{b: p[5:]}
		var out []byte
		switch typ {
		case fxpExtended:
			var lim []byte
			for _, v := range s.limits {
				lim = binary.BigEndian.AppendUint64(lim, v)
			}
			out = s.reply(fxpExtendedReply, id, lim)
		case fxpOpen:
			s.mu.Lock()
			s.opens++
			s.mu.Unlock()
			if string(d.bytes()) != "/f" {
				out = s.reply(fxpStatus, id, appendStatus(nil, fxNoSuchFile))
			} else {
				out = s.reply(fxpHandle, id, appendString(nil, "h1"))
			}
		case fxpStat:
			attrs := binary.BigEndian.AppendUint32(nil, attrSize)
			out = s.reply(fxpAttrs, id, binary.BigEndian.AppendUint64(attrs, uint64(len(s.file))))
		case fxpClose:
			s.mu.Lock()
			s.closes++
			s.mu.Unlock()
			out = s.reply(fxpStatus, id, appendStatus(nil, fxOK))
		case fxpRead:
			d.bytes()
			off, n := int64(d.uint64()), int(d.uint32())
			s.mu.Lock()
			s.reads++
			s.maxAsked = max(s.maxAsked, n)
			s.mu.Unlock()
			rt, payload := s.answerRead(off, n)
			out = s.reply(rt, id, payload)
			if s.reorder {
				held = append(held, out)
				continue
			}
		default:
			out = s.reply(fxpStatus, id, appendStatus(nil, 8)) // OP_UNSUPPORTED
		}
		if flush() != nil {
			return
		}
		if _, err := s.conn.Write(out); err != nil {
			return
		}
	}
}

func (s *scriptedSFTP) answerRead(off int64, n int) (byte, []byte) {
	if s.read != nil {
		return s.read(off, n, s.file)
	}
	if off >= int64(len(s.file)) {
		return fxpStatus, appendStatus(nil, fxEOF)
	}
	return fxpData, appendData(nil, s.file[off:min(off+int64(n), int64(len(s.file)))])
}

func (s *scriptedSFTP) counts() (opens, closes, reads, maxAsked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens, s.closes, s.reads, s.maxAsked
}

// shortAnswers answers at most max bytes per READ.
func shortAnswers(max int) func(off int64, n int, file []byte) (byte, []byte) {
	return func(off int64, n int, file []byte) (byte, []byte) {
		if off >= int64(len(file)) {
			return fxpStatus, appendStatus(nil, fxEOF)
		}
		return fxpData, appendData(nil, file[off:min(off+int64(min(n, max)), int64(len(file)))])
	}
}

func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// TestDownloadScripted: short answers (7 bytes, and none where asked for
// more), delivered out of order, still give the exact bytes in order,
// for every size hint; the read size is the server's max-read-length; the
// handle is closed.
func TestDownloadScripted(t *testing.T) {
	for _, size := range []int{0, 1, 99, 100, 101, 5000} {
		for _, hint := range []int64{-1, 0, int64(size), int64(size) + 1, int64(size) / 2, 1 << 40} {
			s := &scriptedSFTP{file: patterned(size), limits: []uint64{1 << 20, 100, 100, 64}, reorder: true, read: shortAnswers(7)}
			r := startScripted(t, s)
			var buf bytes.Buffer
			n, err := r.Download(context.Background(), "/f", hint, &buf)
			if err != nil || n != int64(size) || !bytes.Equal(buf.Bytes(), s.file) {
				t.Fatalf("size %d hint %d: n=%d err=%v equal=%v", size, hint, n, err, bytes.Equal(buf.Bytes(), s.file))
			}
			if rs, _ := r.readSize(context.Background()); rs != 100 {
				t.Fatalf("read size %d, want the server's 100", rs)
			}
			poll(t, 5*time.Second, "the handle to be closed", func() bool {
				opens, closes, _, _ := s.counts()
				return opens == 1 && closes == 1
			})
			if _, _, reads, asked := s.counts(); asked > 100 || reads < size/7 {
				t.Fatalf("size %d hint %d: %d reads, largest %d bytes", size, hint, reads, asked)
			}
		}
	}
}

// TestDownloadHostile: replies that break the protocol fail the download
// with ErrProtocol (no panic, nothing written past what was
// asked), a refused READ with its status, and the handle is closed.
func TestDownloadHostile(t *testing.T) {
	file := patterned(3000)
	for _, tc := range []struct {
		name string
		read func(off int64, n int, file []byte) (byte, []byte)
		conn bool
	}{
		{"more data than asked", func(off int64, n int, file []byte) (byte, []byte) {
			return fxpData, appendData(nil, make([]byte, n+1))
		}, true},
		{"a megabyte for a small read", func(off int64, n int, file []byte) (byte, []byte) {
			return fxpData, appendData(nil, make([]byte, 1<<20-64))
		}, true},
		{"empty data", func(off int64, n int, file []byte) (byte, []byte) {
			return fxpData, appendData(nil, nil)
		}, true},
		{"length beyond the packet", func(off int64, n int, file []byte) (byte, []byte) {
			return fxpData, binary.BigEndian.AppendUint32(nil, uint32(n))
		}, true},
		{"a name reply", func(off int64, n int, file []byte) (byte, []byte) {
			return fxpName, binary.BigEndian.AppendUint32(nil, 0)
		}, true},
		{"ok status", func(off int64, n int, file []byte) (byte, []byte) {
			return fxpStatus, appendStatus(nil, fxOK)
		}, true},
		{"permission denied", func(off int64, n int, file []byte) (byte, []byte) {
			return fxpStatus, appendStatus(nil, fxPermissionDenied)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scriptedSFTP{file: file, limits: []uint64{1 << 20, 1000, 1000, 64}, read: tc.read}
			r := startScripted(t, s)
			var buf bytes.Buffer
			n, err := r.Download(context.Background(), "/f", -1, &buf)
			if err == nil || errors.Is(err, ErrProtocol) != tc.conn {
				t.Fatalf("n=%d err=%v, want an error with errors.Is ErrProtocol=%v", n, err, tc.conn)
			}
			if !tc.conn && !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("%v is not a permission error", err)
			}
			if n > 0 || buf.Len() > 0 {
				t.Fatalf("%d bytes written from hostile replies", buf.Len())
			}
			poll(t, 5*time.Second, "the handle to be closed", func() bool {
				_, closes, _, _ := s.counts()
				return closes == 1
			})
		})
	}
}

// TestDownloadScriptedErrors: a refused OPEN is not-exist; without the
// limits extension, or with a zero or unusable answer, reads are 32 KiB.
func TestDownloadScriptedErrors(t *testing.T) {
	s := &scriptedSFTP{file: patterned(10)}
	r := startScripted(t, s)
	_, err := r.Download(context.Background(), "/missing", -1, io.Discard)
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrProtocol) {
		t.Fatalf("missing file: %v", err)
	}
	for _, lim := range [][]uint64{nil, {0, 0, 0, 0}, {1 << 20, 0, 0, 0}, {4, 1000, 1000, 1}, {1}} {
		s := &scriptedSFTP{file: patterned(100_000), limits: lim}
		if lim == nil {
			s.limits = nil
		}
		r := startScripted(t, s)
		var buf bytes.Buffer
		if _, err := r.Download(context.Background(), "/f", -1, &buf); err != nil || !bytes.Equal(buf.Bytes(), s.file) {
			t.Fatalf("limits %v: %v", lim, err)
		}
		if rs, _ := r.readSize(context.Background()); rs != DefaultReadSize {
			t.Fatalf("limits %v: read size %d", lim, rs)
		}
		if _, _, _, asked := s.counts(); asked != DefaultReadSize {
			t.Fatalf("limits %v: largest READ %d", lim, asked)
		}
	}
}

func TestReadSizeFrom(t *testing.T) {
	limits := func(v ...uint64) reply {
		var p []byte
		for _, x := range v {
			p = binary.BigEndian.AppendUint64(p, x)
		}
		return reply{typ: fxpExtendedReply, payload: p}
	}
	for _, tc := range []struct {
		name string
		rep  reply
		want int
	}{
		{"OpenSSH 9", limits(262144, 261120, 261120, 1024), 261120},
		{"bigger than we take", limits(1<<30, 1<<30, 0, 0), maxReadSize},
		{"no packet limit", limits(0, 65536, 0, 0), 65536},
		{"packet limit below read", limits(40000, 65536, 0, 0), 40000 - dataOverhead},
		{"small", limits(0, 1000, 0, 0), 1000},
		{"zero read", limits(262144, 0, 0, 0), DefaultReadSize},
		{"tiny packet", limits(5, 1000, 0, 0), DefaultReadSize},
		{"truncated", reply{typ: fxpExtendedReply, payload: []byte{0, 0, 1}}, DefaultReadSize},
		{"status", reply{typ: fxpStatus, payload: appendStatus(nil, 8)}, DefaultReadSize},
	} {
		if got := readSizeFrom(tc.rep); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	for rs, want := range map[int]int{261120: 17, 32768: 64, 1000: 64, 1 << 20: 8, 65536: 64} {
		if got := readDepth(rs); got != want {
			t.Errorf("readDepth(%d) = %d, want %d", rs, got, want)
		}
	}
}

func TestHasExtension(t *testing.T) {
	p := appendString(appendString(nil, "a@x"), "1")
	p = appendString(appendString(p, extLimits), "1")
	if !hasExtension(p, extLimits) || hasExtension(p, "b@x") || hasExtension(p[:len(p)-3], extLimits) || hasExtension(nil, extLimits) {
		t.Fatal("hasExtension")
	}
}
