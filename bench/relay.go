package main

import (
	"io"
	"net"
	"sort"
	"sync"
	"time"
)

// relay is a TCP forwarder on 127.0.0.1 that holds every chunk it reads for
// oneWay before writing it on, in each direction: the round trip grows by
// 2*oneWay. Chunks are timestamped when read and released in order by a
// separate writer, so a reader never waits for the previous chunk's delay:
// pipelined requests stay pipelined (the delay is a pipe of fixed length,
// not a sleep per chunk in series). Backpressure: at most queueLen chunks
// per direction are in flight, then the reader stops reading and TCP flow
// control pushes back on the sender, as a real link's buffer would.
type relay struct {
	addr   string
	l      net.Listener
	target string
	oneWay time.Duration

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

const (
	queueLen  = 16384
	chunkSize = 64 << 10
)

type chunk struct {
	due  time.Time
	data []byte
}

func startRelay(target string, oneWay time.Duration) (*relay, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{addr: l.Addr().String(), l: l, target: target, oneWay: oneWay, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

func (r *relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		for _, x := range []net.Conn{c, up} {
			x.(*net.TCPConn).SetNoDelay(true) //nolint:errcheck
		}
		r.mu.Lock()
		r.conns[c], r.conns[up] = struct{}{}, struct{}{}
		r.mu.Unlock()
		var once sync.Once
		done := func() {
			once.Do(func() {
				c.Close()
				up.Close()
				r.mu.Lock()
				delete(r.conns, c)
				delete(r.conns, up)
				r.mu.Unlock()
			})
		}
		r.wg.Add(2)
		go func() { defer r.wg.Done(); r.pipe(up, c); done() }()
		go func() { defer r.wg.Done(); r.pipe(c, up); done() }()
	}
}

// pipe forwards src to dst, each chunk oneWay after it was read.
func (r *relay) pipe(dst, src net.Conn) {
	if r.oneWay <= 0 {
		io.Copy(dst, src) //nolint:errcheck
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite() //nolint:errcheck
		}
		return
	}
	q := make(chan chunk, queueLen)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for c := range q {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.data); err != nil {
				for range q { // drain so the reader never blocks
				}
				return
			}
		}
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite() //nolint:errcheck
		}
	}()
	for {
		buf := make([]byte, chunkSize)
		n, err := src.Read(buf)
		if n > 0 {
			q <- chunk{due: time.Now().Add(r.oneWay), data: buf[:n]}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-writerDone
}

func (r *relay) close() {
	r.l.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// measureRTT is the median round trip of a 1-byte ping-pong through a relay
// with the given one-way delay to a loopback echo server: the RTT the relay
// really adds (timer slack included), measured rather than assumed.
// echoThroughRelay starts an echo server behind a relay adding oneWay in
// each direction and returns a connection to it through the relay (Nagle
// off, so every write is its own chunk) and a func that tears it all down.
func echoThroughRelay(oneWay time.Duration) (*net.TCPConn, func(), error) {
	el, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go func() {
		for {
			c, err := el.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }() //nolint:errcheck
		}
	}()
	r, err := startRelay(el.Addr().String(), oneWay)
	if err != nil {
		el.Close()
		return nil, nil, err
	}
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		r.close()
		el.Close()
		return nil, nil, err
	}
	tc := c.(*net.TCPConn)
	tc.SetNoDelay(true) //nolint:errcheck
	return tc, func() { tc.Close(); r.close(); el.Close() }, nil
}

func measureRTT(oneWay time.Duration, pings int) (time.Duration, error) {
	c, done, err := echoThroughRelay(oneWay)
	if err != nil {
		return 0, err
	}
	defer done()
	var rtts []time.Duration
	b := []byte{1}
	for i := 0; i < pings; i++ {
		t0 := time.Now()
		if _, err := c.Write(b); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return 0, err
		}
		rtts = append(rtts, time.Since(t0))
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	return rtts[len(rtts)/2], nil
}

// measureBurst writes n one-byte pings, ~100µs apart (separate chunks),
// through a relay and returns how long after the last write the last echo
// arrived: about one RTT if the relay keeps pipelined data pipelined, up to
// n RTTs if it delayed chunks in series.
func measureBurst(oneWay time.Duration, n int) (time.Duration, error) {
	c, done, err := echoThroughRelay(oneWay)
	if err != nil {
		return 0, err
	}
	defer done()
	var t0 time.Time
	for i := 0; i < n; i++ {
		if i > 0 {
			time.Sleep(100 * time.Microsecond) // separate chunks, not one segment
		}
		t0 = time.Now()
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			return 0, err
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}
