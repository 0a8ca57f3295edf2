package sftp3

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// FuzzReaderReplies drives the pipelined reader's request multiplexer
// (conn.go, download.go) with hostile reply sequences from a server
// played over an in-memory pipe: each input byte is one move of the
// server — a proper reply, EOF, a failure status, a HANDLE where none
// belongs, a duplicate reply or a STATUS after it, a reply to an id never
// sent, a truncated packet, the connection's end. Two listings and a
// download run meanwhile. Invariants: no panic, every call returns (with
// a result or an error) within a bound, and once the reader is closed no
// goroutine is left behind.
func FuzzReaderReplies(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0})             // everything answered properly
	f.Add([]byte{0, 4, 0, 0x0c, 1, 1, 5, 0, 0})                   // duplicate, STATUS after HANDLE, unknown id
	f.Add([]byte{0, 3, 3, 3, 2, 2, 2})                            // HANDLE twice, failures
	f.Add([]byte{0, 0, 7})                                        // connection ends mid-listing
	f.Add([]byte{0, 1, 6})                                        // EOF before data, truncated packet
	f.Add([]byte{0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38, 0x40}) // proper replies, out of order
	f.Fuzz(func(t *testing.T, moves []byte) {
		if len(moves) > 64 {
			moves = moves[:64]
		}
		before := runtime.NumGoroutine()
		client, server := net.Pipe()
		srv := newFuzzServer(server)
		srvDone := make(chan struct{})
		go func() {
			defer close(srvDone)
			srv.play(moves)
		}()
		r, err := New(context.Background(), fuzzChannel{client})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		var calls sync.WaitGroup
		ctx := context.Background()
		calls.Go(func() { r.List(ctx, "/a", nil) })                //nolint:errcheck // any outcome will do
		calls.Go(func() { r.List(ctx, "/b", nil) })                //nolint:errcheck
		calls.Go(func() { r.Download(ctx, "/f", -1, io.Discard) }) //nolint:errcheck
		returned := make(chan struct{})
		go func() {
			calls.Wait()
			close(returned)
		}()
		go func() {
			<-returned
			srv.callsDone()
		}()
		select {
		case <-returned:
		case <-time.After(5 * time.Second):
			t.Fatalf("a call did not return; moves %x", moves)
		}
		server.Close()
		r.Close()
		r.Wait()
		<-srvDone
		// Goroutines that are ending get the processor first; a leak
		// outlasts the deadline.
		deadline := time.Now().Add(2 * time.Second)
		for i := 0; runtime.NumGoroutine() > before; i++ {
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines left behind; moves %x", runtime.NumGoroutine()-before, moves)
			}
			if i < 100 {
				runtime.Gosched()
			} else {
				time.Sleep(100 * time.Microsecond)
			}
		}
	})
}

// fuzzChannel is the client end of the pipe as an SSH session channel
// whose sftp subsystem request is accepted.
type fuzzChannel struct{ net.Conn }

func (fuzzChannel) CloseWrite() error                              { return nil }
func (fuzzChannel) SendRequest(string, bool, []byte) (bool, error) { return true, nil }
func (fuzzChannel) Stderr() io.ReadWriter                          { return new(bytes.Buffer) }

// fuzzRequest is a request the server received and has not answered.
type fuzzRequest struct {
	typ byte
	id  uint32
	n   uint32 // a READ's length
}

// fuzzServer is the server side: a goroutine collects requests (never
// blocking the client's writes), play answers them.
type fuzzServer struct {
	conn net.Conn

	mu      sync.Mutex
	pending []fuzzRequest
	arrived chan struct{} // signalled when a request arrives
	ended   bool          // the client's side stopped writing
	done    chan struct{} // closed when every call returned
	once    sync.Once
	last    []byte // the last reply written
}

func newFuzzServer(conn net.Conn) *fuzzServer {
	return &fuzzServer{conn: conn, arrived: make(chan struct{}, 1), done: make(chan struct{})}
}

func (s *fuzzServer) callsDone() { s.once.Do(func() { close(s.done) }) }

// collect reads requests until the pipe ends.
func (s *fuzzServer) collect() {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(s.conn, hdr[:]); err != nil {
			break
		}
		p := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(s.conn, p); err != nil || len(p) < 5 {
			break
		}
		rq := fuzzRequest{typ: p[0], id: binary.BigEndian.Uint32(p[1:5])}
		if rq.typ == fxpRead {
			d := decoder{b: p[5:]}
			d.bytes()
			d.uint64()
			rq.n = d.uint32()
		}
		s.mu.Lock()
		s.pending = append(s.pending, rq)
		s.mu.Unlock()
		select {
		case s.arrived <- struct{}{}:
		default:
		}
	}
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
}

