package sftpserver

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/ssh"
)

const (
	testUser = "watcher"
	testPass = "s3cret pass"
)

func startTest(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	if opts.User == "" {
		opts.User = testUser
	}
	if opts.Password == "" && len(opts.AuthorizedKeys) == 0 {
		opts.Password = testPass
	}
	opts.Logger = zaptest.NewLogger(t)
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, opts.Root
}

func dialSSH(t *testing.T, s *Server, auth ssh.AuthMethod) (*ssh.Client, error) {
	t.Helper()
	return ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User:            testUser,
		Auth:            []ssh.AuthMethod{auth},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey()),
		Timeout:         10 * time.Second,
	})
}

func connect(t *testing.T, s *Server) *sftp.Client {
	t.Helper()
	sc, err := dialSSH(t, s, ssh.Password(testPass))
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	c, err := sftp.NewClient(sc)
	if err != nil {
		sc.Close()
		t.Fatalf("sftp client: %v", err)
	}
	t.Cleanup(func() { c.Close(); sc.Close() })
	return c
}

func TestFileOperationsRoundTrip(t *testing.T) {
	s, root := startTest(t, Options{})
	c := connect(t, s)

	if err := c.Mkdir("/dir"); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	name := "/dir/we ird\n$(touch PWNED) ü.txt"
	f, err := c.Create(name)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB, several packets
	if _, err := f.Write(payload); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	onDisk, err := os.ReadFile(filepath.Join(root, "dir", "we ird\n$(touch PWNED) ü.txt"))
	if err != nil || !bytes.Equal(onDisk, payload) {
		t.Fatalf("file on disk: err=%v equal=%v", err, bytes.Equal(onDisk, payload))
	}
	if _, err := os.Stat(filepath.Join(root, "dir", "PWNED")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("hostile name was interpreted: %v", err)
	}

	rf, err := c.Open(name)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var got bytes.Buffer
	if _, err := rf.WriteTo(&got); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	rf.Close()
	if !bytes.Equal(got.Bytes(), payload) {
		t.Fatalf("read back %d bytes, want %d", got.Len(), len(payload))
	}

	fi, err := c.Stat(name)
	if err != nil || fi.Size() != int64(len(payload)) || !fi.Mode().IsRegular() {
		t.Fatalf("Stat: %v %v", fi, err)
	}
	entries, err := c.ReadDir("/dir")
	if err != nil || len(entries) != 1 || entries[0].Name() != "we ird\n$(touch PWNED) ü.txt" || entries[0].Size() != int64(len(payload)) {
		t.Fatalf("ReadDir: %v %v", entries, err)
	}

	// setstat: chmod, mtime, truncate
	if err := c.Chmod(name, 0o600); err != nil {
		t.Fatalf("Chmod: %v", err)
	}
	if err := c.Truncate(name, 10); err != nil {
		t.Fatalf("Truncate: %v", err)
	}
	mt := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := c.Chtimes(name, mt, mt); err != nil {
		t.Fatalf("Chtimes: %v", err)
	}
	fi, err = c.Stat(name)
	if err != nil || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(mt) || fi.Size() != 10 {
		t.Fatalf("after setstat: mode=%v mtime=%v size=%d err=%v", fi.Mode(), fi.ModTime(), fi.Size(), err)
	}

	// symlink, readlink, lstat, realpath
	if err := c.Symlink("dir", "/link"); err != nil {
		t.Fatalf("Symlink: %v", err)
	}
	if tgt, err := c.ReadLink("/link"); err != nil || tgt != "dir" {
		t.Fatalf("ReadLink = %q, %v", tgt, err)
	}
	if li, err := c.Lstat("/link"); err != nil || li.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("Lstat: %v %v", li, err)
	}
	if si, err := c.Stat("/link"); err != nil || !si.IsDir() {
		t.Fatalf("Stat through link: %v %v", si, err)
	}
	if rp, err := c.RealPath("/link/../link/./"); err != nil || rp != "/dir" {
		t.Fatalf("RealPath = %q, %v", rp, err)
	}

	// rename does not replace; posix-rename does
	if err := c.Mkdir("/dir2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename("/dir2", "/dir"); err == nil {
		t.Fatal("Rename onto an existing path succeeded")
	}
	if _, ok := c.HasExtension("posix-rename@openssh.com"); !ok {
		t.Fatal("posix-rename@openssh.com not advertised")
	}
	wf, _ := c.Create("/other")
	wf.Write([]byte("x"))
	wf.Close()
	if err := c.PosixRename("/other", name); err != nil {
		t.Fatalf("PosixRename: %v", err)
	}
	if fi, err := c.Stat(name); err != nil || fi.Size() != 1 {
		t.Fatalf("after PosixRename: %v %v", fi, err)
	}
	if err := c.Rename(name, "/dir2/moved"); err != nil {
		t.Fatalf("Rename: %v", err)
	}

	// remove, rmdir and their type checks
	if err := c.RemoveDirectory("/dir2/moved"); err == nil {
		t.Fatal("rmdir on a file succeeded")
	}
	if err := c.Remove("/dir2/moved"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := c.RemoveDirectory("/dir2"); err != nil {
		t.Fatalf("RemoveDirectory: %v", err)
	}
	if _, err := c.Stat("/dir2"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat removed dir: %v, want ErrNotExist", err)
	}
}

