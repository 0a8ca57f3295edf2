package sftpconn

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/zap"
	"golang.org/x/crypto/ssh"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/sftp3"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// invalidUTF8 is a name that is not UTF-8: it must pass through byte for byte.
const invalidUTF8 = "inv\xffalid\xfe"

// fillDir creates n entries in local directory dir: mostly files of
// different sizes, modes and mtimes, with a directory every 7th, a
// symbolic link every 11th (some dangling), a fifo, setuid/setgid/sticky
// bits. It returns the names.
func fillDir(t testing.TB, dir string, n int) []string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, n)
	for i := range n {
		name := fmt.Sprintf("e%04d", i)
		p := filepath.Join(dir, name)
		var err error
		switch {
		case i == 3:
			err = syscall.Mkfifo(p, 0o640)
		case i%7 == 1:
			err = os.Mkdir(p, 0o750)
			if err == nil && i%2 == 0 {
				err = os.Chmod(p, 0o777|os.ModeSticky)
			}
		case i%11 == 2:
			err = os.Symlink(fmt.Sprintf("e%04d", (i*5)%(n+3)), p)
		default:
			err = os.WriteFile(p, []byte(strings.Repeat("x", i%300)), 0o600|fs.FileMode(i%8)<<3)
			if err == nil && i%13 == 0 {
				err = os.Chmod(p, 0o755|os.ModeSetuid|os.ModeSetgid)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%11 != 2 {
			mt := time.Unix(int64(1_600_000_000+i*3607), 0)
			if err := os.Chtimes(p, mt.Add(-time.Hour), mt); err != nil {
				t.Fatal(err)
			}
		}
		names = append(names, name)
	}
	return names
}

// sameInfos fails unless got and want describe the same entries in the same
// order: names, sizes, modes, mtimes, and the *sftp.FileStat behind them.
func sameInfos(t *testing.T, what string, got, want []os.FileInfo) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Name() != w.Name() || g.Size() != w.Size() || g.Mode() != w.Mode() || !g.ModTime().Equal(w.ModTime()) || g.IsDir() != w.IsDir() {
			t.Fatalf("%s: entry %d = %q %d %v %v, want %q %d %v %v", what, i,
				g.Name(), g.Size(), g.Mode(), g.ModTime(), w.Name(), w.Size(), w.Mode(), w.ModTime())
		}
		gs, ok1 := sftpAttrs(g)
		ws, ok2 := sftpAttrs(w)
		if !ok1 || !ok2 || gs.UID != ws.UID || gs.GID != ws.GID || gs.Atime != ws.Atime || gs.Mode != ws.Mode {
			t.Fatalf("%s: entry %q Sys = %+v, want %+v", what, g.Name(), g.Sys(), w.Sys())
		}
	}
}

// usesReader fails unless c lists through the pipelined reader.
func usesReader(t *testing.T, c *Client) {
	t.Helper()
	c.lister.mu.Lock()
	off := c.lister.off
	c.lister.mu.Unlock()
	if r := c.lister.cur.Load(); r == nil || r.Broken() || off != nil {
		t.Fatalf("the pipelined reader is not in use (off: %v)", off)
	}
}

func TestDirReaderMatchesPkgSFTP(t *testing.T) {
	for _, r := range servers(t) {
		t.Run(r.Name, func(t *testing.T) {
			rd, ld := caseDir(t, r)
			ctx := context.Background()
			sizes := []int{0, 1, 99, 100, 101, 250, 1000}
			for _, n := range sizes {
				fillDir(t, filepath.Join(ld, fmt.Sprint(n)), n)
			}
			hostile := append([]string{invalidUTF8}, hostileNames...)
			for _, n := range hostile {
				writeLocal(t, filepath.Join(ld, "hostile", n), n)
			}
			for _, dir := range append([]string{"hostile"}, strings.Fields(fmt.Sprint(sizes))...) {
				dir = strings.Trim(dir, "[]")
				full := rd + "/" + dir
				got, err := r.C.readDir(ctx, full)
				if err != nil {
					t.Fatalf("readDir %s: %v", dir, err)
				}
				want, err := r.C.readDirSFTP(ctx, full)
				if err != nil {
					t.Fatalf("pkg/sftp ReadDir %s: %v", dir, err)
				}
				sameInfos(t, dir, got, want)
				local, err := os.ReadDir(filepath.Join(ld, dir))
				if err != nil || len(local) != len(got) {
					t.Fatalf("%s: %d entries listed, %d on disk (%v)", dir, len(got), len(local), err)
				}
				if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Name() < got[j].Name() }) {
					t.Fatalf("%s: not sorted by name", dir)
				}
			}
			got, err := r.C.ListDir(ctx, rd+"/hostile")
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(hostile)
			if !equalStrings(got, hostile) {
				t.Fatalf("hostile names:\n got %q\nwant %q", got, hostile)
			}
			usesReader(t, r.C)
			assertNoPWNED(t, r.Local, t.TempDir(), ".")
		})
	}
}

