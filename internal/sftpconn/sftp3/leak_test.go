package sftp3

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// tapChannel is the reader's real channel, observed: it records every
// handle the server handed out (HANDLE replies read) and every CLOSE
// written, so a test can check that no handle is left open on the server.
// The reader writes whole packets per Write, which the tap relies on.
type tapChannel struct {
	ssh.Channel

	mu       sync.Mutex
	in       []byte         // reply bytes not yet framed
	handles  map[string]int // handle → times handed out
	closes   map[string]int // handle → CLOSE requests sent
	opendirs int
}

func (c *tapChannel) Write(p []byte) (int, error) {
	c.mu.Lock()
	for b := p; len(b) >= 9; {
		n := int(binary.BigEndian.Uint32(b))
		pkt := b[4 : 4+n]
		b = b[4+n:]
		switch pkt[0] {
		case fxpOpenDir:
			c.opendirs++
		case fxpClose:
			h, err := handleOf(pkt[5:])
			if err != nil {
				panic(err)
			}
			c.closes[string(h)]++
		}
	}
	c.mu.Unlock()
	return c.Channel.Write(p)
}

func (c *tapChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.in = append(c.in, p[:n]...)
	for len(c.in) >= 4 {
		size := int(binary.BigEndian.Uint32(c.in))
		if len(c.in) < 4+size {
			break
		}
		pkt := c.in[4 : 4+size]
		if pkt[0] == fxpHandle {
			if h, herr := handleOf(pkt[5:]); herr == nil {
				c.handles[string(h)]++
			}
		}
		c.in = c.in[4+size:]
	}
	return n, err
}

// counts returns handles handed out, handles left unclosed, and OPENDIRs sent.
func (c *tapChannel) counts() (handles, unclosed, opendirs int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, n := range c.handles {
		handles += n
		unclosed += n - min(n, c.closes[h])
	}
	return handles, unclosed, c.opendirs
}

// tappedReader opens a Conn on sc through a tap.
func tappedReader(t *testing.T, sc *ssh.Client) (*Conn, *tapChannel) {
	t.Helper()
	ch, reqs, err := sc.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	go ssh.DiscardRequests(reqs)
	tap := &tapChannel{Channel: ch, handles: map[string]int{}, closes: map[string]int{}}
	r, err := New(context.Background(), tap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		r.Wait()
	})
	return r, tap
}

// listAsync runs r.List in a goroutine.
func listAsync(ctx context.Context, r *Conn, dir string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := r.List(ctx, dir, nil)
		done <- err
	}()
	return done
}

func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the listing did not return")
		return nil
	}
}

// TestDirReaderCancel cancels listings waiting for their HANDLE and for
// their READDIRs on a server answering after 1 s: each returns
// context.Canceled before the server's answer, and the handle is closed
// when it arrives.
func TestDirReaderCancel(t *testing.T) {
	srv, local, sc := inProcess(t)
	makeFiles(t, filepath.Join(local, "d"), 250)
	rd, tap := tappedReader(t, sc)
	if got, err := rd.List(context.Background(), "/d", nil); err != nil || len(got) != 250 {
		t.Fatalf("list: %d entries, %v", len(got), err)
	}
	srv.SetLatency(time.Second)

	for _, tc := range []struct {
		name     string
		requests int64 // received by the server when ctx is cancelled
	}{
		{"waiting for the handle", 1}, // OPENDIR
		{"waiting for readdir", 3},    // OPENDIR, 2×READDIR
	} {
		t.Run(tc.name, func(t *testing.T) {
			handles0, _, _ := tap.counts()
			before := srv.Requests()
			ctx, cancel := context.WithCancel(context.Background())
			done := listAsync(ctx, rd, "/d")
			poll(t, 10*time.Second, "the requests to reach the server", func() bool { return srv.Requests() >= before+tc.requests })
			cancel()
			if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
				t.Fatalf("list: %v, want context.Canceled", err)
			}
			if tc.requests == 1 {
				if h, _, _ := tap.counts(); h != handles0 {
					t.Fatal("the handle arrived before the listing returned: the test proves nothing")
				}
			}
			poll(t, 10*time.Second, "the late handle to be closed", func() bool {
				h, unclosed, _ := tap.counts()
				return h == handles0+1 && unclosed == 0
			})
		})
	}
	srv.SetLatency(0)
	if got, err := rd.List(context.Background(), "/d", nil); err != nil || len(got) != 250 {
		t.Fatalf("list after the cancellations: %d entries, %v", len(got), err)
	}
}