func TestJail(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "served")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(base, "secret.txt")
	if err := os.WriteFile(secret, []byte("TOP SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(root, "abs-out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret.txt", filepath.Join(root, "rel-out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(root, "dir-out")); err != nil {
		t.Fatal(err)
	}
	s, _ := startTest(t, Options{Root: root})
	c := connect(t, s)

	for _, p := range []string{"/abs-out", "/rel-out", "../secret.txt", "/../secret.txt", "/dir-out/secret.txt"} {
		if f, err := c.Open(p); err == nil {
			b, _ := io.ReadAll(f)
			f.Close()
			t.Errorf("Open(%q) succeeded, read %q", p, b)
		}
		if fi, err := c.Stat(p); err == nil {
			t.Errorf("Stat(%q) succeeded: %v", p, fi.Size())
		}
	}
	if _, err := c.ReadDir("/dir-out"); err == nil {
		t.Error("ReadDir through a link to outside succeeded")
	}
	if f, err := c.Create("/dir-out/planted"); err == nil {
		f.Close()
		t.Error("Create through a link to outside succeeded")
	}
	if _, err := os.Stat(filepath.Join(base, "planted")); err == nil {
		t.Fatal("a file was written outside the root")
	}
	// The links themselves are visible as links.
	if li, err := c.Lstat("/abs-out"); err != nil || li.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(/abs-out) = %v, %v", li, err)
	}
	// The root's parent is the root.
	if rp, err := c.RealPath("/../.."); err != nil || rp != "/" {
		t.Errorf("RealPath(/../..) = %q, %v", rp, err)
	}
}

func TestFailPath(t *testing.T) {
	s, root := startTest(t, Options{})
	os.MkdirAll(filepath.Join(root, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(root, "a", "f"), []byte("x"), 0o644)
	c := connect(t, s)

	s.FailPath("a/b", os.ErrPermission) // relative names are taken from "/"
	if _, err := c.ReadDir("/a/b"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("ReadDir failed path: %v, want ErrPermission", err)
	}
	if _, err := c.Stat("/a/b"); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Stat failed path: %v, want ErrPermission", err)
	}
	if _, err := c.ReadDir("/a"); err != nil {
		t.Fatalf("ReadDir of another path: %v", err)
	}
	s.FailPath("/a/f", fs.ErrNotExist)
	if _, err := c.Open("/a/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open failed path: %v, want ErrNotExist", err)
	}
	s.FailPath("/a/f", errors.New("disk on fire"))
	var se *sftp.StatusError
	if _, err := c.Lstat("/a/f"); !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure {
		t.Fatalf("Lstat failed path: %v, want SSH_FX_FAILURE", err)
	}
	s.FailPath("/a/b", nil)
	s.FailPath("/a/f", nil)
	if _, err := c.ReadDir("/a/b"); err != nil {
		t.Fatalf("ReadDir after clearing: %v", err)
	}
	if _, err := c.Stat("/a/f"); err != nil {
		t.Fatalf("Stat after clearing: %v", err)
	}
}

func TestDropAfterAndRequests(t *testing.T) {
	s, _ := startTest(t, Options{})
	c := connect(t, s)
	before := s.Requests()
	for range 5 {
		if _, err := c.Stat("/"); err != nil {
			t.Fatalf("Stat: %v", err)
		}
	}
	if got := s.Requests() - before; got != 5 {
		t.Fatalf("Requests grew by %d, want 5", got)
	}

	s.DropAfter(3)
	for i := range 3 {
		if _, err := c.Stat("/"); err != nil {
			t.Fatalf("Stat %d before drop: %v", i, err)
		}
	}
	if _, err := c.Stat("/"); err == nil {
		t.Fatal("request after DropAfter(3) was answered")
	}
	if _, err := c.Stat("/"); err == nil {
		t.Fatal("connection still usable after the drop")
	}
	// One-shot: a new connection works.
	c2 := connect(t, s)
	for range 5 {
		if _, err := c2.Stat("/"); err != nil {
			t.Fatalf("new connection after drop: %v", err)
		}
	}
}