// classes is how the rest of the package classifies a listing error.
func classes(err error) string {
	return fmt.Sprintf("notexist=%v permission=%v answered=%v conn=%v",
		IsNotExist(err), IsPermission(err), serverAnswered(err), IsConnectionError(err))
}

func TestDirReaderErrors(t *testing.T) {
	for _, r := range servers(t) {
		t.Run(r.Name, func(t *testing.T) {
			rd, ld := caseDir(t, r)
			ctx := context.Background()
			writeLocal(t, filepath.Join(ld, "file"), "not a dir")
			for _, tc := range []struct{ name, path, want string }{
				{"missing", rd + "/missing", "notexist=true permission=false answered=true conn=false"},
				{"missing parent", rd + "/missing/deeper", "notexist=true permission=false answered=true conn=false"},
				{"a file", rd + "/file", ""}, // whatever pkg/sftp says
			} {
				_, err := r.C.ReadDir(ctx, tc.path)
				if err == nil {
					t.Fatalf("%s: no error", tc.name)
				}
				_, perr := r.C.readDirSFTP(ctx, tc.path)
				if perr == nil {
					t.Fatalf("%s: pkg/sftp gave no error", tc.name)
				}
				if classes(err) != classes(perr) {
					t.Errorf("%s: %v classified %s; pkg/sftp's %v: %s", tc.name, err, classes(err), perr, classes(perr))
				}
				if tc.want != "" && classes(err) != tc.want {
					t.Errorf("%s: %v classified %s, want %s", tc.name, err, classes(err), tc.want)
				}
				if !strings.Contains(err.Error(), tc.path) {
					t.Errorf("%s: %v does not name the path", tc.name, err)
				}
			}
			usesReader(t, r.C)
		})
	}
}

func TestDirReaderStatusFromServer(t *testing.T) {
	r := inProcessFS(t)
	writeLocal(t, filepath.Join(r.Local, "locked", "f"), "")
	writeLocal(t, filepath.Join(r.Local, "broken", "f"), "")
	r.Srv.FailPath("/locked", fs.ErrPermission)
	r.Srv.FailPath("/broken", errors.New("disk on fire"))
	ctx := context.Background()
	_, err := r.C.ReadDir(ctx, "/locked")
	if got, want := classes(err), "notexist=false permission=true answered=true conn=false"; got != want {
		t.Errorf("refused: %v: %s, want %s", err, got, want)
	}
	_, err = r.C.ReadDir(ctx, "/broken")
	if got, want := classes(err), "notexist=false permission=false answered=true conn=false"; got != want {
		t.Errorf("failure: %v: %s, want %s", err, got, want)
	}
	if code, ok := statusCode(err); !ok || code != uint32(sftp.ErrSSHFxFailure) || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("failure: %v (%T) does not carry SSH_FX_FAILURE and the server's message", err, err)
	}
	usesReader(t, r.C)
}

