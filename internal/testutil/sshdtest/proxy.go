package sshdtest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP forwarder in front of a server, for tests that need to
// count connections, cut them, or freeze them the way a dead NAT entry
// does (bytes stop flowing, no FIN, no RST).
type Proxy struct {
	Addr string // where clients connect

	l      net.Listener
	target string

	mu        sync.Mutex
	conns     map[net.Conn]struct{} // both sides of every open pair
	active    int                   // client connections open now
	maxActive int
	accepted  int
	frozen    bool
	thaw      chan struct{} // closed when frozen ends or the proxy closes
	closed    bool
	wg        sync.WaitGroup
}

// NewProxy forwards a fresh loopback port to target (host:port) until the
// test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshdtest: proxy listen: %v", err)
	}
	p := &Proxy{Addr: l.Addr().String(), l: l, target: target, conns: map[net.Conn]struct{}{}, thaw: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.accepted++
		p.active++
		p.maxActive = max(p.maxActive, p.active)
		p.mu.Unlock()

		var once sync.Once
		done := func() {
			once.Do(func() {
				c.Close()
				up.Close()
				p.mu.Lock()
				delete(p.conns, c)
				delete(p.conns, up)
				p.active--
				p.mu.Unlock()
			})
		}
		p.wg.Add(2)
		go func() { defer p.wg.Done(); p.pipe(up, c); done() }()
		go func() { defer p.wg.Done(); p.pipe(c, up); done() }()
	}
}

// pipe copies src to dst, holding data back while the proxy is frozen.
func (p *Proxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitThawed() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// waitThawed blocks while frozen; false means the proxy closed.
func (p *Proxy) waitThawed() bool {
	for {
		p.mu.Lock()
		frozen, closed, ch := p.frozen, p.closed, p.thaw
		p.mu.Unlock()
		if closed {
			return false
		}
		if !frozen {
			return true
		}
		<-ch
	}
}

// Freeze stops forwarding in both directions; connections stay open.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = true
}

// Thaw resumes forwarding.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen && !p.closed {
		p.frozen = false
		close(p.thaw)
		p.thaw = make(chan struct{})
	}
}

// CloseConns cuts every open connection (both sides see EOF); the proxy
// keeps accepting new ones.
func (p *Proxy) CloseConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Active is the number of client connections open now.
func (p *Proxy) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active
}

// MaxActive is the most client connections that were open at once.
func (p *Proxy) MaxActive() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.maxActive
}

// Accepted is the number of client connections accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Close stops the proxy and cuts every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.thaw)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.l.Close()
	p.wg.Wait()
}