// next returns the pending request sel picks, waiting for one if none is
// pending; false when none will come.
func (s *fuzzServer) next(sel int) (fuzzRequest, int, bool) {
	for {
		s.mu.Lock()
		if n := len(s.pending); n > 0 {
			i := sel % n
			rq := s.pending[i]
			s.mu.Unlock()
			return rq, i, true
		}
		ended := s.ended
		s.mu.Unlock()
		if ended {
			return fuzzRequest{}, 0, false
		}
		select {
		case <-s.arrived:
		case <-s.done:
			return fuzzRequest{}, 0, false
		}
	}
}

func (s *fuzzServer) consume(i int) {
	s.mu.Lock()
	s.pending = append(s.pending[:i], s.pending[i+1:]...)
	s.mu.Unlock()
}

// reply writes one packet of type typ to id with payload p.
func (s *fuzzServer) reply(typ byte, id uint32, p []byte) bool {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+4+len(p)))
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, id)
	b = append(b, p...)
	s.last = b
	_, err := s.conn.Write(b)
	return err == nil
}

func fuzzStatus(code uint32) []byte {
	p := binary.BigEndian.AppendUint32(nil, code)
	p = binary.BigEndian.AppendUint32(p, 1)
	p = append(p, 'x')
	return binary.BigEndian.AppendUint32(p, 0) // language tag
}

func fuzzString(s string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

// proper is the well-formed answer to rq.
func proper(rq fuzzRequest, sel int) (byte, []byte) {
	switch rq.typ {
	case fxpOpenDir, fxpOpen:
		return fxpHandle, fuzzString(string(rune('h' + sel%8)))
	case fxpReadDir:
		p := binary.BigEndian.AppendUint32(nil, 1)
		p = append(p, fuzzString(string(rune('a'+sel%26)))...)
		p = append(p, fuzzString("longname")...)
		return fxpName, binary.BigEndian.AppendUint32(p, 0) // no attributes
	case fxpRead:
		n := min(int(rq.n), sel+1)
		return fxpData, append(binary.BigEndian.AppendUint32(nil, uint32(n)), make([]byte, n)...)
	case fxpStat:
		p := binary.BigEndian.AppendUint32(nil, attrSize)
		return fxpAttrs, binary.BigEndian.AppendUint64(p, uint64(sel))
	}
	return fxpStatus, fuzzStatus(fxOK)
}

// play performs the moves, then ends the connection.
func (s *fuzzServer) play(moves []byte) {
	defer s.conn.Close()
	// INIT, then VERSION 3 without extensions.
	var init [9]byte
	if _, err := io.ReadFull(s.conn, init[:]); err != nil {
		return
	}
	if _, err := s.conn.Write([]byte{0, 0, 0, 5, fxpVersion, 0, 0, 0, 3}); err != nil {
		return
	}
	go s.collect()
	for _, m := range moves {
		op, sel := m&7, int(m>>3)
		switch op {
		case 4: // the last reply again, or a STATUS to its id
			if len(s.last) < 9 {
				continue
			}
			if sel%2 == 0 {
				if _, err := s.conn.Write(s.last); err != nil {
					return
				}
				continue
			}
			if !s.reply(fxpStatus, binary.BigEndian.Uint32(s.last[5:9]), fuzzStatus(fxEOF)) {
				return
			}
			continue
		case 5: // a reply to an id never sent
			if !s.reply(fxpStatus, 0xffff0000|uint32(sel), fuzzStatus(fxEOF)) {
				return
			}
			continue
		case 6: // a packet cut short, and the end
			s.conn.Write([]byte{0, 0, 0, 40, fxpName, 0, 0}) //nolint:errcheck // ending anyway
			return
		case 7: // the end, mid-exchange
			return
		}
		rq, i, ok := s.next(sel)
		if !ok {
			return
		}
		s.consume(i)
		var typ byte
		var p []byte
		switch op {
		case 0:
			typ, p = proper(rq, sel)
		case 1:
			typ, p = fxpStatus, fuzzStatus(fxEOF)
		case 2:
			typ, p = fxpStatus, fuzzStatus(uint32(2+sel%3)) // no such file, permission denied, failure
		case 3:
			typ, p = fxpHandle, fuzzString("H")
		}
		if !s.reply(typ, rq.id, p) {
			return
		}
	}
}