// TestDirReaderPermissionOpenSSH logs in as an unprivileged user (root
// reads any directory) and lists a directory it may not read.
func TestDirReaderPermissionOpenSSH(t *testing.T) {
	s, c := dialUnprivileged(t)
	locked := filepath.Join(s.Root, "locked")
	writeLocal(t, filepath.Join(locked, "f"), "")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	ctx := context.Background()
	_, err := c.ReadDir(ctx, locked)
	if got, want := classes(err), "notexist=false permission=true answered=true conn=false"; got != want {
		t.Fatalf("%v: %s, want %s", err, got, want)
	}
	_, perr := c.readDirSFTP(ctx, locked)
	if classes(perr) != classes(err) {
		t.Errorf("pkg/sftp: %v: %s", perr, classes(perr))
	}
	usesReader(t, c)
}

// TestDirReaderFallback: a Client without an SSH connection lists with
// pkg/sftp.
func TestDirReaderFallback(t *testing.T) {
	r := inProcessFS(t)
	fillDir(t, filepath.Join(r.Local, "d"), 150)
	bare := NewClient(nil, r.C.SFTP())
	got, err := bare.ReadDir(context.Background(), "/d")
	if err != nil || len(got) != 150 {
		t.Fatalf("ReadDir over pkg/sftp: %d entries, %v", len(got), err)
	}
	if bare.lister.cur.Load() != nil {
		t.Fatal("a reader was opened without an SSH connection")
	}
	want, err := r.C.ReadDir(context.Background(), "/d")
	if err != nil {
		t.Fatal(err)
	}
	sameInfos(t, "fallback", got, want)
}

// TestDirReaderDropInPool cuts the connection while a listing is in
// flight: the listing fails promptly with a connection error, the pool
// drops the connection, and the next listing works on a new one.
func TestDirReaderDropInPool(t *testing.T) {
	s, root := startInProcess(t)
	fillDir(t, filepath.Join(root, "big"), 1000) // 13 requests or so per listing
	p := inProcessPool(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	want, err := p.ReadDir(ctx, "/big")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 2, 3, 6} {
		s.DropAfter(n)
		_, err := p.ReadDir(ctx, "/big")
		var ce *ConnectionError
		if !IsConnectionError(err) || !errors.As(err, &ce) || ctx.Err() != nil {
			t.Fatalf("DropAfter(%d): %v, want a connection error the pool dropped", n, err)
		}
		got, err := p.ReadDir(ctx, "/big")
		if err != nil {
			t.Fatalf("after DropAfter(%d): %v", n, err)
		}
		sameInfos(t, "after the drop", got, want)
	}
}

// TestDirReaderKilledOpenSSH cuts the TCP connection to a real sshd while
// listings are in flight through a pool.
func TestDirReaderKilledOpenSSH(t *testing.T) {
	s := sshdtest.Start(t)
	fillDir(t, filepath.Join(s.Root, "big"), 1000)
	cfg, proxy := proxied(t, s)
	cfg.ConnectTimeout = 2 * time.Second // a listing that starts after the cut redials into the frozen proxy
	pool := NewPool(cfg, zap.NewNop(), nil)
	defer pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := filepath.Join(s.Root, "big")
	if _, err := pool.ReadDir(ctx, dir); err != nil { // opens the reader
		t.Fatal(err)
	}
	proxy.Freeze()
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			_, err := pool.ReadDir(ctx, dir)
			errs <- err
		}()
	}
	proxy.CloseConns()
	for range cap(errs) {
		if err := <-errs; !IsConnectionError(err) || ctx.Err() != nil {
			t.Errorf("listing through a cut connection: %v, want a connection error", err)
		}
	}
	proxy.Thaw()
	// Dials during the freeze failed; the pool may hold off for its backoff.
	poll(t, 30*time.Second, "a listing on a new connection", func() bool {
		infos, err := pool.ReadDir(ctx, dir)
		return err == nil && len(infos) == 1000
	})
}