func TestLatencyOverlapsConcurrentRequests(t *testing.T) {
	s, _ := startTest(t, Options{})
	c := connect(t, s)
	const lat = 200 * time.Millisecond
	const n = 32
	s.SetLatency(lat)

	start := time.Now()
	if _, err := c.Stat("/"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < lat {
		t.Fatalf("one request took %v, want ≥ %v", d, lat)
	}

	start = time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			if _, err := c.Stat("/"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Serialized delays would take n*lat = 6.4s; overlapping ones about lat.
	if d := time.Since(start); d >= n*lat/4 {
		t.Fatalf("%d concurrent requests took %v: latency is serializing them", n, d)
	}
	s.SetLatency(0)
}

func TestAuthentication(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := ssh.NewSignerFromKey(otherPriv)

	s, _ := startTest(t, Options{AuthorizedKeys: []ssh.PublicKey{signer.PublicKey()}})
	if sc, err := dialSSH(t, s, ssh.PublicKeys(signer)); err != nil {
		t.Fatalf("authorized key rejected: %v", err)
	} else {
		sc.Close()
	}
	if sc, err := dialSSH(t, s, ssh.PublicKeys(other)); err == nil {
		sc.Close()
		t.Fatal("unauthorized key accepted")
	}
	if sc, err := dialSSH(t, s, ssh.Password(testPass)); err == nil {
		sc.Close()
		t.Fatal("password accepted by a key-only server")
	}

	sp, _ := startTest(t, Options{})
	if sc, err := dialSSH(t, sp, ssh.Password("wrong")); err == nil {
		sc.Close()
		t.Fatal("wrong password accepted")
	}
	if len(sp.Fingerprint()) < len("SHA256:") || sp.Fingerprint()[:7] != "SHA256:" {
		t.Fatalf("Fingerprint = %q", sp.Fingerprint())
	}
	if _, err := Start(Options{Root: t.TempDir()}); err == nil {
		t.Fatal("Start without authentication succeeded")
	}
	if _, err := Start(Options{Root: filepath.Join(t.TempDir(), "missing"), Password: "x"}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Start with a missing root: %v", err)
	}
}

func TestExecRefusedAndCloseEndsConnections(t *testing.T) {
	root := t.TempDir()
	s, err := Start(Options{Root: root, Password: testPass})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := dialSSH(t, s, ssh.Password(testPass))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sess, err := sc.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sess.CombinedOutput("touch " + filepath.Join(root, "PWNED")); err == nil {
		t.Fatalf("exec accepted: %q", out)
	}
	c, err := sftp.NewClient(sc)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	if ents, err := c.ReadDir("/"); err == nil {
		for _, e := range ents {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) != 0 {
		t.Fatalf("root listing = %v, want empty (exec must not have run)", names)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.Stat("/"); err == nil {
		t.Fatal("request answered after Close")
	}
}

// TestShortReads: with the cap set, a 32 KiB read takes 33 READs (pkg/sftp
// asks again after each short DATA reply) and still yields the content;
// lifting the cap restores one READ per 32 KiB.
func TestShortReads(t *testing.T) {
	s, root := startTest(t, Options{})
	data := make([]byte, 100_000)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := connect(t, s)
	f, err := c.Open("/f")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 32<<10)
	for _, tc := range []struct{ limit, reads int }{{1000, 33}, {0, 1}, {32 << 10, 1}, {20_000, 2}} {
		s.ShortReads(tc.limit)
		before := s.Requests()
		if n, err := f.ReadAt(buf, 5); n != len(buf) || err != nil || !bytes.Equal(buf, data[5:5+len(buf)]) {
			t.Fatalf("ShortReads(%d): %d bytes, %v", tc.limit, n, err)
		}
		if got := s.Requests() - before; got != int64(tc.reads) {
			t.Fatalf("ShortReads(%d): %d READs for 32 KiB, want %d", tc.limit, got, tc.reads)
		}
	}
}

func TestFreezeHoldsRequestsUntilThaw(t *testing.T) {
	s, _ := startTest(t, Options{})
	sc, err := dialSSH(t, s, ssh.Password(testPass))
	if err != nil {
		t.Fatalf("ssh dial: %v", err)
	}
	c, err := sftp.NewClient(sc)
	if err != nil {
		t.Fatalf("sftp client: %v", err)
	}
	t.Cleanup(func() { c.Close(); sc.Close() })

	s.Freeze()
	answered := make(chan error, 1)
	go func() {
		_, err := c.Stat("/")
		answered <- err
	}()
	// The SSH transport still answers while SFTP is frozen.
	if _, _, err := sc.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatalf("keepalive while frozen: %v", err)
	}
	select {
	case err := <-answered:
		t.Fatalf("Stat answered while frozen: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	s.Thaw()
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("Stat after Thaw: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stat not answered after Thaw")
	}
}