// TestDirReaderNoHandleLeak runs many listings, complete and cancelled at
// every stage, concurrently, and checks that every handle the server gave
// was closed.
func TestDirReaderNoHandleLeak(t *testing.T) {
	srv, local, sc := inProcess(t)
	for i, n := range []int{0, 3, 120, 250} {
		makeFiles(t, filepath.Join(local, fmt.Sprint(i)), n)
	}
	rd, tap := tappedReader(t, sc)
	srv.SetLatency(time.Millisecond)
	timeouts := []time.Duration{0, 300 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, -1}
	completed, cancelled := sshdtest.Churn(t, 25, timeouts, func(ctx context.Context, g, i int) error {
		_, err := rd.List(ctx, fmt.Sprintf("/%d", (g*7+i)%4), nil)
		return err
	})
	if completed == 0 || cancelled < 50 {
		t.Fatalf("%d complete, %d cancelled listings: want both", completed, cancelled)
	}
	poll(t, 10*time.Second, "every handle to be closed", func() bool {
		_, unclosed, _ := tap.counts()
		return unclosed == 0
	})
	handles, _, opendirs := tap.counts()
	t.Logf("%d complete, %d cancelled; %d opendir, %d handles, all closed", completed, cancelled, opendirs, handles)
	if handles < int(completed) {
		t.Fatalf("%d handles for %d complete listings", handles, completed)
	}
	if rd.Broken() {
		t.Fatal("the reader broke")
	}
}

// openFDsUnder counts the file descriptors, in every process on the
// machine, that refer to dir or anything under it.
func openFDsUnder(t *testing.T, dir string) int {
	t.Helper()
	n, err := sshdtest.OpenFDsUnder(dir)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDirReaderNoHandleLeakOpenSSH checks on the server's side: after many
// listings, complete and cancelled, OpenSSH's sftp server holds no
// directory open.
func TestDirReaderNoHandleLeakOpenSSH(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc: the server's open directories cannot be observed")
	}
	s, sc := openSSH(t)
	ld := filepath.Join(s.Root, "leak")
	rd := ld // remote paths are local ones
	for i, n := range []int{0, 3, 120, 250} {
		makeFiles(t, filepath.Join(ld, fmt.Sprint(i)), n)
	}
	// The observation works: a directory pkg/sftp holds open is seen.
	pc, err := sftp.NewClient(sc)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	f, err := pc.Open(rd + "/2")
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "the open directory to be seen", func() bool { return openFDsUnder(t, ld) == 1 })
	f.Close()
	poll(t, 10*time.Second, "the closed directory to be gone", func() bool { return openFDsUnder(t, ld) == 0 })

	conn := openConn(t, sc)
	timeouts := []time.Duration{0, 50 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond, 2 * time.Millisecond, -1}
	completed, cancelled := sshdtest.Churn(t, 30, timeouts, func(ctx context.Context, g, i int) error {
		_, err := conn.List(ctx, fmt.Sprintf("%s/%d", rd, (g*7+i)%4), nil)
		return err
	})
	t.Logf("%d complete, %d cancelled listings", completed, cancelled)
	if completed == 0 || cancelled == 0 {
		t.Fatalf("%d complete, %d cancelled listings: want both", completed, cancelled)
	}
	poll(t, 10*time.Second, "the server to hold no directory open", func() bool { return openFDsUnder(t, ld) == 0 })
	if conn.Broken() {
		t.Fatal("the reader broke")
	}
}