func TestDirReaderConcurrent(t *testing.T) {
	for _, r := range servers(t) {
		t.Run(r.Name, func(t *testing.T) {
			rd, ld := caseDir(t, r)
			sizes := []int{0, 5, 100, 101, 333}
			want := map[int][]os.FileInfo{}
			for _, n := range sizes {
				fillDir(t, filepath.Join(ld, fmt.Sprint(n)), n)
				infos, err := r.C.readDirSFTP(context.Background(), fmt.Sprintf("%s/%d", rd, n))
				if err != nil {
					t.Fatal(err)
				}
				want[n] = infos
			}
			var wg sync.WaitGroup
			for g := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 12 {
						n := sizes[(g+i)%len(sizes)]
						got, err := r.C.ReadDir(context.Background(), fmt.Sprintf("%s/%d", rd, n))
						if err != nil {
							t.Errorf("goroutine %d: %v", g, err)
							return
						}
						if len(got) != len(want[n]) {
							t.Errorf("goroutine %d: %d entries in %d", g, len(got), n)
							return
						}
						for k := range got {
							if got[k].Name() != want[n][k].Name() || got[k].Size() != want[n][k].Size() {
								t.Errorf("goroutine %d: entry %d of %d: %q, want %q", g, k, n, got[k].Name(), want[n][k].Name())
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			usesReader(t, r.C)
		})
	}
}

// refusingSSH is an SSH server that lets anyone in and then refuses what
// the directory reader asks for: session channels (refuseChannel) or the
// sftp subsystem. It counts the channels asked for.
type refusingSSH struct {
	addr    string
	opened  atomic.Int64
	hostKey ssh.PublicKey
}

func startRefusingSSH(t *testing.T, refuseChannel bool) *refusingSSH {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &refusingSSH{addr: l.Addr().String(), hostKey: signer.PublicKey()}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
				if err != nil {
					return
				}
				go ssh.DiscardRequests(reqs)
				for newCh := range chans {
					s.opened.Add(1)
					if refuseChannel {
						newCh.Reject(ssh.Prohibited, "no sessions here")
						continue
					}
					ch, creqs, err := newCh.Accept()
					if err != nil {
						continue
					}
					go func() {
						defer ch.Close()
						for req := range creqs {
							req.Reply(false, nil) // no subsystem, no exec
						}
					}()
				}
			}()
		}
	}()
	return s
}

// TestDirReaderRefusedFallsBack: when the server refuses the reader's
// channel or its sftp subsystem, listings go through pkg/sftp, and the
// refusal is remembered instead of asked again per listing.
func TestDirReaderRefusedFallsBack(t *testing.T) {
	r := inProcessFS(t)
	fillDir(t, filepath.Join(r.Local, "d"), 120)
	want, err := r.C.ReadDir(context.Background(), "/d")
	if err != nil {
		t.Fatal(err)
	}
	for _, refuseChannel := range []bool{true, false} {
		t.Run(fmt.Sprintf("refuse channel=%v", refuseChannel), func(t *testing.T) {
			srv := startRefusingSSH(t, refuseChannel)
			sshc, err := ssh.Dial("tcp", srv.addr, &ssh.ClientConfig{User: "u", HostKeyCallback: ssh.FixedHostKey(srv.hostKey), Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer sshc.Close()
			// The reader would open on sshc; pkg/sftp talks to the real server.
			c := NewClient(sshc, r.C.SFTP())
			for range 5 {
				got, err := c.ReadDir(context.Background(), "/d")
				if err != nil {
					t.Fatalf("ReadDir: %v", err)
				}
				sameInfos(t, "fallback", got, want)
			}
			c.lister.mu.Lock()
			off := c.lister.off
			c.lister.mu.Unlock()
			if !errors.Is(off, sftp3.ErrUnavailable) || c.lister.cur.Load() != nil {
				t.Fatalf("reader state: off=%v", off)
			}
			if n := srv.opened.Load(); n != 1 {
				t.Fatalf("%d channels asked for in 5 listings, want 1", n)
			}
		})
	}
}

// dialUnprivileged starts an sshd that logs the client in as an
// unprivileged user with a password (root reads anything, so permission
// tests need this) and dials it.
func dialUnprivileged(t *testing.T) (*sshdtest.Server, *Client) {
	t.Helper()
	s := sshdtest.Start(t, sshdtest.WithPassword())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, HostConfig{Name: "sshd", Address: s.Addr, User: s.User, Password: s.Password,
		HostKeyFingerprint: s.HostKeyFingerprint}, zap.NewNop())
	if err != nil {
		t.Fatalf("Dial: %v\n%s", err, s.Log())
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}
